"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

One Chromium per session, a fresh browser context per test. Every context records console
errors, uncaught page errors and JavaScript dialogs; a test fails at teardown when any of them
happened (the pages use no inline scripts, so a clean console is the norm).
"""

import os
import re
from dataclasses import dataclass, field

import pytest

# Playwright's sync API runs an asyncio loop in this thread; the ORM calls the tests make
# (fixtures, checks in the database) would otherwise raise SynchronousOnlyOperation.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    """Chromium for the whole session. Missing Chromium is a failure, never a skip: CI has it."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need it "
            "(Debian: apt-get install chromium; or set CRM_CHROMIUM to its path). "
            "Do not run `playwright install`; these tests use the system browser.",
            pytrace=False,
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine can be slow to swap results
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
    except Exception as error:
        playwright.stop()
        pytest.fail(f"Chromium at {CHROMIUM} did not start: {error}", pytrace=False)
    yield chromium
    chromium.close()
    playwright.stop()


@dataclass
class BrowserEvents:
    """What went wrong in the pages of one test: console errors, page errors, dialogs."""

    console_errors: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)
    dialogs: list = field(default_factory=list)
    # Regexes of console errors that are not the app's fault or that a test expects. Chromium
    # asks every site for /favicon.ico; the app links no icon, so that request is a 404.
    expected: list = field(
        default_factory=lambda: [re.compile(r"status of 404 .*/favicon\.ico\)$")]
    )

    def expect_console_error(self, pattern):
        """Tolerate console errors matching `pattern`, e.g. the 404 a forbidden page returns."""
        self.expected.append(re.compile(pattern))

    def unexpected_console_errors(self):
        return [
            text
            for text in self.console_errors
            if not any(pattern.search(text) for pattern in self.expected)
        ]

    def watch(self, context):
        def on_console(message):
            if message.type == "error":
                location = message.location or {}
                self.console_errors.append(f"{message.text} ({location.get('url', '?')})")

        def on_dialog(dialog):
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        context.on("console", on_console)
        context.on("weberror", lambda web_error: self.page_errors.append(str(web_error.error)))
        context.on("dialog", on_dialog)


@pytest.fixture
def browser_events():
    return BrowserEvents()


@pytest.fixture
def new_context(browser, live_server, browser_events):
    """Factory of fresh browser contexts on the live server; all are closed and checked after."""
    contexts = []

    def make(*, user=None, **options):
        """A context; with `user`, already signed in (a session cookie, no login form)."""
        options.setdefault("base_url", live_server.url)
        options.setdefault("locale", "en-US")
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        browser_events.watch(context)
        contexts.append(context)
        if user is not None:
            context.add_cookies([session_cookie(user, live_server.url)])
        return context

    yield make
    for context in contexts:
        context.close()
    problems = []
    if browser_events.page_errors:
        problems.append(f"uncaught page errors: {browser_events.page_errors}")
    if unexpected := browser_events.unexpected_console_errors():
        problems.append(f"console errors: {unexpected}")
    if browser_events.dialogs:
        problems.append(f"JavaScript dialogs opened: {browser_events.dialogs}")
    if problems:
        pytest.fail("The browser reported: " + "; ".join(problems), pytrace=False)


def session_cookie(user, url):
    """A signed-in session for `user`, made the way Django's test client makes one."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": url,
        "httpOnly": True,
        "sameSite": "Lax",
    }


@pytest.fixture
def org(transactional_db):
    """The sales org, committed so that the live server's thread sees it."""
    from tests.factories import OrgFactory

    return OrgFactory.create()
