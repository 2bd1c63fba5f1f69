"""A customer and an agent, each in their own Chromium context, over the real stack."""

import contextlib

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from agents.models import Rating
from tests.browser.test_widget import chat, open_chat, say, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.stack]


@pytest.fixture
def agent_page(browser, demo):
    """Alice (billing and general) signed in to the console."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{demo.baton_url}/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("baton-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{demo.baton_url}/console/")
    # The URL changes before htmx (a deferred script) listens; a person is never that quick.
    page.wait_for_load_state()
    yield page
    context.close()


def test_a_customer_asks_for_a_person_and_an_agent_takes_over(customer, agent_page, demo):
    agent = agent_page
    agent.get_by_label("You are").select_option("online")
    expect(agent.locator("#presence-select")).to_have_attribute("data-presence", "online")
    expect(agent.get_by_text("Nothing assigned to you.")).to_be_visible()

    customer.goto(f"{demo.demo_url}/settings/billing")
    open_chat(customer)
    say(customer, "where do I find my invoices?")
    expect(chat(customer).locator("li.from-ai")).to_contain_text("Billing", timeout=20_000)
    say(customer, "thanks, but can I talk to a person please?")
    expect(chat(customer).locator("#handoff-text")).to_contain_text("Alice", timeout=20_000)
    expect(chat(customer).locator("li.from-system")).to_contain_text(
        "won't need to repeat yourself"
    )

    # The handoff arrives in Alice's console without a reload.
    row = agent.locator(".row", has_text="Visitor")
    expect(row).to_be_visible(timeout=20_000)
    row.locator("a").click()
    brief = agent.locator("#brief")
    expect(brief).to_contain_text("explicit_request")
    expect(brief).to_contain_text("Invoices and receipts")
    expect(brief).to_contain_text("/settings/billing")

    agent.get_by_role("button", name="Accept and join").click()
    # Typed at once, while joining may still be on its way: the re-rendered panel keeps it.
    box = agent.get_by_label("Reply to the customer")
    box.fill("Hi, I'm Alice. Your invoices are under Settings, Billing, Invoices.")
    expect(agent.get_by_role("button", name="Accept and join")).to_have_count(0)
    expect(chat(customer).locator("li.from-system").last).to_contain_text(
        "Alice joined the conversation.", timeout=10_000
    )

    # A half-typed reply also survives another action re-rendering the panel.
    agent.get_by_label("Internal note (the customer never sees it)").fill("Growth plan")
    agent.get_by_role("button", name="Add note").click()
    expect(agent.locator("#lines")).to_contain_text("Growth plan")
    expect(box).to_have_value("Hi, I'm Alice. Your invoices are under Settings, Billing, Invoices.")
    box.press("Enter")
    reply = chat(customer).locator("li.from-agent")
    expect(reply).to_contain_text("I'm Alice", timeout=10_000)
    expect(reply.locator(".message-author")).to_have_text("Alice")
    expect(agent.locator("#lines li.from-agent")).to_contain_text("I'm Alice")

    # The customer's next message shows up in the console live.
    transcript = "**/*part=transcript*"
    stale = []

    def keep(route):
        response = route.fetch()
        try:
            route.fulfill(response=response)
        except PlaywrightError:
            return  # the console gave this request up for a newer one, which comes here too
        stale.append(response)  # only once the console has it

    agent.route(transcript, keep)
    agent.evaluate("htmx.trigger(document.body, 'conversation-changed')")
    for _ in range(100):
        if stale:
            break
        agent.wait_for_timeout(100)
    assert stale, "the console did not reload its transcript"
    agent.unroute_all(behavior="wait")
    say(customer, "perfect, found them")
    expect(agent.locator("#lines li.from-customer").last).to_contain_text(
        "found them", timeout=10_000
    )
    # A transcript reload rendered before that message and arriving after it keeps it.
    assert "found them" not in stale[0].text()

    def replay(route):
        # A request the console gave up for a newer one cannot be answered; the newer one is.
        with contextlib.suppress(PlaywrightError):
            route.fulfill(response=stale[0])

    agent.route(transcript, replay)
    agent.evaluate("document.getElementById('lines').dataset.before = 'reload'")
    agent.evaluate("htmx.trigger(document.body, 'conversation-changed')")
    expect(agent.locator("#lines[data-before]")).to_have_count(0)
    expect(agent.locator("#lines li.from-customer").last).to_contain_text("found them")
    agent.unroute_all(behavior="wait")

    agent.get_by_label("Solved").check()
    agent.get_by_role("button", name="No, resolve").click()
    rating = chat(customer).locator("#rating")
    expect(rating).to_be_visible(timeout=10_000)
    rating.locator("label.star").filter(has_text="5 of 5").click()
    chat(customer).get_by_label("Anything to add? (optional)").fill("Quick and kind")
    chat(customer).get_by_role("button", name="Send rating").click()
    expect(chat(customer).locator("#rating-thanks")).to_be_visible()
    stored = wait_for(lambda: Rating.objects.first())
    assert (stored.score, stored.comment, stored.with_human) == (5, "Quick and kind", True)
