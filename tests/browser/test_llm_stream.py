"""With the LLM responder the customer watches the answer being written, then gets it whole."""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from chat.models import Message
from tests.llm_stub import StubLLM
from tests.stack import start_stack, wait_until_settled

pytestmark = [pytest.mark.browser, pytest.mark.stack]


@pytest.fixture(scope="module")
def llm_stack(django_db_setup, django_db_blocker, redis_server):
    """Baton's processes with the LLM responder, on their own queue and channel prefix so
    the session's other processes never pick up their work."""
    stub = StubLLM()
    stub.word_delay = 0.3
    with django_db_blocker.unblock():
        running = start_stack(
            name="llm",
            demo=False,
            BATON_RESPONDER="llm",
            BATON_LLM_BASE_URL=stub.base_url,
            BATON_LLM_MODEL="stub-1",
            CELERY_QUEUE="baton-test-llm",
            CHANNEL_PREFIX="baton-test-llm",
        )
    yield running, stub
    running.stack.stop()
    stub.close()


def test_the_answer_appears_as_it_is_written_and_is_then_replaced_by_the_stored_one(
    browser, llm_stack, transactional_db
):
    running, stub = llm_stack
    call_command("demo_setup", demo_port=running.demo_port, verbosity=0)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    # Baton's own page for the widget: the customer's site is not needed here.
    page.goto(f"{running.baton_url}/widget/demo/")
    expect(page.locator("#status")).to_have_text("Connected")
    box = page.locator("#input")
    box.fill("how do I let buyers print their own return label?")
    box.press("Enter")

    draft = page.locator("#log li.draft")
    # Part of the answer, already formatted, while the rest is still being written.
    expect(draft.locator("strong")).to_have_text("Returns → Settings", timeout=20_000)
    expect(draft).not_to_contain_text("portal on")
    expect(draft).to_have_attribute("aria-busy", "true")

    answer = page.locator("#log li.from-ai")
    expect(answer.locator(".sources a")).to_have_text("Return labels", timeout=20_000)
    expect(draft).to_have_count(0)
    expect(answer).to_have_count(1)
    expect(answer.locator(".message-body")).to_contain_text(
        "Use Returns → Settings to switch the portal on."
    )
    expect(answer).not_to_contain_text("[returns]")
    stored = Message.objects.get(author="ai")
    assert stored.body == "Use **Returns → Settings** to switch the portal on."
    assert stub.requests[0]["body"]["stream"] is True
    context.close()
    wait_until_settled(running)
