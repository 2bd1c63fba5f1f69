from html.parser import HTMLParser

import pytest

from chat import services
from chat.models import Article

pytestmark = pytest.mark.django_db


def test_the_chat_frame_may_be_framed_only_by_the_site_s_origins(client, site):
    response = client.get("/widget/acme/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://www.acme.example;" in policy
    assert "script-src 'self';" in policy
    assert "X-Frame-Options" not in response


@pytest.mark.parametrize("path", ["/widget/ac%00me/", "/admin/chat/contact/?q=a%00"])
def test_a_nul_character_in_the_address_is_a_bad_request_not_a_server_error(admin_client, path):
    """PostgreSQL can neither store nor compare text with a NUL character in it."""
    response = admin_client.get(path)
    assert response.status_code == 400
    assert response.content.decode() == "The address contains a NUL character."


def test_the_frame_of_an_unknown_site_is_not_found(client, site):
    assert client.get("/widget/nope/").status_code == 404


def test_the_loader_config_answers_an_allowed_origin(client, site):
    response = client.get("/widget/acme/config.json", HTTP_ORIGIN="https://www.acme.example")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://www.acme.example"
    body = response.json()
    assert body["frame_url"] == "http://testserver/widget/acme/"
    assert body["strings"]["open"] == "Open chat"


def test_the_loader_config_explains_a_refused_origin(client, site):
    response = client.get("/widget/acme/config.json", HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    assert "not allowed" in response.json()["error"]


def test_the_widget_speaks_the_visitor_s_language(client, site):
    response = client.get("/widget/acme/config.json", HTTP_ACCEPT_LANGUAGE="de")
    assert response.json()["strings"]["open"] == "Chat öffnen"


def test_source_links_lead_to_a_public_article_page(client, demo_kb):
    response = client.get("/kb/returns/")
    assert response.status_code == 200
    assert b"Return labels" in response.content
    assert b"<strong>Returns" in response.content


def test_human_only_topics_have_no_public_page(client, demo_kb):
    assert client.get("/kb/refunds/").status_code == 404


class _Executable(HTMLParser):
    """Collects what a browser would run: script elements, on* handlers, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "script" and not dict(attrs).get("type", "").endswith("json"):
            self.found.append("script element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{name} handler")
            if name in {"href", "src"} and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: {name}")


def executable(html: str) -> list[str]:
    parser = _Executable()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize(
    "evil",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<a href="https://x.example" onclick="alert(1)">x</a>',
    ],
)
def test_no_html_in_an_article_is_ever_executed(client, demo_kb, evil):
    article = Article(slug="evil", title="Evil <b>title</b>", body=f"Hello {evil} world")
    services.article_save(article=article, questions=["evil"])
    content = client.get("/kb/evil/").content.decode()
    assert executable(content) == []
    assert "Evil &lt;b&gt;title&lt;/b&gt;" in content


def test_health_reports_database_and_redis(client):
    assert client.get("/healthz").json() == {"ok": True, "database": True, "redis": True}
