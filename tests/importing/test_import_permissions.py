"""Who may use the import pages: anonymous users go to the login page; signed-in users without
the import permission (reps, managers) get 403 on every import URL, GET and POST, and nothing
happens: no job, no stored file, no contact, no change to any job. An admin asking for a job
that does not exist gets 404.
"""

# The fixtures imported from test_import_flow are the test functions' parameters.
# ruff: noqa: F811

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from contacts.importing import jobs
from contacts.models import ImportJob

from .conftest import FIXTURES
from .test_import_flow import (  # noqa: F401  (fixtures)
    CANTON,
    confirm,
    eager,
    stored_files,
    upload_dir,
    uploaded_job,
)

ONE_ROW = b"Name,Email,Company\nAnna,anna@buyer.example,Anna GmbH\n"
JOB_URLS = (
    "import_preview",
    "import_confirm",
    "import_discard",
    "import_progress",
    "import_result",
    "import_report",
    "import_undo",
    "import_run_again",
)
GET_ONLY = {"import_progress", "import_result", "import_report"}
POST_ONLY = {"import_confirm", "import_discard", "import_undo", "import_run_again"}


@pytest.fixture
def import_jobs(client, org, salespeople, eager, django_capture_on_commit_callbacks):
    """A job in each state a refused request could change: a preview, a finished import
    (undo) and a stale one (run again)."""
    client.force_login(org.admin)
    done = uploaded_job(client, "done.csv", content=ONE_ROW)
    confirm(client, eager, done)
    assert done.status == "done"
    stale = uploaded_job(client, "stale.csv", content=ONE_ROW.replace(b"anna", b"berta"))
    with django_capture_on_commit_callbacks(execute=False):
        jobs.queue_import(stale)
    ImportJob.objects.filter(pk=stale.pk).update(status="running")
    stale.refresh_from_db()
    assert jobs.is_stale(stale)
    preview = uploaded_job(client)
    client.logout()
    return {"preview": preview, "done": done, "stale": stale}


def every_request(import_jobs):
    """(method, url, data) for every import URL and both methods, against every job."""
    requests = []
    for method in ("get", "post"):
        data = (
            {"file": SimpleUploadedFile(CANTON, (FIXTURES / CANTON).read_bytes())}
            if method == "post"
            else {}
        )
        requests.append((method, reverse("contacts:import_upload"), data))
    for job in import_jobs.values():
        for name in JOB_URLS:
            url = reverse(f"contacts:{name}", args=[job.pk])
            requests.append(("get", url, {}))
            requests.append(("post", url, {"map-0-A": "notes", "map-0-E": "ignored"}))
    return requests


def everything(upload_folder):
    """Every row of every table (sessions aside: a request may touch its own) and the private
    upload folder."""
    state = {"uploads": stored_files(upload_folder)}
    for model in apps.get_models():
        if model is Session or model._meta.proxy or not model._meta.managed:
            continue
        state[model._meta.label] = list(model._base_manager.order_by("pk").values_list())
    return state


@pytest.mark.parametrize("who, language", [("alice", "en"), ("manager_north", "zh-hans")])
def test_reps_and_managers_get_403_everywhere_and_nothing_happens(
    client, org, import_jobs, upload_dir, who, language
):
    user = getattr(org, who)
    user.language = language
    user.save()
    assert not user.has_perm("contacts.import_contacts")
    client.force_login(user)
    before = everything(upload_dir)
    # The preview's and the stale job's uploads, each with its prepared rows.
    assert len(before["uploads"]) == 4

    with translation.override(language):
        title = translation.gettext("Forbidden")
    for method, url, data in every_request(import_jobs):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url, response.status_code)
        html = response.content.decode()
        assert f'<html lang="{language}">' in html, url
        assert f"<h1>{title}</h1>" in html and 'id="import-forbidden"' in html, url
        for job in import_jobs.values():
            assert job.file_name not in html  # nothing about any import
        assert "HX-Refresh" not in response.headers
    assert everything(upload_dir) == before
    if language == "zh-hans":
        assert title == "禁止访问"


def test_a_rep_with_other_permissions_and_staff_access_is_refused_too(
    client, org, import_jobs, upload_dir
):
    from django.contrib.auth.models import Permission

    staff = type(org.alice).objects.get(pk=org.alice.pk)
    staff.is_staff = True
    staff.save()
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label="contacts").exclude(
            codename="import_contacts"
        )
    )
    client.force_login(staff)
    before = everything(upload_dir)
    for method, url, data in every_request(import_jobs):
        assert getattr(client, method)(url, data).status_code == 403, (method, url)
    assert everything(upload_dir) == before


def test_anonymous_users_are_sent_to_the_login_page(client, import_jobs, upload_dir):
    before = everything(upload_dir)
    for method, url, data in every_request(import_jobs):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and response.url.startswith("/login/"), url
    assert everything(upload_dir) == before


def test_an_admin_asking_for_a_job_that_does_not_exist_gets_404(client, org, import_jobs):
    client.force_login(org.admin)
    missing = max(job.pk for job in import_jobs.values()) + 1000
    for name in JOB_URLS:
        url = reverse(f"contacts:{name}", args=[missing])
        methods = (
            ["get"] if name in GET_ONLY else ["post"] if name in POST_ONLY else ["get", "post"]
        )
        for method in methods:
            assert getattr(client, method)(url).status_code == 404, (method, url)
    # The permission given to someone else covers their own imports: the admin's are missing.
    from django.contrib.auth.models import Permission

    org.bob.user_permissions.add(
        Permission.objects.get(content_type__app_label="contacts", codename="import_contacts")
    )
    client.force_login(org.bob)
    preview = import_jobs["preview"]
    assert client.get(reverse("contacts:import_upload")).status_code == 200
    assert client.get(reverse("contacts:import_preview", args=[preview.pk])).status_code == 404
    assert client.post(reverse("contacts:import_confirm", args=[preview.pk])).status_code == 404
