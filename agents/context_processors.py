import datetime as dt

from django.http import HttpRequest
from django.utils import timezone

from agents.models import Alert


def alerts(request: HttpRequest) -> dict:
    """The last hour's alerts, for the banner on console pages (signed-in users only)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    since = timezone.now() - dt.timedelta(hours=1)
    return {
        "recent_alerts": Alert.objects.filter(created_at__gte=since).order_by("-created_at")[:3]
    }
