from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.translation import gettext as _

from project.api import error_response
from project.text import NUL, has_nul


class RefuseNulMiddleware:
    """A NUL character in the address (path or query) is refused with a 400: it could
    reach a database lookup, which PostgreSQL would fail (project/text.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path or has_nul(dict(request.GET.lists())):
            message = _("The address contains a NUL character.")
            if request.path.startswith("/api/"):
                return error_response("invalid", message, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
