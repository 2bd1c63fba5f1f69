from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from chat import selectors, services
from chat.models import Article, Site


def _site_or_404(site_key: str) -> Site:
    site = selectors.site_get(key=site_key)
    if site is None:
        raise Http404(_("No such site."))
    return site


def widget_strings() -> dict[str, str]:
    """Every string the widget shows, translated for the visitor's language."""
    return {
        "title": _("Chat with us"),
        "open": _("Open chat"),
        "close": _("Close chat"),
        "frame_title": _("Customer chat"),
        "unread_one": _("1 unread message"),
        "unread_many": _("%(count)s unread messages"),
        "you": _("You"),
        "assistant": _("Assistant"),
        "agent": _("Agent"),
        "system": _("Update"),
        "connecting": _("Connecting…"),
        "online": _("Connected"),
        "offline": _("Offline. Your messages will be sent when you are back online."),
        "reconnecting": _("Reconnecting…"),
        "sending": _("Sending…"),
        "sent": _("Sent"),
        "not_sent": _("Not sent"),
        "retry_later": _("Sending shortly…"),
        "ai_typing": _("The assistant is typing…"),
        "someone_typing": _("%(name)s is typing…"),
        "placeholder": _("Type your message…"),
        "input_label": _("Your message"),
        "send": _("Send"),
        "log_label": _("Conversation"),
        "empty": _("Ask us anything. We usually answer in seconds."),
        "sources": _("Source:"),
        "too_long": _("This message is too long."),
        "verified": _("Signed in"),
        "followup_label": _("Get the answer by email:"),
        "followup_placeholder": _("you@example.com"),
        "followup_send": _("Email me"),
        "rate_question": _("How did we do?"),
        "rate_comment": _("Anything to add? (optional)"),
        "rate_send": _("Send rating"),
        "rate_thanks": _("Thank you for your feedback!"),
    }


def _frame(request: HttpRequest, site: Site, **config: str) -> HttpResponse:
    response = render(
        request,
        "chat/widget/frame.html",
        {
            "site": site,
            "strings": widget_strings(),
            "config": {
                "site": site.key,
                "max_chars": settings.BATON_MAX_MESSAGE_CHARS,
                "socket_path": f"/ws/widget/{site.key}/",
                **config,
            },
        },
    )
    # Only the site's own pages may frame the chat; Baton's own pages always may.
    ancestors = " ".join(["'self'", *site.origins])
    response["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws: wss:; frame-ancestors {ancestors}; base-uri 'none'; "
        f"form-action 'self'"
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@xframe_options_exempt
def widget_frame(request: HttpRequest, site_key: str) -> HttpResponse:
    """The chat itself, served by Baton inside the host page's iframe."""
    return _frame(request, _site_or_404(site_key))


@require_GET
def conversation_resume(request: HttpRequest, site_key: str, token: str) -> HttpResponse:
    """The link in a reply email: the conversation again, full page, in this browser."""
    site = _site_or_404(site_key)
    resumed = services.conversation_resume(site=site, token=token)
    if resumed is None:
        return render(request, "chat/widget/link_expired.html", {"site": site}, status=410)
    conversation, visitor_token = resumed
    return _frame(request, site, token=visitor_token, conversation=str(conversation.public_id))


@require_GET
def widget_config(request: HttpRequest, site_key: str) -> JsonResponse:
    """What the loader script needs before it draws the launcher on the host page."""
    site = _site_or_404(site_key)
    origin = request.headers.get("Origin", "").rstrip("/")
    own_origin = request.build_absolute_uri("/").rstrip("/")
    allowed = not origin or origin == own_origin or origin in site.origins
    if not allowed:
        response = JsonResponse(
            {"error": _("This page's origin is not allowed for this site; add it in admin.")},
            status=403,
        )
        # Never kept: the page must work as soon as its origin is added in admin.
        add_never_cache_headers(response)
    else:
        response = JsonResponse(
            {
                "frame_url": request.build_absolute_uri(f"/widget/{site.key}/"),
                "strings": widget_strings(),
                "site_name": site.name,
            }
        )
        patch_cache_control(response, max_age=300)
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin, Accept-Language"
    return response


@require_GET
def article_page(request: HttpRequest, slug: str) -> HttpResponse:
    """A knowledge-base article as a public help page: where source links lead."""
    article = get_object_or_404(Article.objects.exclude(escalate=True), slug=slug)
    return render(request, "chat/article.html", {"article": article})
