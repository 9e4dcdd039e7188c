"""The admin's spreadsheet import in a real browser: upload, preview, confirm, the progress bar
polled by htmx until the job is done, the result."""

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from contacts import tasks
from contacts.models import Contact, ImportJob
from tests.fixture_paths import LEGACY_FIXTURES

pytestmark = pytest.mark.browser

FIXTURES = LEGACY_FIXTURES
CANTON = "canton_fair_2024_leads_gbk.csv"


def test_admin_imports_a_csv_and_watches_the_job_finish(
    org, new_context, settings, tmp_path, monkeypatch
):
    call_command("load_users", str(FIXTURES / "salespeople.json"), stdout=io.StringIO())
    settings.IMPORT_UPLOAD_DIR = tmp_path / "imports"
    # The "worker" is this test: the confirmed job waits in the queue until the test runs it,
    # so the page is seen waiting, then polling its way to the end.
    queued = []
    monkeypatch.setattr(tasks.run_import, "delay", queued.append)

    page = new_context(user=org.admin).new_page()
    page.goto("/")
    page.locator("#nav-import").click()
    page.locator("input[name=file]").set_input_files(str(FIXTURES / CANTON))
    page.locator("select[name=default_owner]").select_option(str(org.alice.pk))
    page.locator("#import-upload").click()

    expect(page.locator("h1")).to_contain_text(CANTON)
    expect(page.locator("#total-created")).to_have_text("34")
    expect(page.locator("#total-rejected")).to_have_text("3")
    expect(page.locator("#import-preview-rows tbody tr")).to_have_count(10)
    expect(page.locator("#import-preview-rows")).to_contain_text("sanne@boer-techniek.example")
    expect(page.locator("select[name=map-0-E]")).to_have_value("email")
    assert Contact.objects.filter(email="sanne@boer-techniek.example").count() == 0

    page.locator("#import-confirm").click()
    progress = page.locator("#import-progress")
    expect(progress).to_have_attribute("data-state", "queued")
    expect(page.locator("#import-progress-bar")).to_have_attribute("value", "0")
    job = ImportJob.objects.get()
    assert queued == [job.pk]

    assert tasks.run_import(job.pk) == "done"  # what the worker would do

    # htmx polls the bar every second; at the end the page reloads into the result.
    expect(page.locator("#import-summary")).to_be_visible()
    expect(page.locator("#import-progress")).to_have_attribute("data-state", "done")
    bar = page.locator("#import-progress-bar")
    expect(bar).to_have_attribute("value", "37")
    expect(bar).to_have_attribute("max", "37")
    expect(page.locator("#import-progress-text")).to_have_text("37 of 37 rows")
    expect(page.locator("#total-created")).to_have_text("34")
    expect(page.locator("#import-rejected tbody tr")).to_have_count(3)
    expect(page.locator("#import-report")).to_be_visible()
    expect(page.locator("#import-undo")).to_be_visible()
    assert Contact.objects.filter(created_by=org.admin).count() == 34
    assert not list((tmp_path / "imports").iterdir())
