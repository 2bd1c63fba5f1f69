from django import template
from django.utils.translation import gettext as _

from escalation.estimates import wait_in_words

register = template.Library()


@register.filter
def wait_words(seconds: int | None) -> str:
    return wait_in_words(int(seconds)) if seconds is not None else ""


@register.simple_tag
def console_strings() -> dict[str, str]:
    """Strings the console's script shows, translated."""
    return {
        "new_waiting": _("A customer is waiting"),
        "new_waiting_body": _("%(team)s: %(reason)s"),
        "assigned": _("A conversation was given to you"),
        "customer_typing": _("The customer is typing…"),
        "sound_on": _("Sound on"),
        "sound_off": _("Sound off"),
        "reconnecting": _("Reconnecting…"),
        "title": _("Console"),
    }


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


@register.filter
def score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@register.filter
def duration(seconds: float | None) -> str:
    """12 s, 3 min 05 s, 1 h 20 min."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)d min %(s)02d s") % {"m": minutes, "s": rest}
    return _("%(h)d h %(m)02d min") % {"h": minutes // 60, "m": minutes % 60}
