"""Celery queue names, all derived from the one CELERY_QUEUE names: the settings route
tasks by them and the process runner starts a worker for each."""

DEFAULT_QUEUE = "baton"


def notifications_queue(queue: str) -> str:
    """Slack and webhook deliveries: they wait on other people's servers."""
    return f"{queue}-notifications"
