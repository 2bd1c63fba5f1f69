from django import template
from django.utils.safestring import SafeString

from chat.markdown import render_markdown, render_plain

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return render_markdown(text)


@register.filter
def plaintext(text: str) -> SafeString:
    return render_plain(text)
