from celery import shared_task

from agents import services


@shared_task
def presence_sweep() -> int:
    """Agents whose console stopped saying it is open are set away."""
    return services.presence_sweep()


@shared_task
def alert_check() -> bool:
    """Supervisors hear at once when handoffs spike."""
    return services.alert_check() is not None
