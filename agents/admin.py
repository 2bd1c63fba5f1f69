from django.contrib import admin, messages
from django.utils.translation import gettext as _

from agents import services
from agents.models import Agent, Alert, ApiToken, CannedResponse, Rating, Resolution


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["display_name", "presence", "capacity", "is_supervisor", "last_seen_at"]
    list_filter = ["presence", "is_supervisor", "teams"]
    filter_horizontal = ["teams"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "user__email"]


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["shortcut", "title"]
    search_fields = ["shortcut", "title", "body"]


@admin.register(Resolution)
class ResolutionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "conversation", "kind", "ai_could_have", "agent"]
    list_filter = ["kind", "ai_could_have"]
    readonly_fields = [f.name for f in Resolution._meta.fields]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["created_at", "conversation", "score", "with_human"]
    list_filter = ["score", "with_human"]
    readonly_fields = [f.name for f in Rating._meta.fields]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "text"]
    readonly_fields = [f.name for f in Alert._meta.fields]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens for the REST API. The key is shown once, right after it is created."""

    list_display = ["name", "user", "scope", "prefix", "created_at", "last_used_at", "revoked"]
    list_filter = ["scope", "revoked"]
    fields = ["name", "user", "scope", "revoked", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = services.api_token_issue(name=obj.name, user=obj.user, scope=obj.scope)
        obj.pk = token.pk
        obj.prefix = token.prefix
        obj.digest = token.digest
        messages.warning(
            request,
            _("The token's key, shown only now: %(key)s (copy it to where it will be used).")
            % {"key": key},
        )
