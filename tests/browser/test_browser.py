"""End-to-end checks in a real Chromium: the pages, htmx and static/js/app.js working together.

Selectors use ids, names and URLs rather than visible words, so the tests hold whatever a
user's language is and however the Chinese catalogue changes. The one test about language
asserts English words only after switching to English.
"""

import re

import pytest
from django.utils import translation
from playwright.sync_api import expect

from contacts.models import Company, Contact, Tag, country_name
from tests.factories import PASSWORD, CompanyFactory, ContactFactory, TagFactory

pytestmark = pytest.mark.browser

ROW_NAMES = "#contact-table tbody td:nth-child(2) a"
HOSTILE_NAME = "<script>alert(1)</script>"


def log_in(page, user):
    """Sign in through the login form and land on the start page."""
    page.goto("/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#logout")).to_be_visible()
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))  # the start page


def names(queryset):
    return list(queryset.values_list("name", flat=True))


def mark_document(page):
    """Tag the current document; `same_document` later tells whether htmx swapped in place."""
    page.evaluate("window.__crmSameDocument = true")


def same_document(page):
    return page.evaluate("window.__crmSameDocument === true")


def test_rep_creates_customer_finds_it_by_tag_and_other_team_gets_404(
    org, new_context, browser_events
):
    alice_context = new_context()
    page = alice_context.new_page()
    log_in(page, org.alice)

    page.locator("nav.mainnav a[href='/contacts/']").click()
    expect(page).to_have_url(re.compile(r"/contacts/$"))
    page.locator("#new-contact").click()
    expect(page).to_have_url(re.compile(r"/contacts/new/$"))
    page.fill("#id_name", "Hans Müller")
    page.fill("#id_email", "hans.mueller@lichtwerk.example")
    page.fill("#id_company_name", "Lichtwerk GmbH")
    page.select_option("#id_country", "DE")
    page.fill("#id_tag_names", "LED, North America")
    page.locator("#contact-form button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/contacts/\d+/$"))
    contact = Contact.objects.get(email="hans.mueller@lichtwerk.example")
    assert page.url.endswith(contact.get_absolute_url())
    assert (contact.name, contact.country, contact.company.name) == (
        "Hans Müller",
        "DE",
        "Lichtwerk GmbH",
    )
    assert contact.owner == org.alice and contact.created_by == org.alice
    assert sorted(contact.tags.values_list("name", flat=True)) == ["LED", "North America"]

    heading = page.locator("main h1")
    expect(heading).to_contain_text("Hans Müller")
    expect(heading.locator(f"a[href='{contact.company.get_absolute_url()}']")).to_have_text(
        "Lichtwerk GmbH"
    )
    expect(page.locator(".badges .tag")).to_have_text(["LED", "North America"])
    expect(page.locator("a[href='mailto:hans.mueller@lichtwerk.example']")).to_have_text(
        "hans.mueller@lichtwerk.example"
    )
    expect(page.locator("dl.facts").first).to_contain_text(country_name("DE", org.alice.language))
    expect(page.locator("ul.messages li.success")).to_have_count(1)
    expect(page.locator("#edit-contact")).to_be_visible()

    # The list, filtered by tag through htmx: the results swap in place, the URL follows.
    page.locator("nav.mainnav a[href='/contacts/']").click()
    expect(page).to_have_url(re.compile(r"/contacts/$"))
    rows = page.locator("#contact-table tbody tr")
    visible_count = Contact.objects.visible_to(org.alice).count()
    assert visible_count > 1
    expect(rows).to_have_count(visible_count)
    led = Tag.objects.get(name="LED")
    mark_document(page)
    page.select_option("#id_tags", str(led.pk))
    expect(page).to_have_url(re.compile(rf"[?&]tags={led.pk}(&|$)"))
    expect(rows).to_have_count(1)
    expect(page.locator(ROW_NAMES)).to_have_text(["Hans Müller"])
    expect(page.locator(ROW_NAMES)).to_have_attribute("href", contact.get_absolute_url())
    expect(rows.locator(".tag")).to_have_text(["LED", "North America"])
    assert same_document(page), "filtering reloaded the page instead of swapping the results"
    expect(page.locator("header.topbar")).to_have_count(1)  # a fragment, not a page in a page

    # Reloading the pushed URL renders the whole page with the same filter.
    page.reload()
    expect(page.locator("#id_tags")).to_have_values([str(led.pk)])
    expect(rows).to_have_count(1)
    expect(page.locator(ROW_NAMES)).to_have_text(["Hans Müller"])

    # Without JavaScript the filter form is a plain GET form.
    plain = new_context(
        java_script_enabled=False, storage_state=alice_context.storage_state()
    ).new_page()
    plain.goto("/contacts/")
    plain.select_option("#id_tags", str(led.pk))
    plain.locator("#contact-filters button[type=submit]").click()
    expect(plain).to_have_url(re.compile(rf"[?&]tags={led.pk}(&|$)"))
    expect(plain.locator("#contact-table tbody tr")).to_have_count(1)
    expect(plain.locator(ROW_NAMES)).to_have_text(["Hans Müller"])

    # A rep of another team: the contact does not exist for them.
    carol = new_context().new_page()
    log_in(carol, org.carol)
    for url in (contact.get_absolute_url(), f"{contact.get_absolute_url()}edit/"):
        browser_events.expect_console_error(rf"status of 404 .*{re.escape(url)}\)$")
        response = carol.goto(url)
        assert response.status == 404, url
        expect(carol.locator("body")).not_to_contain_text("Hans Müller")
        expect(carol.locator("body")).not_to_contain_text("lichtwerk")


def test_language_switch_changes_the_page_and_is_saved_on_the_user(org, new_context):
    org.alice.language = "zh-hans"  # the model's default, whatever the factory chose
    org.alice.save(update_fields=["language"])
    page = new_context(user=org.alice).new_page()
    page.goto("/contacts/")
    html = page.locator("html")
    nav_customers = page.locator("nav.mainnav a[href='/contacts/']")
    expect(html).to_have_attribute("lang", "zh-hans")

    page.locator("button[name=language][value=en]").click()
    expect(html).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(r"/contacts/$"))  # back where the switch was pressed
    expect(nav_customers).to_have_text("Customers")
    expect(page.locator("main h1")).to_have_text("Customers")
    expect(page.locator("#new-contact")).to_have_text("New customer")
    expect(page.locator("button[name=language][value=en]")).to_have_class(
        re.compile(r"\bcurrent\b")
    )
    org.alice.refresh_from_db()
    assert org.alice.language == "en"

    # The preference belongs to the user: a Chinese browser signing in as alice gets English.
    elsewhere = new_context(locale="zh-CN", user=org.alice).new_page()
    elsewhere.goto("/")
    expect(elsewhere.locator("html")).to_have_attribute("lang", "en")

    page.locator("button[name=language][value=zh-hans]").click()
    expect(html).to_have_attribute("lang", "zh-hans")
    expect(page).to_have_url(re.compile(r"/contacts/$"))
    expect(page.locator("button[name=language][value=zh-hans]")).to_have_class(
        re.compile(r"\bcurrent\b")
    )
    org.alice.refresh_from_db()
    assert org.alice.language == "zh-hans"
    with translation.override("zh-hans"):
        chinese_customers = translation.gettext("Customers")
    if chinese_customers != "Customers":  # only once the Chinese catalogue translates it
        expect(nav_customers).not_to_have_text("Customers")
        expect(nav_customers).to_have_text(chinese_customers)


def test_contact_list_sorting_selection_and_pagination(org, new_context):
    # Created in an order unlike the alphabetical one, so sorting visibly changes the list.
    for letter in "KCHAEIBFJDG":
        ContactFactory(owner=org.alice, name=f"Buyer {letter}")
    visible = Contact.objects.visible_to(org.alice)
    newest_first = names(visible.order_by("-created_at", "-id"))
    by_name = names(visible.order_by("name"))
    by_name_desc = names(visible.order_by("-name"))
    assert len(by_name) == 13  # 3 pages of 5, 5 and 3
    assert by_name[:5] != newest_first[:5]

    page = new_context(user=org.alice).new_page()
    page.goto("/contacts/?per_page=5")
    rows = page.locator(ROW_NAMES)
    expect(rows).to_have_text(newest_first[:5])
    # CSP-friendly: behaviour comes from static files, never inline scripts or handlers.
    expect(page.locator("script:not([src]), [onclick], [onchange], [onsubmit]")).to_have_count(0)
    mark_document(page)

    page.locator("#contact-table thead a[href*='sort=name']").click()
    expect(rows).to_have_text(by_name[:5])
    expect(page).to_have_url(re.compile(r"[?&]sort=name(&|$)"))
    sorted_header = page.locator("#contact-table thead a.sort.asc")
    expect(sorted_header).to_have_attribute("href", re.compile(r"sort=-name"))

    sorted_header.click()
    expect(rows).to_have_text(by_name_desc[:5])
    expect(page).to_have_url(re.compile(r"[?&]sort=-name(&|$)"))
    expect(page.locator("#contact-table thead a.sort.desc")).to_have_count(1)

    # "Select this page" ticks every row (static/js/app.js) and counts them.
    boxes = page.locator("#contact-table .row-select")
    expect(boxes).to_have_count(5)
    page.check("#select-page")
    for index in range(5):
        expect(boxes.nth(index)).to_be_checked()
    expect(page.locator("#selected-count")).to_contain_text("5")
    page.uncheck("#select-page")
    for index in range(5):
        expect(boxes.nth(index)).not_to_be_checked()
    expect(page.locator("#selected-count")).to_have_text("")

    # Next page keeps the sort and page size; the swapped-in rows still react to app.js.
    page.locator("nav.pagination a[href*='page=2']").click()
    expect(rows).to_have_text(by_name_desc[5:10])
    expect(page).to_have_url(re.compile(r"[?&]page=2(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]sort=-name(&|$)"))
    page.check("#select-page")
    for index in range(5):
        expect(boxes.nth(index)).to_be_checked()
    page.locator("nav.pagination a[href*='page=3']").click()
    expect(rows).to_have_text(by_name_desc[10:])
    assert same_document(page), "sorting or paging reloaded the page instead of swapping"

    page.reload()
    expect(rows).to_have_text(by_name_desc[10:])


def test_invalid_email_shows_the_field_error_and_saves_nothing(org, new_context):
    contacts_before, companies_before = Contact.objects.count(), Company.objects.count()
    page = new_context(user=org.alice).new_page()
    page.goto("/contacts/new/")
    page.fill("#id_name", "Nobody Valid")
    page.fill("#id_email", "not-an-email")
    page.fill("#id_company_name", "Ghost Trading Co")
    page.locator("#contact-form button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/contacts/new/$"))
    expect(page.locator("#contact-form .errors")).to_be_visible()
    expect(page.locator("#contact-form .has-error")).to_have_count(1)
    email_errors = page.locator("#field-email.has-error .error")
    expect(email_errors).to_have_count(1)
    with translation.override(org.alice.language):
        expected = translation.gettext("Enter a valid email address.")
    expect(email_errors).to_have_text(expected)
    expect(page.locator("#id_name")).to_have_value("Nobody Valid")
    expect(page.locator("#id_email")).to_have_value("not-an-email")
    assert Contact.objects.count() == contacts_before
    assert Company.objects.count() == companies_before
    assert not Contact.objects.filter(name="Nobody Valid").exists()


def test_hostile_names_show_as_text_and_run_nothing(org, new_context, browser_events):
    hostile_company = '<img src=x onerror="alert(2)">'
    hostile_tag = "<b onmouseover=alert(3)>x</b>"
    contact = ContactFactory(
        owner=org.alice,
        name=HOSTILE_NAME,
        email="xss@customer.example",
        company=CompanyFactory(name=hostile_company),
        tags=[TagFactory(name=hostile_tag)],
    )
    url = contact.get_absolute_url()
    injected = "script:not([src]), img, [onerror], [onmouseover]"

    page = new_context(user=org.alice).new_page()
    page.goto("/contacts/")
    row = page.locator("#contact-table tbody tr", has=page.locator(f"a[href='{url}']"))
    expect(row.locator(f"a[href='{url}']")).to_have_text(HOSTILE_NAME)
    expect(row.locator(f"a[href='{contact.company.get_absolute_url()}']")).to_have_text(
        hostile_company
    )
    expect(row.locator(".tag")).to_have_text([hostile_tag])
    expect(page.locator(injected)).to_have_count(0)

    row.locator(f"a[href='{url}']").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(url)}$"))
    expect(page.locator("main h1")).to_contain_text(HOSTILE_NAME)
    expect(page.locator("main h1")).to_contain_text(hostile_company)
    expect(page.locator(".badges .tag")).to_have_text([hostile_tag])
    expect(page).to_have_title(re.compile(re.escape(HOSTILE_NAME)))
    expect(page.locator(injected)).to_have_count(0)

    # The duplicate-address error links to the existing contact: its name stays text there too.
    page.goto("/contacts/new/")
    page.fill("#id_name", "Copycat")
    page.fill("#id_email", "XSS@customer.example")
    page.locator("#contact-form button[type=submit]").click()
    expect(page.locator(f"#field-email .error a[href='{url}']")).to_have_text(str(contact))
    expect(page.locator(injected)).to_have_count(0)
    assert Contact.objects.filter(email__iexact="xss@customer.example").count() == 1

    page.wait_for_timeout(200)  # give a (wrongly) injected handler the chance to fire
    assert browser_events.dialogs == []
