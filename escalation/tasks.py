import smtplib

from celery import shared_task

from escalation import notifications, services
from escalation.models import Team


@shared_task(bind=True, max_retries=8)
def delivery_send(self, delivery_id: int) -> None:
    """Send one Slack or webhook notification; does nothing if it was sent already.

    A failed attempt is tried again later, each time after a longer wait (10 to 20 minutes
    for all eight retries). The waits are ours, not Celery's retry_backoff: its full jitter
    may retry at once, or sooner than the time before.
    """
    try:
        notifications.deliver(delivery_id=delivery_id)
    except notifications.DeliveryFailed as error:
        wait = notifications.retry_delay_seconds(retries=self.request.retries)
        raise self.retry(exc=error, countdown=wait) from error


@shared_task
def sla_sweep() -> int:
    return services.sla_sweep()


@shared_task
def queues_refresh() -> int:
    """Every waiting customer hears of their place and wait as the queue moves."""
    told = 0
    for team in Team.objects.filter(handoffs__status="waiting").distinct():
        services.team_dispatch(team=team)
        told += services.team_queue_refresh(team=team)
    return told


@shared_task
def team_queue_refresh(team_id: int) -> int:
    services.queue_refresh_started(team_id=team_id)
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return 0
    services.team_dispatch(team=team)
    return services.team_queue_refresh(team=team)


@shared_task
def idle_sweep() -> int:
    return services.idle_sweep()


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=10,
)
def reply_email_send(message_id: int) -> bool:
    """Email an agent's reply to a customer who left; sends nothing twice."""
    return services.reply_email_send(message_id=message_id)
