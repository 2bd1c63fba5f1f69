"""What every API endpoint shares: token authentication, scopes, paging, throttling and
one error shape. Docs: docs/api.md."""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse, QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, parsers, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from agents.models import ApiToken
from project.text import has_nul


class TokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer baton_<prefix>_<secret>`` (``Token`` works too)."""

    keywords = (b"bearer", b"token")

    def authenticate(self, request: Request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as: Bearer <token>."))
        key = parts[1].decode("latin-1")
        pieces = key.split("_", 2)
        if len(pieces) != 3 or pieces[0] != "baton":
            raise exceptions.AuthenticationFailed(_("That is not a Baton API token."))
        token = (
            ApiToken.objects.select_related("user").filter(prefix=pieces[1], revoked=False).first()
        )
        if token is None or not token.matches(pieces[2]) or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The API token is unknown or revoked."))
        if token.last_used_at is None or (timezone.now() - token.last_used_at).seconds > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="baton"'


class _RefusesNul:
    """A body with a NUL character anywhere is refused (project/text.py)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            parsed = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # A few KB of brackets reach Python's recursion limit while parsing.
            raise exceptions.ParseError(_("The request is nested too deeply.")) from None
        # Multipart bodies come as data and files; forms as a QueryDict of lists.
        data = getattr(parsed, "data", parsed)
        if has_nul(dict(data.lists()) if isinstance(data, QueryDict) else data):
            raise exceptions.ParseError(
                _("The request contains a NUL character, which Baton cannot store.")
            )
        return parsed


class JSONParser(_RefusesNul, parsers.JSONParser):
    pass


class FormParser(_RefusesNul, parsers.FormParser):
    pass


class MultiPartParser(_RefusesNul, parsers.MultiPartParser):
    pass


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "project.api.TokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "baton_<prefix>_<secret>"}


class TokenScope(permissions.BasePermission):
    """Read-only tokens may only read; the token's user's own permissions apply as well."""

    message = _("This token is read-only.")

    def has_permission(self, request: Request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        return request.method in permissions.SAFE_METHODS or token.scope == ApiToken.Scope.WRITE


class ModelPermissions(permissions.DjangoModelPermissions):
    """The token's user needs the model's Django permission, reading included."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per token; over the limit the answer is 429 with Retry-After."""

    scope = "token"

    def get_rate(self) -> str:
        return settings.BATON_API_RATE

    def get_cache_key(self, request: Request, view) -> str | None:
        token = request.auth
        if isinstance(token, ApiToken):
            return self.cache_format % {"scope": self.scope, "ident": token.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _message(detail: Any) -> str:
    if isinstance(detail, list):
        return " ".join(_message(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_message(v)}" for k, v in detail.items())
    return str(detail)


def errors(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error as {"error": {"code", "message", "fields"?}}."""
    # Imported here: DRF's views module imports this module's authentication class.
    from rest_framework.views import exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = getattr(exc, "detail", response.data)
    body: dict[str, Any] = {
        "code": getattr(exc, "default_code", "error"),
        "message": _message(detail),
    }
    if isinstance(exc, exceptions.ValidationError):
        body["code"] = "invalid"
        body["message"] = _("Some fields are not valid.")
        body["fields"] = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    if isinstance(exc, exceptions.Throttled):
        body["retry_after"] = exc.wait and round(exc.wait)
    response.data = {"error": body}
    return response


def error_response(code: str, message: str, *, status: int) -> JsonResponse:
    """An error in the API's shape, for answers given before any API view runs."""
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Unknown API paths answer in the API's own error shape."""
    return error_response("not_found", _("There is no such API endpoint."), status=404)


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": True},
                "retry_after": {"type": ["integer", "null"]},
            },
        }
    },
}
ERRORS = {
    "400": "The request is not valid; fields says which.",
    "401": "No valid API token.",
    "403": "The token may not do this.",
    "404": "No such object (or page).",
    "405": "Method not allowed here.",
    "429": "Too many requests; see Retry-After.",
}


def document_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular hook: every operation may answer with the shared error shape."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
