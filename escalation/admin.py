from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from escalation.models import (
    BusinessHours,
    Decision,
    Delivery,
    Handoff,
    Holiday,
    NotificationChannel,
    ReplyEmail,
    Team,
    Trigger,
)
from escalation.simulate import simulate


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "sla_seconds", "timezone"]
    inlines = [BusinessHoursInline]
    search_fields = ["name", "slug"]

    def get_readonly_fields(self, request, obj=None):
        # The slug is the team's id in knowledge-base files, the API and every process's
        # cached rules; a renamed team keeps it (its name is free to change).
        return ["slug"] if obj is not None else []


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ["date", "name", "team"]
    list_filter = ["team"]


class TryForm(forms.Form):
    earlier = forms.CharField(
        label=_("Earlier messages"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Optional: the customer's earlier messages, one per line."),
    )
    message = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 2}))
    tier = forms.CharField(
        label=_("Verified tier"), required=False, help_text=_("Such as pro, enterprise, vip.")
    )
    attributes = forms.CharField(
        label=_("Verified attributes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional: one key=value per line, such as plan=scale."),
    )
    page = forms.CharField(
        label=_("Page"), required=False, initial="/", help_text=_("The URL path, such as /pricing.")
    )

    def clean_attributes(self) -> dict[str, str]:
        attributes = {}
        for number, line in enumerate(self.cleaned_data["attributes"].splitlines(), start=1):
            if not line.strip():
                continue
            key, equals, value = line.partition("=")
            if not equals or not key.strip():
                raise forms.ValidationError(
                    _("Line %(number)d is not key=value.") % {"number": number}
                )
            attributes[key.strip()] = value.strip()
        return attributes

    def clean_page(self) -> str:
        page = self.cleaned_data["page"].strip() or "/"
        if not page.startswith("/"):
            raise forms.ValidationError(_("A page is a path that starts with /."))
        return page


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "order", "enabled", "team", "priority_boost", "updated_at"]
    list_editable = ["order", "enabled"]
    list_display_links = ["name"]
    list_filter = ["kind", "team", "enabled"]
    search_fields = ["name", "phrases", "values"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled", "order"]}),
        (_("What happens"), {"fields": ["team", "priority_boost", "reason", "customer_text"]}),
        (
            _("When it fires"),
            {
                "fields": ["phrases", "threshold", "trend_threshold", "count", "values"],
                "description": _("Each kind uses some of these; the help under each says which."),
            },
        ),
    ]
    change_list_template = "admin/escalation/trigger/change_list.html"

    def get_urls(self):
        return [
            path("try/", self.admin_site.admin_view(self.try_view), name="escalation_trigger_try"),
            *super().get_urls(),
        ]

    def try_view(self, request: HttpRequest) -> HttpResponse:
        """Type a message and see which rule fires, and why."""
        form = TryForm(request.POST or None)
        steps = None
        if request.method == "POST" and form.is_valid():
            earlier = [line.strip() for line in form.cleaned_data["earlier"].splitlines()]
            steps = simulate(
                messages=[*filter(None, earlier), form.cleaned_data["message"].strip()],
                tier=form.cleaned_data["tier"].strip().lower(),
                attributes=form.cleaned_data["attributes"],
                page_path=form.cleaned_data["page"],
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Try the triggers"),
            "form": form,
            "steps": steps,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/escalation/trigger/try.html", context)


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "reason", "team", "trigger", "intent", "confidence"]
    list_filter = ["action", "reason", "team", "trigger"]
    search_fields = ["message__body", "explanation"]
    readonly_fields = [f.name for f in Decision._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    list_display = ["queued_at", "team", "status", "reason", "priority", "agent", "sla_misses"]
    list_filter = ["status", "team", "reason", "offline"]
    readonly_fields = [f.name for f in Handoff._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "enabled"]
    filter_horizontal = ["teams"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "channel", "event", "attempts", "delivered_at", "last_error"]
    list_filter = ["channel", "event"]
    exclude = ["attempt_log"]
    readonly_fields = [f.name for f in Delivery._meta.fields if f.name != "attempt_log"] + [
        "attempt_history"
    ]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("attempt history"))
    def attempt_history(self, delivery: Delivery) -> str:
        """One line per attempt, oldest first: when, and what the endpoint said."""
        lines = []
        for attempt in delivery.attempt_log:
            at = parse_datetime(attempt.get("at", ""))
            when = date_format(timezone.localtime(at), "DATETIME_FORMAT") if at else "?"
            lines.append(f"{when}: {attempt.get('outcome', '')}")
        return "\n".join(lines) or "-"


@admin.register(ReplyEmail)
class ReplyEmailAdmin(admin.ModelAdmin):
    """Agents' replies emailed to customers who had left: what was sent, and what failed."""

    list_display = ["message", "to", "sent_at", "attempts", "last_error"]
    list_filter = ["sent_at"]
    readonly_fields = [f.name for f in ReplyEmail._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
