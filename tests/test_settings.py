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
    ],
)
def test_a_bad_value_stops_the_start_with_a_message_naming_it(env, message):
    result = start(**env)
    assert result.returncode != 0
    assert message in result.stderr
