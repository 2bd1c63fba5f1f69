"""Markdown for answers, rendered on the server and sanitised twice.

markdown-it runs with raw HTML disabled (any ``<script>`` typed by an author comes out as
text), and nh3 then keeps only an allow-list of tags and attributes, so no author, AI,
agent or article, can put executable HTML in front of a customer.
"""

import nh3
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})

_ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "a",
    "blockquote",
    "h3",
    "h4",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}


def render_markdown(text: str) -> SafeString:
    html = _markdown.render(text)
    clean = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    return mark_safe(clean)  # noqa: S308 - nh3 output is sanitised


def render_plain(text: str) -> SafeString:
    """Customer text: shown exactly as typed, escaped, with its line breaks."""
    return mark_safe(linebreaks(escape(text)))  # noqa: S308 - escaped on the line before
