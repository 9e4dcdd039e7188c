"""A large export in a real browser: the list's export link leads to the job page, htmx polls
it (no inline script under the CSP) until the file is ready, and the download link works."""

import pytest
from playwright.sync_api import expect

from contacts import tasks
from contacts.models import ExportJob

pytestmark = pytest.mark.browser


def test_a_large_export_waits_on_its_page_then_downloads(
    org, new_context, settings, tmp_path, monkeypatch
):
    settings.CONTACT_EXPORT_DIR = tmp_path / "exports"
    settings.CONTACT_EXPORT_SYNC_LIMIT = 2  # the admin sees the org's 4 customers
    # The "worker" is this test: the job waits until the test runs it.
    queued = []
    monkeypatch.setattr(tasks.run_export, "delay", queued.append)

    page = new_context(user=org.admin, accept_downloads=True).new_page()
    page.goto("/contacts/")
    page.locator("#export-csv").click()

    expect(page.locator("#export-progress")).to_have_attribute("data-state", "queued")
    expect(page.locator("#export-waiting")).to_be_visible()
    job = ExportJob.objects.get()
    assert queued == [job.pk]

    assert tasks.run_export(job.pk) == "done"  # what the worker would do

    # htmx polls every second; when the job ends the page reloads with the link.
    expect(page.locator("#export-download")).to_be_visible()
    expect(page.locator("#export-progress")).to_have_attribute("data-state", "done")
    expect(page.locator("#export-progress-text")).to_have_text("4 of 4 customers")
    with page.expect_download() as info:
        page.locator("#export-download").click()
    download = info.value
    assert download.suggested_filename == job.download_name
    data = open(download.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\r\n") == 5  # header + 4 rows

    page.locator("#export-jobs-link").click()
    expect(page.locator(f"#export-job-{job.pk}")).to_contain_text("Done")
