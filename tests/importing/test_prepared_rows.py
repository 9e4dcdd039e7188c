"""The confirmed import uses the preview's normalised rows instead of reading the file again,
but only when they were made from the same file, corrections and users."""

import io
import json

import pytest
from django.core.management import call_command

from contacts.importing import engine, jobs, prepared
from contacts.models import Contact
from tests.factories import UserFactory

from .conftest import FIXTURES
from .test_import_flow import (  # noqa: F401 - eager and upload_dir are fixtures
    CANTON,
    confirm,
    eager,
    stored_files,
    upload_dir,
    uploaded_job,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def salespeople():
    call_command("load_users", str(FIXTURES / "salespeople.json"), stdout=io.StringIO())


@pytest.fixture
def reads(monkeypatch):
    """How often the engine reads a spreadsheet."""
    calls = []
    read_file = engine.read_file

    def counting(*args, **kwargs):
        calls.append(1)
        return read_file(*args, **kwargs)

    monkeypatch.setattr(engine, "read_file", counting)
    return calls


def imported_contact_values():
    """Every stored contact as the fields users see, ids and times left out."""
    fields = [
        f.name
        for f in Contact._meta.concrete_fields
        if f.name not in ("id", "created_at", "updated_at", "company")
    ]
    return [
        {
            **values,
            "tags": sorted(
                Contact.objects.get(email=values["email"]).tags.values_list("name", flat=True)
            ),
        }
        for values in Contact.objects.order_by("email").values(*fields, "company__name")
    ]


def test_the_confirmed_import_does_not_read_the_file_again(
    admin_client,
    eager,  # noqa: F811
    upload_dir,  # noqa: F811
    salespeople,
    reads,
):
    job = uploaded_job(admin_client)
    assert len(reads) == 1
    rows_file = jobs.prepared_rows_path(job)
    assert rows_file.is_file() and oct(rows_file.stat().st_mode & 0o777) == "0o600"

    confirm(admin_client, eager, job)

    assert len(reads) == 1
    assert job.status == "done" and job.report["totals"]["created"] == 34
    assert stored_files(upload_dir) == []  # upload and prepared rows both gone


def test_the_prepared_rows_give_exactly_what_reading_gives(tmp_path, salespeople):
    """Same report and same stored contacts, from the rows file as from the spreadsheet."""
    path = FIXTURES / "customer_list_2024.xlsx"
    rows_file = tmp_path / "rows.json"
    dry = engine.import_contacts(path, dry_run=True, prepared_rows=rows_file)
    assert rows_file.is_file()

    from_rows = engine.import_contacts(path, prepared_rows=rows_file)
    stored = imported_contact_values()
    Contact.objects.all().delete()
    from_file = engine.import_contacts(path)

    assert from_rows.report["totals"] == from_file.report["totals"] == dry.report["totals"]
    for key in ("sheets", "rejected_rows", "warnings", "duplicates"):
        assert from_rows.report[key] == from_file.report[key], key
    assert stored == imported_contact_values()


def test_new_users_since_the_preview_mean_reading_again(tmp_path, salespeople, reads):
    path = FIXTURES / CANTON
    rows_file = tmp_path / "rows.json"
    engine.import_contacts(path, dry_run=True, prepared_rows=rows_file)
    UserFactory(username="newcomer")  # owners are matched against the users: stale now
    engine.import_contacts(path, prepared_rows=rows_file)
    assert len(reads) == 2


def test_other_corrections_mean_reading_again(tmp_path, salespeople, reads):
    path = FIXTURES / CANTON
    rows_file = tmp_path / "rows.json"
    engine.import_contacts(path, dry_run=True, prepared_rows=rows_file)
    engine.import_contacts(path, prepared_rows=rows_file, column_overrides={"": {"A": "ignored"}})
    assert len(reads) == 2


@pytest.mark.parametrize(
    "content", ["", "{not json", '{"key": "forged", "sheets": [], "rows": []}']
)
def test_a_damaged_or_foreign_rows_file_is_ignored(tmp_path, salespeople, reads, content):
    path = FIXTURES / CANTON
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(content)
    result = engine.import_contacts(path, prepared_rows=rows_file)
    assert len(reads) == 1
    assert result.report["totals"]["created"] == 34


def test_the_rows_file_is_keyed_by_file_corrections_and_users():
    people = [UserFactory.build(pk=1, username="a")]
    base = prepared.fingerprint(sha256="x", column_overrides=None, people=people)
    assert base == prepared.fingerprint(sha256="x", column_overrides={}, people=people)
    assert base != prepared.fingerprint(sha256="y", column_overrides=None, people=people)
    assert base != prepared.fingerprint(
        sha256="x", column_overrides={"": {"A": "name"}}, people=people
    )
    people[0].aliases = ["Ann"]
    assert base != prepared.fingerprint(sha256="x", column_overrides=None, people=people)
    json.dumps(base)  # a plain string
