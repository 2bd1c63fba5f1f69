import logging
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

logger = logging.getLogger(__name__)

app = Celery("baton")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def warm_up(sender=None, **kwargs) -> None:
    """Build the knowledge-base index before the first customer waits for it (in workers
    that answer customers: a notifications worker never needs it)."""
    from django.conf import settings

    from chat.responder.local import get_index

    consuming = sender.app.amqp.queues.consume_from if sender is not None else None
    if consuming and settings.CELERY_TASK_DEFAULT_QUEUE not in consuming:
        return

    try:
        get_index()
    except Exception:
        # The first message will try again; a worker must not die for a cold cache.
        logger.exception("could not build the knowledge-base index at start")
