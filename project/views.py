from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from redis import Redis
from redis.exceptions import RedisError


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@require_GET
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers and the embedded runner: the database and Redis answer."""
    checks = {"database": True, "redis": True}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        checks["database"] = False
    try:
        Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except RedisError:
        checks["redis"] = False
    return JsonResponse(
        {"ok": all(checks.values()), **checks}, status=200 if all(checks.values()) else 503
    )
