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
def warm_up(**kwargs) -> None:
    """Build the knowledge-base index before the first customer waits for it."""
    from chat.responder.local import get_index

    try:
        get_index()
    except Exception:
        # The first message will try again; a worker must not die for a cold cache.
        logger.exception("could not build the knowledge-base index at start")
