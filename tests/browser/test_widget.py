"""The customer's side in real Chromium: the demo website embeds the widget from Baton."""

import time

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Contact, Conversation, Message, PageVisit
from tests.conftest import in_thread

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def launcher(page):
    return page.locator("[data-baton] button.launcher")


def chat(page):
    return page.frame_locator("[data-baton] iframe")


def open_chat(page) -> None:
    launcher(page).click()
    expect(chat(page).locator("#status")).to_have_text("Connected")


def say(page, text: str) -> None:
    box = chat(page).locator("#input")
    box.fill(text)
    box.press("Enter")


def wait_for(condition, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the server never got there")


def test_a_question_in_new_words_gets_the_right_answer_with_its_source(customer, demo):
    customer.goto(f"{demo.demo_url}/shipments/new")
    open_chat(customer)
    say(customer, "what are the steps to get a label printed for my parcel?")
    answer = chat(customer).locator("li.from-ai").last
    expect(answer).to_contain_text("Buy label", timeout=20_000)
    source = answer.locator(".sources a")
    expect(source).to_have_text("Create and print a shipping label")
    assert source.get_attribute("href").endswith("/kb/print-label/")
    expect(chat(customer).locator("li.from-customer")).to_have_count(1)


def test_when_unsure_the_assistant_offers_articles_to_pick_from(customer, demo):
    customer.goto(demo.demo_url)
    open_chat(customer)
    say(customer, "label or pickup")
    # Found as a screen reader finds it: a group named by its label, of buttons.
    offer = chat(customer).get_by_role("group", name="Did you mean:").get_by_role("button")
    expect(offer).to_have_text(
        ["Create and print a shipping label", "Carrier pickups"], timeout=20_000
    )
    offer.first.focus()
    customer.keyboard.press("Enter")
    expect(chat(customer).locator("li.from-customer .message-body").last).to_have_text(
        "Create and print a shipping label"
    )
    expect(chat(customer).locator("#input")).to_be_focused()
    expect(chat(customer).locator("li.from-ai").last).to_contain_text("Buy label", timeout=20_000)
    expect(offer.last).to_be_disabled()


def test_a_reload_shows_the_conversation_again(customer, demo):
    customer.goto(f"{demo.demo_url}/pricing")
    open_chat(customer)
    say(customer, "how much is the Scale plan?")
    expect(chat(customer).locator("li.from-ai")).to_contain_text("$149", timeout=20_000)
    customer.reload()
    open_chat(customer)
    log = chat(customer).locator("#log")
    expect(log.locator("li.from-customer .message-body")).to_have_text(
        ["how much is the Scale plan?"]
    )
    expect(log.locator("li.from-ai")).to_have_count(1)


def test_single_page_app_navigation_reaches_the_server(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    say(customer, "hello")
    expect(chat(customer).locator("li.from-ai")).to_have_count(1, timeout=20_000)
    customer.get_by_role("link", name="Returns").click()
    expect(customer).to_have_url(f"{demo.demo_url}/returns")
    visit = wait_for(lambda: PageVisit.objects.filter(path="/returns").first())
    assert visit.title == "Returns · Parcelbird"
    say(customer, "can my buyers print their own?")
    expect(chat(customer).locator("li.from-ai").last).to_contain_text(
        "returns portal", timeout=20_000
    )
    message = Message.objects.get(body="can my buyers print their own?")
    assert message.page.path == "/returns"


def test_set_context_facts_reach_the_conversation(customer, demo):
    customer.goto(f"{demo.demo_url}/shipments")
    open_chat(customer)
    say(customer, "hi")
    conversation = wait_for(lambda: Conversation.objects.first())
    wait_for(lambda: Conversation.objects.get(pk=conversation.pk).context.get("open_shipments"))
    assert Conversation.objects.get(pk=conversation.pk).context == {
        "open_shipments": 2,
        "plan": "Growth",
    }


def test_signing_in_on_the_host_site_verifies_the_customer(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    customer.select_option("#who", "maya")
    contact = wait_for(lambda: Contact.objects.filter(external_id="demo-maya").first())
    assert contact.verified and contact.tier == "enterprise" and contact.name == "Maya Lopez"


def test_the_host_page_css_does_not_restyle_the_widget(customer, demo):
    # The demo page styles every button hot pink with !important.
    customer.goto(f"{demo.demo_url}/")
    expect(launcher(customer)).to_be_visible()
    background = launcher(customer).evaluate("b => getComputedStyle(b).backgroundColor")
    assert background == "rgb(51, 70, 211)"


def test_the_widget_works_by_keyboard(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    expect(launcher(customer)).to_be_visible()
    launcher(customer).focus()
    customer.keyboard.press("Enter")
    expect(launcher(customer)).to_have_attribute("aria-expanded", "true")
    expect(chat(customer).locator("#status")).to_have_text("Connected")
    expect(chat(customer).locator("#input")).to_be_focused()
    customer.keyboard.type("hello there")
    customer.keyboard.press("Shift+Enter")
    customer.keyboard.type("second line")
    customer.keyboard.press("Enter")
    expect(chat(customer).locator("li.from-customer .message-body")).to_contain_text("second line")
    customer.keyboard.press("Escape")
    expect(launcher(customer)).to_have_attribute("aria-expanded", "false")
    expect(launcher(customer)).to_be_focused()


def test_on_a_phone_the_chat_fills_the_screen(browser, demo):
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True)
    page = context.new_page()
    page.goto(f"{demo.demo_url}/")
    open_chat(page)
    box = page.locator("[data-baton] .panel").bounding_box()
    assert (box["width"], box["height"]) == (375, 667)
    say(page, "hello")
    expect(chat(page).locator("li.from-ai")).to_have_count(1, timeout=20_000)
    context.close()


def test_the_launcher_counts_replies_that_arrive_while_closed(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    say(customer, "hello")
    expect(chat(customer).locator("li.from-ai")).to_have_count(1, timeout=20_000)
    customer.keyboard.press("Escape")
    expect(launcher(customer)).to_have_attribute("aria-expanded", "false")
    conversation = Conversation.objects.get()
    in_thread(services.system_message_post, conversation=conversation, body="An agent is coming.")
    badge = customer.locator("[data-baton] .badge")
    expect(badge).to_have_text("1")
    expect(launcher(customer)).to_have_attribute("aria-label", "Open chat (1 unread message)")
    launcher(customer).click()
    expect(badge).to_be_hidden()


def test_a_message_typed_while_the_server_is_down_is_sent_once_when_it_is_back(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    say(customer, "first")
    expect(chat(customer).locator("li.from-ai")).to_have_count(1, timeout=20_000)
    demo.stack.stop_web()
    try:
        expect(chat(customer).locator("#status")).not_to_have_text("Connected", timeout=40_000)
        say(customer, "typed while you were away")
        expect(chat(customer).locator("li.pending")).to_have_count(1)
    finally:
        demo.stack.start_web()
    expect(chat(customer).locator("#status")).to_have_text("Connected", timeout=40_000)
    expect(chat(customer).locator("li.pending")).to_have_count(0, timeout=10_000)
    wait_for(lambda: Message.objects.filter(body="typed while you were away").exists())
    time.sleep(1)
    assert Message.objects.filter(body="typed while you were away").count() == 1
    expect(chat(customer).locator("li.from-customer")).to_have_count(2)
