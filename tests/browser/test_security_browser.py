"""The Content-Security-Policy and the login lockout in a real Chromium.

Chromium reports every CSP violation as a console error, and the fixtures fail a test on any
console error: so each page visited here (the Django admin included) is proven to satisfy the
policy, not merely to send it.
"""

import re

import pytest
from playwright.sync_api import expect

from accounts.services import record_audit
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_the_admin_works_under_the_csp(org, new_context):
    record_audit(actor=org.admin, action="reassign", object_type="contact", ids=[1, 2])
    page = new_context(user=org.admin).new_page()
    for path in (
        "/admin/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{org.alice.pk}/change/",
        "/admin/accounts/team/add/",  # the filter_horizontal widget's scripts
        "/admin/accounts/auditentry/",
    ):
        response = page.goto(path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
    # The audit log's filters work: by actor, then by date.
    page.locator("#changelist-filter a", has_text=str(org.admin)).click()
    expect(page).to_have_url(re.compile(r"actor__id__exact="))
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.goto(f"/admin/accounts/team/{org.north.pk}/change/")
    expect(page.locator("#id_managers_from")).to_be_visible()  # SelectFilter2 built the widget


def test_the_browser_enforces_the_policy(org, new_context, browser_events):
    """An injected inline script is refused: the header is honoured, not just sent."""
    browser_events.expect_console_error(r"Content Security Policy")
    page = new_context(user=org.alice).new_page()
    page.goto("/")
    violated = page.evaluate(
        """() => new Promise((resolve) => {
            const report = (e) => resolve(e.violatedDirective);
            document.addEventListener("securitypolicyviolation", report);
            const script = document.createElement("script");
            script.textContent = "window.__injected = true";
            document.body.appendChild(script);
        })"""
    )
    assert violated.startswith("script-src")
    assert page.evaluate("window.__injected === undefined")


def test_login_form_locks_out_after_the_limit_in_the_users_language(
    org, new_context, browser_events, settings
):
    browser_events.expect_console_error(r"status of 429")
    page = new_context(locale="zh-CN").new_page()
    for attempt in range(1, settings.AXES_FAILURE_LIMIT + 1):
        page.goto("/login/")
        page.fill("#id_username", org.alice.username)
        page.fill("#id_password", "wrong password")
        page.locator("main form button[type=submit]").click()
        if attempt < settings.AXES_FAILURE_LIMIT:
            expect(page.locator(".errors")).to_be_visible()
    expect(page.locator("#locked-out")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    # The right password does not get in while the lockout lasts.
    page.goto("/login/")
    page.fill("#id_username", org.alice.username)
    page.fill("#id_password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#locked-out")).to_be_visible()
    expect(page.locator("#logout")).to_have_count(0)
