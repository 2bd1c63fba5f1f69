import os

import pytest
from django.core.management import call_command

from tests.stack import start_stack, wait_until_settled

# Playwright's sync API keeps an event loop in this thread; the ORM calls these tests make
# are ordinary blocking calls between browser steps.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, redis_server):
    with django_db_blocker.unblock():
        running = start_stack()
    yield running
    running.stack.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def demo(stack, transactional_db):
    """The demo site and knowledge base, in the database the processes use."""
    call_command("demo_setup", demo_port=stack.demo_port, verbosity=0)
    yield stack
    wait_until_settled(stack)


@pytest.fixture
def customer(browser, demo):
    """A customer's browser on the demo website."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()
