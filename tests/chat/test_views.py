from html import unescape
from html.parser import HTMLParser

import pytest

from chat import services
from chat.models import Article, Site

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


def test_a_refused_origin_is_not_cached_so_adding_it_in_admin_works_at_once(client, site):
    refused = client.get("/widget/acme/config.json", HTTP_ORIGIN="https://shop.acme.example")
    assert refused.status_code == 403
    assert "no-store" in refused["Cache-Control"]
    assert "max-age=300" not in refused["Cache-Control"]
    site.allowed_origins += "\nhttps://shop.acme.example"
    site.save()
    allowed = client.get("/widget/acme/config.json", HTTP_ORIGIN="https://shop.acme.example")
    assert allowed.status_code == 200
    assert allowed["Cache-Control"] == "max-age=300"


def add_site(admin_client, allowed_origins: str):
    return admin_client.post(
        "/admin/chat/site/add/",
        {
            "key": "shop",
            "name": "Shop",
            "identity_secret": "s" * 32,
            "allowed_origins": allowed_origins,
            "product_names": "",
        },
    )


def test_origins_typed_in_admin_are_saved_as_browsers_send_them(admin_client, client):
    response = add_site(
        admin_client,
        "HTTPS://WWW.Shop.example:443/\n\n  http://shop.example:8080  \nhttps://www.shop.example",
    )
    assert response.status_code == 302
    assert Site.objects.get(key="shop").allowed_origins == (
        "https://www.shop.example\nhttp://shop.example:8080"
    )
    config = client.get("/widget/shop/config.json", HTTP_ORIGIN="https://www.shop.example")
    assert config.status_code == 200


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("www.shop.example", "“www.shop.example” has no scheme: an origin starts with https://"),
        (
            "https://www.shop.example/pricing",
            "has a path or query, which an origin never has: write https://www.shop.example.",
        ),
        ("https://www.shop.example/?ref=mail", "has a path or query"),
        ("ftp://files.shop.example", "must start with https:// or http://"),
        ("https://*.shop.example", "wildcards are not supported"),
        ("https://www.shop.example:80443", "is not an origin such as https://www.example.com"),
    ],
    ids=["no scheme", "path", "query", "not a web page", "wildcard", "bad port"],
)
def test_admin_refuses_an_entry_that_cannot_be_an_origin(admin_client, entry, message):
    response = add_site(admin_client, f"https://shop.example\n{entry}")
    assert response.status_code == 200
    assert message in unescape(response.content.decode())
    assert not Site.objects.filter(key="shop").exists()


def test_origins_saved_before_they_were_checked_are_matched_as_browsers_send_them(client, site):
    site.allowed_origins = (
        "https://WWW.Acme.example:443/\nwww.acme.example\nhttps://x; script-src *"
    )
    site.save()
    config = client.get("/widget/acme/config.json", HTTP_ORIGIN="https://www.acme.example")
    assert config.status_code == 200
    # What can never match is left out of the header, where it could only do harm.
    policy = client.get("/widget/acme/")["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://www.acme.example;" in policy


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
