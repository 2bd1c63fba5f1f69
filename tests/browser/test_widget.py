"""The customer's side in real Chromium: the demo website embeds the widget from Baton."""

import datetime as dt
import json
import re
import time

import pytest
from playwright.sync_api import expect

from chat import services
from chat.models import Contact, Conversation, Message, PageVisit
from tests import factories
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


# Reloads, pages and the launcher -------------------------------------------------------------

WIDGET_SOCKET = re.compile(r"/ws/widget/")


def badge(page):
    return page.locator("[data-baton] .badge")


def answered_hello(page) -> Conversation:
    """A conversation with one question and its answer, the chat open."""
    open_chat(page)
    say(page, "hello")
    expect(chat(page).locator("li.from-ai")).to_have_count(1, timeout=20_000)
    return Conversation.objects.get()


def test_a_long_conversation_shows_its_newest_messages_after_a_reload(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    conversation = answered_hello(customer)
    customer.goto("about:blank")

    def post_updates():
        for number in range(1, 211):
            services.system_message_post(conversation=conversation, body=f"Update {number}")

    in_thread(post_updates)
    # The server sends 200 messages at a time; the widget asks for the rest.
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    log = chat(customer).locator("#log")
    expect(log.locator("li.message")).to_have_count(212, timeout=20_000)
    expect(log.locator("li.message .message-body").last).to_have_text("Update 210")


def test_replies_seen_before_are_not_counted_or_announced_again_on_the_next_page(customer, demo):
    # The host page listens for `message` events from the first moment, as the docs show.
    customer.add_init_script(
        "window.batonEvents = [];"
        "window.Baton = { q: [['on', ['message', function (d) { batonEvents.push(d.author); }]]] };"
    )
    customer.goto(f"{demo.demo_url}/")
    conversation = answered_hello(customer)
    customer.keyboard.press("Escape")
    expect(launcher(customer)).to_have_attribute("aria-expanded", "false")

    def history_shown(count: int) -> None:
        expect(chat(customer).locator("li.message")).to_have_count(count, timeout=15_000)
        customer.wait_for_timeout(1000)  # time for a badge or an event, if one were coming

    # The next page: the answer was read, so no badge and no event.
    customer.goto(f"{demo.demo_url}/pricing")
    history_shown(2)
    expect(badge(customer)).to_be_hidden()
    expect(launcher(customer)).to_have_attribute("aria-label", "Open chat")
    assert customer.evaluate("batonEvents") == []

    # A reply that comes while the panel is closed counts, once.
    in_thread(services.system_message_post, conversation=conversation, body="An agent is coming.")
    expect(badge(customer)).to_have_text("1")
    assert customer.evaluate("batonEvents") == ["system"]

    # Still unread on the next page, but not announced again.
    customer.reload()
    history_shown(3)
    expect(badge(customer)).to_have_text("1")
    assert customer.evaluate("batonEvents") == []

    # Read now: gone for good.
    open_chat(customer)
    expect(badge(customer)).to_be_hidden()
    customer.keyboard.press("Escape")
    customer.reload()
    history_shown(3)
    expect(badge(customer)).to_be_hidden()


def test_bad_context_and_identity_from_the_host_page_cost_only_themselves(customer, demo):
    """Bad values and many setContext calls are left out or cut to the server's limits; an
    identity the server refuses is not sent again."""
    calls = [["setContext", [{f"fact{number}": number}]] for number in range(40)]
    calls.append(["setContext", [{"order": {"id": 7}, "plan": "Scale"}]])
    calls.append(["identify", [{"user_id": "5"}]])  # no user_hash: refused by the server
    customer.add_init_script(f"window.Baton = {{ q: {json.dumps(calls)} }};")
    hellos = []

    def note_hellos(frame, socket) -> bool:
        if frame["type"] == "hello":
            hellos.append(frame)
        return False

    routes = route_widget_socket(customer, note_hellos)
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    expect(chat(customer).locator("#banner")).to_be_hidden()
    say(customer, "hi")
    expect(chat(customer).locator("li.from-ai")).to_have_count(1, timeout=20_000)
    facts = Conversation.objects.get().context
    assert facts["plan"] == "Scale" and facts["fact39"] == 39 and "order" not in facts

    # The connection drops; the next hello carries no refused identity, and the newest
    # 30 facts (the server's limit for one frame).
    routes[-1].close()
    for _ in range(100):  # Playwright calls the route only while the test waits through it
        if len(hellos) == 2:
            break
        customer.wait_for_timeout(100)
    expect(chat(customer).locator("#status")).to_have_text("Connected")
    assert len(hellos) == 2
    assert "identity" not in hellos[1]
    context = hellos[1]["context"]
    assert len(context) == 30 and context["plan"] == "Scale" and "fact10" not in context
    say(customer, "still here")
    expect(chat(customer).locator("li.from-ai")).to_have_count(2, timeout=20_000)


def test_hash_routes_are_pages_and_a_blinking_title_is_not(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    conversation = answered_hello(customer)
    customer.evaluate("location.hash = '#/orders/12'")
    wait_for(lambda: PageVisit.objects.filter(path="/#/orders/12").exists())

    # An inbox that shows its unread count in the title, long after the page changed.
    time.sleep(2.5)
    visits = conversation.pages.count()
    customer.evaluate(
        """() => new Promise(done => {
            let n = 0;
            const blink = setInterval(() => {
                document.title = n % 2 ? "Inbox" : "(1) Inbox";
                if (++n === 6) { clearInterval(blink); done(); }
            }, 100);
        })"""
    )
    customer.get_by_role("link", name="Returns").click()
    wait_for(lambda: PageVisit.objects.filter(path="/returns").exists())
    time.sleep(0.5)
    assert conversation.pages.count() == visits + 1

    # An app that sets the title a moment after pushState is still followed.
    customer.evaluate(
        "history.pushState({}, '', '/orders/7'); setTimeout(() => document.title = 'Order 7', 400)"
    )
    wait_for(lambda: PageVisit.objects.filter(path="/orders/7", title="Order 7").exists())
    assert conversation.pages.filter(path="/orders/7").count() == 1


def test_open_called_before_the_loader_has_its_config_opens_the_chat(customer, demo):
    customer.add_init_script(
        """document.addEventListener("load", function (event) {
            if (!/\\/static\\/baton\\/widget\\.js/.test(event.target.src || "")) return;
            window.openedEarly = !document.querySelector("[data-baton]");
            Baton.open();
        }, true);"""
    )
    customer.goto(f"{demo.demo_url}/")
    expect(launcher(customer)).to_have_attribute("aria-expanded", "true")
    expect(customer.locator("[data-baton] .panel")).to_be_visible()
    expect(chat(customer).locator("#status")).to_have_text("Connected")
    assert customer.evaluate("openedEarly") is True


HOSTILE_CSS = """
div { position: relative !important; z-index: 1 !important; }
body > div { transform: translate(-100px, -100px) !important; margin: 40px !important;
             opacity: .2 !important; }
body { display: flex !important; justify-content: center !important; gap: 30px !important; }
aside.cookies { position: fixed; right: 0; bottom: 0; width: 320px; height: 120px; z-index: 5;
                background: rgba(0, 0, 0, .1); }
"""


def test_host_page_rules_do_not_move_cover_or_make_room_for_the_widget(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    customer.add_style_tag(content=HOSTILE_CSS)
    customer.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<aside class=\"cookies\"></aside>')"
    )
    expect(launcher(customer)).to_be_visible()
    box = launcher(customer).bounding_box()
    assert (box["x"] + box["width"], box["y"] + box["height"]) == (1280 - 20, 800 - 20)
    on_top = customer.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).hasAttribute('data-baton')",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top, "the host page's cookie bar covers the launcher"
    host = customer.locator("[data-baton]")
    assert host.evaluate("h => getComputedStyle(h).opacity") == "1"
    # The page looks the same with and without the widget.
    header = customer.locator("header.top")
    with_widget = header.bounding_box()
    host.evaluate("h => h.remove()")
    assert header.bounding_box() == with_widget


# Small things ------------------------------------------------------------------------------


def test_messages_from_another_day_show_their_date(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    conversation = answered_hello(customer)
    three_days_ago = conversation.messages.order_by("seq").first().created_at - dt.timedelta(days=3)
    Message.objects.filter(conversation=conversation).update(created_at=three_days_ago)
    in_thread(services.system_message_post, conversation=conversation, body="An agent is coming.")
    customer.reload()
    open_chat(customer)
    times = chat(customer).locator("li.message .message-time")
    expect(times).to_have_count(3)
    old = three_days_ago.astimezone()
    first, last = times.first.inner_text(), times.last.inner_text()
    assert re.search(rf"\b{old:%b}\b", first) and re.search(rf"\b{old.day}\b", first), first
    assert not re.search(rf"\b{old:%b}\b", last), last


def test_text_fields_are_large_enough_that_phones_do_not_zoom_in(customer, demo):
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    for field in ("#input", "#followup-email", "#rating-comment"):
        size = chat(customer).locator(field).evaluate("f => getComputedStyle(f).fontSize")
        assert size == "16px", field


def test_the_rating_stars_read_from_one_to_five(customer, demo):
    from agents import services as agent_services

    customer.goto(f"{demo.demo_url}/")
    conversation = answered_hello(customer)
    agent = in_thread(factories.agent, "ana", teams=["general"])
    in_thread(
        agent_services.conversation_resolve,
        conversation=conversation,
        agent=agent,
        kind="solved",
        ai_could_have=True,
    )
    stars = chat(customer).get_by_role("radio")
    expect(stars).to_have_count(5)
    for number, star in enumerate(stars.all(), start=1):
        expect(star).to_have_accessible_name(f"{number} of 5")
    labels = chat(customer).locator(".star")
    lefts = [label.bounding_box()["x"] for label in labels.all()]
    assert lefts == sorted(lefts)
    # By keyboard: the first star, then two steps right, is three stars.
    stars.first.focus()
    customer.keyboard.press("Space")
    customer.keyboard.press("ArrowRight")
    customer.keyboard.press("ArrowRight")
    expect(chat(customer).get_by_role("radio", name="3 of 5")).to_be_checked()
    lit = [label.evaluate("l => getComputedStyle(l).color") for label in labels.all()]
    assert lit == ["rgb(245, 166, 35)"] * 3 + ["rgb(197, 201, 214)"] * 2


def route_widget_socket(page, intercept):
    """Route the widget's socket through the test. ``intercept(frame, socket)`` sees each
    frame the page sends and returns True when it answered the frame itself (it then never
    reaches Baton). Returns the sockets routed so far."""
    routes = []

    def route(socket):
        server = socket.connect_to_server()

        def from_page(message):
            if not intercept(json.loads(message), socket):
                server.send(message)

        socket.on_message(from_page)
        routes.append(socket)

    page.context.route_web_socket(WIDGET_SOCKET, route)
    return routes


def refuse_messages(page, reply, *, forward=lambda frame: False):
    """Route the widget's socket: messages the test does not forward get ``reply``."""
    sent = []

    def intercept(frame, socket) -> bool:
        if frame["type"] != "message":
            return False
        sent.append(frame)
        if forward(frame):
            return False
        socket.send(json.dumps(reply(frame)))
        return True

    route_widget_socket(page, intercept)
    return sent


def test_a_refused_message_is_read_out(customer, demo):
    refuse_messages(
        customer,
        lambda frame: {
            "type": "error",
            "code": "message_too_long",
            "message": "Messages can be at most 10 characters; this one has 17.",
            "client_id": frame["client_id"],
            "limit": 10,
        },
    )
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    say(customer, "a longer question")
    note = "Not sent: Messages can be at most 10 characters; this one has 17."
    expect(chat(customer).locator("li.failed .message-state")).to_have_text(note)
    expect(chat(customer).get_by_role("status").filter(has_text=note)).to_have_count(1)


SERVER_ERROR = {
    "type": "error",
    "code": "server_error",
    "message": "Something went wrong on our side. Please try again.",
}


def test_a_message_that_met_a_server_error_is_sent_again(customer, demo):
    # The first copy fails on the server, with an error that does not say which message.
    sent = refuse_messages(customer, lambda frame: SERVER_ERROR, forward=lambda f: len(sent) > 1)
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    say(customer, "hello")
    expect(chat(customer).locator("li.from-ai")).to_have_count(1, timeout=20_000)
    expect(chat(customer).locator("li.pending")).to_have_count(0)
    expect(chat(customer).locator("#banner")).to_be_hidden()
    assert len(sent) == 2
    assert Message.objects.filter(author="customer").count() == 1


def test_a_message_that_keeps_failing_can_be_sent_again_by_hand(customer, demo):
    failing = [True]
    sent = refuse_messages(
        customer,
        lambda frame: {**SERVER_ERROR, "client_id": frame["client_id"]},
        forward=lambda frame: not failing[0],
    )
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    say(customer, "hello")
    message = chat(customer).locator("li.from-customer")
    expect(message.locator(".message-state")).to_have_text("Not sent", timeout=25_000)
    expect(chat(customer).get_by_role("status").filter(has_text="Not sent")).to_have_count(1)
    assert len(sent) == 3
    failing[0] = False
    message.get_by_role("button", name="Try again").click()
    expect(chat(customer).locator("li.from-ai")).to_have_count(1, timeout=20_000)
    expect(chat(customer).locator("li.from-customer .message-body")).to_have_text(["hello"])
    assert Message.objects.filter(author="customer").count() == 1


def test_going_online_while_connecting_leaves_one_connection(customer, demo):
    customer.add_init_script(
        """if (location.pathname.indexOf("/widget/") === 0) {
            document.addEventListener("DOMContentLoaded", function () {
                dispatchEvent(new Event("online"));
            });
        }"""
    )
    sockets = []
    customer.on("websocket", lambda socket: sockets.append(socket))
    customer.goto(f"{demo.demo_url}/")
    open_chat(customer)
    say(customer, "hello")
    expect(chat(customer).locator("li.from-ai")).to_have_count(1, timeout=20_000)
    widget_sockets = [s for s in sockets if WIDGET_SOCKET.search(s.url)]
    assert len(widget_sockets) == 2
    assert [s.is_closed() for s in widget_sockets] == [True, False]
