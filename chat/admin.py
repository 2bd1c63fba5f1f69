from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from chat import services
from chat.models import (
    Article,
    Contact,
    Conversation,
    ConversationEvent,
    ExampleQuestion,
    Message,
    PageVisit,
    Site,
    origin_normalise,
)


class OriginsField(forms.CharField):
    """Allowed origins, one per line, stored as browsers send them in the Origin header."""

    def to_python(self, value) -> str:
        origins: list[str] = []
        errors: list[forms.ValidationError] = []
        for line in (value or "").splitlines():
            if line.strip():
                try:
                    origins.append(origin_normalise(line))
                except forms.ValidationError as error:
                    errors.append(error)
        if errors:
            raise forms.ValidationError(errors)
        return "\n".join(dict.fromkeys(origins))


class SiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ["key", "name", "identity_secret", "allowed_origins", "product_names"]
        field_classes = {"allowed_origins": OriginsField}


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    form = SiteForm
    list_display = ["name", "key", "created_at"]
    readonly_fields = ["created_at"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        # Site names shape how the AI reads questions (product names are ignored).
        services.kb_changed()


class PagesField(forms.CharField):
    """The article's page paths, one per line in admin, a list in the database."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value) -> list[str]:
        lines = [line.strip() for line in (value or "").splitlines() if line.strip()]
        for line in lines:
            if not line.startswith("/"):
                raise forms.ValidationError(
                    _("%(line)s is not a path: paths start with /, such as /pricing."),
                    params={"line": line},
                )
        return lines


class ArticleForm(forms.ModelForm):
    pages = PagesField(
        required=False,
        label=_("Pages"),
        help_text=_("One URL path per line, such as /pricing. The AI prefers this article there."),
    )

    class Meta:
        model = Article
        fields = ["slug", "title", "team", "escalate", "pages", "body"]


class ExampleQuestionInline(admin.TabularInline):
    model = ExampleQuestion
    extra = 3
    fields = ["text", "origin"]
    readonly_fields = ["origin"]


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    form = ArticleForm
    list_display = ["title", "slug", "team", "escalate", "updated_at"]
    list_filter = ["team", "escalate"]
    search_fields = ["title", "slug", "body", "questions__text"]
    inlines = [ExampleQuestionInline]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        # The article and its questions are saved: tell every process to rebuild.
        services.kb_changed()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        services.kb_changed()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        services.kb_changed()


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["display_name", "email", "tier", "identity", "site", "last_seen_at"]
    list_filter = ["identity", "tier", "site"]
    search_fields = ["name", "email", "external_id"]
    readonly_fields = ["identity", "claimed", "created_at", "last_seen_at"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["seq", "author", "author_name", "body", "confidence", "intent", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PageVisitInline(admin.TabularInline):
    model = PageVisit
    extra = 0
    fields = ["path", "title", "referrer", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["public_id", "contact", "state", "team", "created_at"]
    list_filter = ["state", "team", "site"]
    search_fields = ["public_id", "contact__name", "contact__email"]
    readonly_fields = [
        "public_id",
        "site",
        "contact",
        "state",
        "team",
        "topic",
        "context",
        "last_seq",
        "created_at",
        "resolved_at",
    ]
    inlines = [PageVisitInline, MessageInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ConversationEvent)
class ConversationEventAdmin(admin.ModelAdmin):
    list_display = ["conversation", "kind", "created_at"]
    list_filter = ["kind"]
    readonly_fields = ["conversation", "kind", "data", "actor", "created_at"]
