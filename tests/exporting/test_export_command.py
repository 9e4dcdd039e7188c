"""`manage.py export_contacts`: what the user may see, audited, formula-safe, importable back,
written whole or not at all."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEntry
from contacts.importing import import_contacts
from contacts.models import Contact
from tests.exporting.test_export import (
    FIELDS,
    HEADERS_EN,
    HEADERS_ZH,
    all_contacts,
    csv_rows,
    emails_of,
    flush_crm,
    xlsx_rows,
)
from tests.factories import ContactFactory, UserFactory
from tests.importing.conftest import FIXTURES, load_expected

pytestmark = pytest.mark.django_db

JSON_KEYS = [
    "name",
    "company",
    "country",
    "email",
    "phone",
    "job_title",
    "linkedin_url",
    "channel",
    "first_contact_date",
    "first_product",
    "stage",
    "grade",
    "purchase_cycle",
    "last_contact_date",
    "summary",
    "next_follow_up",
    "tags",
    "owner",
    "referrer",
    "notes",
    "other_emails",
]


def export(username, fmt, path, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "export_contacts",
        user=username,
        format=fmt,
        output=str(path),
        stdout=out,
        stderr=err,
        **options,
    )
    return out.getvalue(), err.getvalue()


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def salespeople(db):
    call_command("load_users", str(FIXTURES / "salespeople.json"), stdout=io.StringIO())


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
@pytest.mark.parametrize(
    "actor, visible",
    [
        ("alice", {"alice", "pool"}),  # a rep: their own and the public pool
        ("manager_north", {"alice", "bob", "pool"}),
        ("admin", {"alice", "bob", "carol", "pool"}),
    ],
)
def test_exports_what_the_user_may_see(org, tmp_path, fmt, actor, visible):
    user = getattr(org, actor)
    path = tmp_path / f"out.{fmt}"
    out, _err = export(user.username, fmt, path)
    exported = emails_of(path.read_bytes(), fmt)
    assert exported == {getattr(org, f"{who}_contact").email for who in visible}
    assert exported == set(Contact.objects.visible_to(user).values_list("email", flat=True))
    assert out.strip() == (
        f"Exported {len(visible)} contacts visible to {user.username} as {fmt} to {path}."
    )
    assert files_in(tmp_path) == [path.name]  # no temporary file left beside it


def test_the_export_is_audited_like_any_other(org, tmp_path):
    export("mgr_north", "csv", tmp_path / "out.csv")
    entry = AuditEntry.objects.get(action="export")
    assert entry.actor == org.manager_north
    assert sorted(entry.object_ids) == sorted(
        [org.alice_contact.pk, org.bob_contact.pk, org.pool_contact.pk]
    )
    assert entry.detail == {"format": "csv", "filter": "", "count": 3, "source": "command"}


def test_json_keys_and_values_have_the_fixture_contacts_shape(salespeople, tmp_path):
    import_contacts(FIXTURES / "customer_list_2024.xlsx")
    admin = UserFactory(username="boss", role="admin")
    path = tmp_path / "out.json"
    export(admin.username, "json", path)
    items = {item["email"]: item for item in json.loads(path.read_text("utf-8"))}
    assert all(list(item) == JSON_KEYS for item in items.values())
    samples = load_expected("customer_list_2024.xlsx")["sample_rows"]
    assert samples
    for sample in samples:
        expected = sample["expected"]
        assert items[expected["email"]] == expected, sample["row"]


def test_csv_has_a_bom_and_the_users_language_unless_told(org, tmp_path):
    org.alice.language = "zh-hans"
    org.alice.save()
    export("alice", "csv", tmp_path / "zh.csv")
    data = (tmp_path / "zh.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert csv_rows(data)[0] == HEADERS_ZH
    export("alice", "csv", tmp_path / "en.csv", language="en")
    assert csv_rows((tmp_path / "en.csv").read_bytes())[0] == HEADERS_EN
    export("alice", "xlsx", tmp_path / "en.xlsx", language="en")
    assert [value for value, _type in xlsx_rows((tmp_path / "en.xlsx").read_bytes())[0]] == (
        HEADERS_EN
    )


def test_formula_payloads_are_neutralised(org, tmp_path):
    ContactFactory(owner=org.alice, name="=cmd|' /C calc'!A0", email="f@formula.example")
    export("alice", "csv", tmp_path / "out.csv")
    rows = [
        dict(zip(FIELDS, row, strict=True)) for row in csv_rows((tmp_path / "out.csv").read_bytes())
    ]
    (row,) = [r for r in rows if r["email"] == "f@formula.example"]
    assert row["name"] == "'=cmd|' /C calc'!A0"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_an_export_made_by_the_command_imports_back_unchanged(salespeople, tmp_path, fmt):
    import_contacts(FIXTURES / "customer_list_2024.xlsx")
    before = all_contacts()
    UserFactory(username="boss", role="admin", language="zh-hans")
    path = tmp_path / f"export.{fmt}"
    export("boss", fmt, path)

    flush_crm()
    report = import_contacts(path).report

    assert report["totals"]["created"] == len(before)
    assert report["totals"]["rejected"] == 0 and report["duplicates"] == []
    assert all_contacts() == before


def test_output_dash_writes_to_standard_output(org):
    out, err = export("alice", "json", "-")
    assert {item["email"] for item in json.loads(out)} == {
        org.alice_contact.email,
        org.pool_contact.email,
    }
    assert err.strip() == "Exported 2 contacts visible to alice as json to standard output."


def test_output_dash_writes_bytes_where_standard_output_takes_them(org):
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    call_command(
        "export_contacts",
        user="alice",
        format="xlsx",
        output="-",
        stdout=stdout,
        stderr=io.StringIO(),
    )
    data = stdout.buffer.getvalue()
    assert data.startswith(b"PK")  # a zip: the workbook
    assert len(xlsx_rows(data)) == 3  # header + alice's contact + the pool contact


# --------------------------------------------------------------------------
# Errors: a clear CommandError, no file, no audit entry
# --------------------------------------------------------------------------


def test_unknown_user(org, tmp_path):
    with pytest.raises(CommandError, match="No user with the username 'nobody'"):
        export("nobody", "csv", tmp_path / "out.csv")
    assert files_in(tmp_path) == [] and not AuditEntry.objects.exists()


def test_inactive_user(org, tmp_path):
    org.alice.is_active = False
    org.alice.save()
    with pytest.raises(CommandError, match="'alice' is inactive"):
        export("alice", "csv", tmp_path / "out.csv")
    assert files_in(tmp_path) == [] and not AuditEntry.objects.exists()


@pytest.mark.parametrize("option, value", [("format", "pdf"), ("language", "fr")])
def test_unknown_format_or_language(org, tmp_path, option, value):
    options = {"user": "alice", "format": "csv", "output": str(tmp_path / "out"), option: value}
    with pytest.raises(CommandError, match=f"invalid choice: '{value}'"):
        call_command("export_contacts", stdout=io.StringIO(), **options)
    assert files_in(tmp_path) == [] and not AuditEntry.objects.exists()


def test_unwritable_output_path(org, tmp_path):
    with pytest.raises(CommandError, match="Cannot write to .*missing/out.csv"):
        export("alice", "csv", tmp_path / "missing" / "out.csv")
    with pytest.raises(CommandError, match="is a folder"):
        export("alice", "csv", tmp_path)
    assert files_in(tmp_path) == [] and not AuditEntry.objects.exists()


def test_a_refused_export_leaves_an_existing_file_as_it_was(org, tmp_path):
    ContactFactory(owner=org.alice, notes="x" * 40_000)  # more than an Excel cell holds
    path = tmp_path / "out.xlsx"
    path.write_bytes(b"the previous export")
    with pytest.raises(CommandError, match="32,767 characters.*Nothing was exported"):
        export("alice", "xlsx", path)
    assert path.read_bytes() == b"the previous export"
    assert files_in(tmp_path) == ["out.xlsx"] and not AuditEntry.objects.exists()


def test_a_failure_while_writing_leaves_no_half_file(org, tmp_path, monkeypatch):
    import contacts.exporting

    def broken(records, language):
        yield b"\xef\xbb\xbfpart of a file"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(contacts.exporting, "csv_content", broken)
    path = tmp_path / "out.csv"
    with pytest.raises(CommandError, match="No space left on device"):
        export("alice", "csv", path)
    assert files_in(tmp_path) == []
