from celery import shared_task

from escalation import services as escalation_services


@shared_task(acks_late=True)
def message_respond(message_id: int) -> None:
    """Decide on a customer message and act; does nothing if it was decided already."""
    escalation_services.customer_message_handle(message_id=message_id)
