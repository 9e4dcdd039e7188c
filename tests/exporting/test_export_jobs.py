"""Large exports as background jobs: the threshold, the same content as a synchronous export,
the requester alone downloads, scope re-applied when the worker runs, failures, cleanup, and one
run through a real Celery worker on Redis."""

import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.http import FileResponse
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.models import AuditEntry
from contacts import export_jobs
from contacts.export_jobs import remove_expired_exports, run_export_job
from contacts.models import Contact, ExportJob
from crm.schedules import PERIODIC_JOBS
from followups.models import Notification
from tests.exporting.test_export import emails_of, export_bytes, xlsx_rows
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

URL = "/contacts/export/"


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.CONTACT_EXPORT_DIR = tmp_path / "exports"
    settings.CONTACT_EXPORT_SYNC_LIMIT = 2  # the org has 4 contacts: managers and admins go over
    return Path(settings.CONTACT_EXPORT_DIR)


@pytest.fixture
def queued(monkeypatch, django_capture_on_commit_callbacks):
    """Job ids handed to Celery (after the commit), run here on demand."""
    from contacts import tasks

    ids = []
    monkeypatch.setattr(tasks.run_export, "delay", ids.append)

    class Queue:
        def request(self, client, *args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return client.get(*args, **kwargs)

        def post(self, client, *args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return client.post(*args, **kwargs)

        @property
        def ids(self):
            return list(ids)

        def run_all(self):
            results = [run_export_job(job_id) for job_id in ids]
            ids.clear()
            return results

    return Queue()


def job_file(job):
    job.refresh_from_db()
    return (export_jobs.export_dir() / job.file_name).read_bytes()


def download(client, job):
    response = client.get(reverse("contacts:export_download", args=[job.pk]))
    assert response.status_code == 200, response.status_code
    assert isinstance(response, FileResponse) and response.streaming
    return b"".join(response.streaming_content)


# --------------------------------------------------------------------------
# The threshold
# --------------------------------------------------------------------------


def test_over_the_threshold_the_export_becomes_a_job(client, org, queued):
    client.force_login(org.manager_north)  # sees 3 contacts: over the limit of 2
    response = queued.request(client, URL, {"format": "csv", "stage": ""})
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/contacts/exports/{job.pk}/"
    assert queued.ids == [job.pk]  # queued once the request's transaction committed
    assert (job.requested_by, job.format, job.status, job.total_rows) == (
        org.manager_north,
        "csv",
        "queued",
        3,
    )
    # Audited at request time, like a synchronous export, naming the job.
    entry = AuditEntry.objects.get(action="export")
    assert entry.actor == org.manager_north and entry.count == 3
    assert sorted(entry.object_ids) == sorted(job.contact_ids)
    assert entry.detail == {
        "format": "csv",
        "filter": "stage=",
        "count": 3,
        "source": "list",
        "job": job.pk,
    }
    page = client.get(response["Location"]).content.decode()
    assert 'id="export-waiting"' in page and 'hx-trigger="every 1s"' in page
    assert "<script>" not in page.split("</head>")[1]  # CSP: no inline script

    assert queued.run_all() == ["done"]
    job.refresh_from_db()
    assert (job.status, job.row_count, job.done_rows) == ("done", 3, 3)
    assert AuditEntry.objects.filter(action="export").count() == 1  # the worker adds none


def test_at_or_under_the_threshold_the_download_is_direct(client, org, queued):
    client.force_login(org.alice)  # sees 2 contacts: the limit itself
    response = queued.request(client, URL, {"format": "csv"})
    assert response.status_code == 200 and response.streaming
    assert not ExportJob.objects.exists() and queued.ids == []


def test_the_selection_and_the_admin_action_switch_too(client, org, queued):
    client.force_login(org.admin)
    chosen = [org.carol_contact.pk, org.alice_contact.pk, org.bob_contact.pk]
    response = queued.post(
        client, URL, {"format": "json", "selected": chosen, "filter_query": "q=buyer"}
    )
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.source == "selection" and job.filter_query == "q=buyer"
    assert set(job.contact_ids) == set(chosen)

    response = queued.post(
        client,
        "/admin/contacts/contact/",
        {"action": "export_xlsx", "_selected_action": chosen},
    )
    admin_job = ExportJob.objects.exclude(pk=job.pk).get()
    assert response.status_code == 302 and response["Location"] == admin_job.get_absolute_url()
    assert admin_job.source == "admin" and admin_job.format == "xlsx"
    assert queued.run_all() == ["done", "done"]
    assert emails_of(download(client, job), "json") == {
        org.alice_contact.email,
        org.bob_contact.email,
        org.carol_contact.email,
    }
    assert len(xlsx_rows(download(client, admin_job))) == 4


def test_a_refused_export_makes_no_job(client, org, queued):
    ContactFactory(owner=org.alice, notes="x" * 40_000)  # too long for an Excel cell
    client.force_login(org.admin)
    response = queued.request(client, URL, {"format": "xlsx"})
    assert response.status_code == 302 and response["Location"] == "/contacts/?"
    assert not ExportJob.objects.exists() and not AuditEntry.objects.exists()
    response = queued.request(client, URL, {"format": "pdf"})
    assert not ExportJob.objects.exists() and not AuditEntry.objects.exists()


# --------------------------------------------------------------------------
# The file: the same as a synchronous export, for its requester alone
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_the_job_writes_what_a_synchronous_export_would(client, org, queued, fmt):
    ContactFactory(owner=org.alice, name="=HYPERLINK(1)", email="formula@customer.example")
    org.admin.language = "zh-hans"
    org.admin.save()
    client.force_login(org.admin)
    queued.request(client, URL, {"format": fmt})
    queued.run_all()
    job = ExportJob.objects.get()
    assert job.language == "zh-hans"
    data = download(client, job)
    expected = export_bytes(org.admin, fmt, language="zh-hans")
    if fmt == "xlsx":  # the workbook's metadata carries its creation time
        assert xlsx_rows(data) == xlsx_rows(expected)
    else:
        assert data == expected
    assert data == job_file(job) and job.file_size == len(data) and job.row_count == 5


def test_download_streams_an_attachment_not_kept_by_caches(client, org, queued):
    client.force_login(org.admin)
    queued.request(client, URL, {"format": "csv"})
    queued.run_all()
    job = ExportJob.objects.get()
    response = client.get(reverse("contacts:export_download", args=[job.pk]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{job.download_name}"'
    assert response["Cache-Control"] == "no-store"
    assert job.download_name.startswith("contacts-") and job.download_name.endswith(".csv")


def test_only_the_requester_sees_and_downloads_the_job(client, org, queued):
    client.force_login(org.manager_north)
    queued.request(client, URL, {"format": "csv"})
    queued.run_all()
    job = ExportJob.objects.get()
    pages = [
        reverse(name, args=[job.pk])
        for name in ("contacts:export_job", "contacts:export_progress", "contacts:export_download")
    ]
    assert all(client.get(page).status_code == 200 for page in pages)
    for other in (org.alice, org.manager_europe, org.admin):  # the admin too: not theirs
        client.force_login(other)
        assert [client.get(page).status_code for page in pages] == [404, 404, 404]
        assert (
            f"/contacts/exports/{job.pk}/" not in client.get("/contacts/exports/").content.decode()
        )
    client.logout()
    assert all(client.get(page).status_code == 302 for page in pages)  # to the login page


def test_the_file_is_stored_privately(org, settings, export_dir, client, queued):
    client.force_login(org.admin)
    queued.request(client, URL, {"format": "csv"})
    queued.run_all()
    job = ExportJob.objects.get()
    path = export_dir / job.file_name
    assert path.is_file() and os.stat(path).st_mode & 0o077 == 0  # readable by the server only
    assert len(job.file_name) == 36  # random: 32 hex digits + ".csv", nothing guessable
    for served in (settings.MEDIA_ROOT, settings.STATIC_ROOT):
        assert not str(path.resolve()).startswith(str(Path(served).resolve()))
    assert os.listdir(export_dir) == [job.file_name]  # no temporary file left


def test_my_exports_lists_the_users_jobs_with_their_state(client, org, queued):
    client.force_login(org.admin)
    queued.request(client, URL, {"format": "csv"})
    queued.request(client, URL, {"format": "json"})
    first, second = ExportJob.objects.order_by("pk")
    run_export_job(first.pk)
    page = client.get("/contacts/exports/").content.decode()
    assert f'id="export-job-{first.pk}"' in page and f'id="export-job-{second.pk}"' in page
    assert f'href="/contacts/exports/{first.pk}/download/"' in page
    assert f'href="/contacts/exports/{second.pk}/download/"' not in page  # not made yet
    assert 'id="my-exports" href="/contacts/exports/"' in client.get("/contacts/").content.decode()


def test_the_progress_partial_polls_until_the_job_ends(client, org, queued):
    client.force_login(org.admin)
    queued.request(client, URL, {"format": "csv"})
    job = ExportJob.objects.get()
    url = reverse("contacts:export_progress", args=[job.pk])
    partial = client.get(url, HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 1s"' in partial.content and b'max="4"' in partial.content
    assert "HX-Refresh" not in partial
    queued.run_all()
    partial = client.get(url, HTTP_HX_REQUEST="true")
    assert b"hx-trigger" not in partial.content and partial["HX-Refresh"] == "true"
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'id="export-download"' in page and 'data-state="done"' in page


def test_the_requester_is_notified_once(client, org, queued):
    client.force_login(org.admin)
    queued.request(client, URL, {"format": "csv"})
    job = ExportJob.objects.get()
    assert run_export_job(job.pk) == "done"
    assert run_export_job(job.pk) == "skipped"  # a redelivered message changes nothing
    (note,) = Notification.objects.filter(user=org.admin)
    assert note.text == "Your export of 4 customers is ready: download it under “My exports”."


# --------------------------------------------------------------------------
# Scope at run time, failures
# --------------------------------------------------------------------------


def test_scope_is_applied_again_when_the_worker_runs(client, org, queued):
    client.force_login(org.manager_north)
    queued.request(client, URL, {"format": "json"})
    job = ExportJob.objects.get()
    assert org.bob_contact.pk in job.contact_ids
    # Before the worker runs, bob's customer goes to the other team's rep.
    Contact.objects.filter(pk=org.bob_contact.pk).update(owner=org.carol)
    queued.run_all()
    job.refresh_from_db()
    exported = emails_of(download(client, job), "json")
    assert exported == {org.alice_contact.email, org.pool_contact.email}
    assert job.row_count == 2 and job.total_rows == 3


def test_a_deactivated_requester_gets_no_file(client, org, queued):
    client.force_login(org.admin)
    queued.request(client, URL, {"format": "csv"})
    job = ExportJob.objects.get()
    org.admin.is_active = False
    org.admin.save()
    assert queued.run_all() == ["failed"]
    job.refresh_from_db()
    assert job.status == "failed" and "no longer active" in job.error
    assert not (export_jobs.export_dir() / job.file_name).exists()


def test_a_failed_job_says_why(client, org, queued):
    client.force_login(org.admin)
    queued.request(client, URL, {"format": "xlsx"})
    job = ExportJob.objects.get()
    # After the request, a text grows beyond what an Excel cell holds.
    Contact.objects.filter(pk=org.bob_contact.pk).update(notes="x" * 40_000)
    assert queued.run_all() == ["failed"]
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert "32,767 characters" in job.error and "CSV or JSON" in job.error
    assert os.listdir(export_jobs.export_dir()) == []  # nothing half-written
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'id="export-failed"' in page and "32,767 characters" in page
    assert 'data-state="failed"' in page
    assert f'hx-get="/contacts/exports/{job.pk}/progress/"' not in page  # polling stopped
    assert client.get(reverse("contacts:export_download", args=[job.pk])).status_code == 404
    (note,) = Notification.objects.filter(user=org.admin)
    assert note.text.startswith("Your export failed: 1 customer has a text longer")


def test_an_unexpected_error_is_shown_as_failed(client, org, queued, monkeypatch):
    def full_disk(records, language):
        yield b"\xef\xbb\xbfhalf a file"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("contacts.exporting.csv_content", full_disk)
    client.force_login(org.admin)
    queued.request(client, URL, {"format": "csv"})
    assert queued.run_all() == ["failed"]
    job = ExportJob.objects.get()
    assert job.status == "failed" and "No space left on device" in job.error
    assert os.listdir(export_jobs.export_dir()) == []


# --------------------------------------------------------------------------
# Cleanup
# --------------------------------------------------------------------------


def test_cleanup_removes_files_past_the_retention_period(client, org, queued, settings):
    client.force_login(org.admin)
    for fmt in ("csv", "json"):
        queued.request(client, URL, {"format": fmt})
    queued.run_all()
    old, recent = ExportJob.objects.order_by("pk")
    now = timezone.now()
    ExportJob.objects.filter(pk=old.pk).update(finished_at=now - timedelta(days=8))
    ExportJob.objects.filter(pk=recent.pk).update(finished_at=now - timedelta(days=6))
    folder = export_jobs.export_dir()
    stray = folder / ".left-by-a-killed-run.part"
    stray.write_bytes(b"x")
    nine_days_ago = time.time() - 9 * 24 * 3600
    os.utime(stray, (nine_days_ago, nine_days_ago))
    stuck = ExportJob.objects.create(
        requested_by=org.alice, format="csv", language="en", file_name="stuck.csv"
    )
    ExportJob.objects.filter(pk=stuck.pk).update(created_at=now - timedelta(days=2))

    assert remove_expired_exports() == {"expired": 1, "given_up": 1, "strays": 1}

    old.refresh_from_db(), recent.refresh_from_db(), stuck.refresh_from_db()
    assert old.status == "expired" and not (folder / old.file_name).exists()
    assert recent.status == "done" and (folder / recent.file_name).is_file()
    assert not stray.exists()
    assert stuck.status == "failed" and stuck.error == "The export did not finish. Export again."
    assert client.get(reverse("contacts:export_download", args=[old.pk])).status_code == 404
    page = client.get(old.get_absolute_url()).content.decode()
    assert 'id="export-expired"' in page and "removed 7 days after" in page
    assert remove_expired_exports() == {"expired": 0, "given_up": 0, "strays": 0}  # idempotent


def test_cleanup_is_a_periodic_job(capsys):
    from crm.celery import app

    job = PERIODIC_JOBS["export cleanup"]
    app.loader.import_default_modules()
    assert job["task"] in app.tasks
    call_command("setup_schedules", stdout=io.StringIO())
    task = PeriodicTask.objects.get(name="export cleanup")
    assert task.task == "contacts.tasks.remove_expired_exports"
    assert task.interval.every == job["every_seconds"] and task.expire_seconds == job["expires"]


# --------------------------------------------------------------------------
# Through a real Celery worker on Redis
# --------------------------------------------------------------------------


@pytest.fixture
def export_worker(transactional_db, tmp_path, settings, export_dir):
    """Real `celery worker` processes on the test database, the test Redis and a queue of this
    test's own (tests/followups/test_jobs_celery.py); stopped and cleaned up after."""
    from tests.followups.test_jobs_celery import celery_workers

    with celery_workers(
        "tests.followups.jobs_settings", "export-test", tmp_path, CONTACT_EXPORT_DIR=str(export_dir)
    ) as harness:
        yield harness


@pytest.mark.jobs
def test_a_real_worker_runs_the_export_and_the_requester_downloads_it(export_worker, client, org):
    from tests.followups.test_jobs_celery import wait_until

    ContactFactory(owner=org.alice, name="+SUM(1,2)", email="formula@customer.example")
    export_worker.worker("worker1")
    client.force_login(org.admin)
    response = client.get(URL, {"format": "json"})  # queued after commit (autocommit here)
    job = ExportJob.objects.get()
    assert response["Location"] == job.get_absolute_url()

    def finished():
        job.refresh_from_db()
        return job.status in ("done", "failed")

    wait_until(finished, timeout=60, what="the worker to finish the export")
    assert job.status == "done", job.error
    data = download(client, job)
    assert json.loads(data) == json.loads(export_bytes(org.admin, "json"))
    assert len(json.loads(data)) == 5
    assert Notification.objects.filter(user=org.admin).count() == 1
    client.force_login(org.alice)
    assert client.get(reverse("contacts:export_download", args=[job.pk])).status_code == 404
