"""Configuration comes from environment variables and a bad value stops Baton at start."""

import subprocess

import pytest

from tests.conftest import run_python


def start(**env: str) -> subprocess.CompletedProcess:
    return run_python("import django; django.setup(); print('started')", **env)


def test_no_configuration_at_all_is_the_embedded_default():
    result = start()
    assert result.stdout.strip() == "started", result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be one of"),
        ({"DATABASE_URL": "mysql://db/baton", "SECRET_KEY": "s"}, "DATABASE_URL must start with"),
        ({"DATABASE_URL": "postgres://db/baton"}, "SECRET_KEY must be set"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL must start with"),
        ({"REDIS_URL": "redis://"}, "REDIS_URL has no host name"),
        ({"BATON_MAX_MESSAGE_CHARS": "lots"}, "BATON_MAX_MESSAGE_CHARS must be a whole number"),
        ({"BATON_MESSAGES_PER_MINUTE": "0"}, "BATON_MESSAGES_PER_MINUTE must be at least 1"),
        ({"BATON_CONFIDENCE_THRESHOLD": "1.5"}, "BATON_CONFIDENCE_THRESHOLD must be between"),
        ({"CSRF_TRUSTED_ORIGINS": "baton.example.com"}, "CSRF_TRUSTED_ORIGINS entries must"),
        ({"PUBLIC_URL": "baton.example.com"}, "PUBLIC_URL must start with"),
        ({"CHANNEL_LAYER": "rabbit"}, "CHANNEL_LAYER must be classic or pubsub"),
        ({"BATON_RESPONDER": "gpt"}, "BATON_RESPONDER must be local or llm"),
        ({"BATON_SENTENCE_MODEL": "bert"}, "BATON_SENTENCE_MODEL must be minilm or none"),
        ({"BATON_RESPONDER": "llm"}, "BATON_RESPONDER=llm needs BATON_LLM_BASE_URL"),
        (
            {"BATON_RESPONDER": "llm", "BATON_LLM_BASE_URL": "http://127.0.0.1:8080/v1"},
            "and BATON_LLM_MODEL",
        ),
        ({"PUBLIC_URL": "https://baton.example.com:https"}, "PUBLIC_URL has an invalid port"),
        (
            {"SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"},
            "SECURE_PROXY_SSL_HEADER must name the header your proxy sets",
        ),
        (
            {"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https, http"},
            "SECURE_PROXY_SSL_HEADER must name the header your proxy sets",
        ),
    ],
)
def test_a_bad_value_stops_the_start_with_a_message_naming_it(env, message):
    result = start(**env)
    assert result.returncode != 0
    assert message in result.stderr


# A login form posted through a proxy that ends TLS: the browser is on https://, the proxy
# talks plain http to Baton and says what the browser used in its headers.
LOGIN_THROUGH_HTTPS_PROXY = """
import django
django.setup()
from django.middleware.csrf import CsrfViewMiddleware
from django.test import RequestFactory

secret = "a" * 32
request = RequestFactory().post(
    "/login/",
    {"csrfmiddlewaretoken": secret},
    headers={
        "host": "baton.example.com",
        "origin": "https://baton.example.com",
        "x-forwarded-proto": "https",
        "x-forwarded-ssl": "on",
    },
)
request.COOKIES["csrftoken"] = secret
refused = CsrfViewMiddleware(lambda r: None).process_view(request, lambda r: None, (), {})
print("refused" if refused else "accepted", request.scheme)
"""


@pytest.mark.parametrize(
    ("env", "outcome"),
    [
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "accepted https"),
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Ssl: on"}, "accepted https"),
        ({"PUBLIC_URL": "https://Baton.example.com:443/"}, "accepted http"),
    ],
    ids=["proxy header", "proxy header and value", "public url"],
)
def test_behind_an_https_proxy_a_login_form_passes_the_csrf_check(env, outcome):
    result = run_python(LOGIN_THROUGH_HTTPS_PROXY, ALLOWED_HOSTS="baton.example.com", **env)
    assert result.stdout.strip() == outcome, result.stderr
