"""Every legacy fixture imported alone into an empty CRM reproduces its *.expected.json exactly,
and all of them imported one after another reproduce manifest.json's sequential_import."""

import pytest
from django.utils.html import escape

from contacts.importing import import_contacts
from contacts.models import Contact, ImportedContact, ImportJob

from .conftest import (
    EXPECTED_FILES,
    FIXTURES,
    as_expected,
    assert_contact_matches,
    load_expected,
    load_manifest,
    stored_contact,
)

FILE_NAMES = [path.name.removesuffix(".expected.json") for path in EXPECTED_FILES]


def test_every_fixture_has_an_expectation():
    assert len(FILE_NAMES) == 9
    assert sorted(FILE_NAMES) == sorted(f["file"] for f in load_manifest()["files"])


@pytest.mark.parametrize("name", FILE_NAMES)
def test_fixture_imports_exactly_as_expected(name, salespeople):
    expected = load_expected(name)

    result = import_contacts(FIXTURES / name)
    report = result.report

    assert report["file"] == name
    assert report["sha256"] == expected["sha256"]
    assert report["format"] == expected["format"]
    assert report["sheets"] == expected["sheets"]
    assert report["totals"] == {**expected["totals"], "matched_existing": 0}
    assert report["rejected_rows"] == expected["rejected_rows"]
    assert report["warnings"] == expected["warnings"]
    assert report["duplicates"] == expected["duplicates"]
    assert report["matched_rows"] == []

    assert Contact.objects.count() == expected["totals"]["created"]
    assert len(result.created_ids) == expected["totals"]["created"]
    for sample in expected["sample_rows"]:
        where = f"{name} {sample['sheet']}!{sample['row']}"
        assert_contact_matches(sample["expected"]["email"], sample["expected"], where)

    job = ImportJob.objects.get()
    assert (job.file_name, job.sha256, job.status, job.dry_run) == (
        name,
        expected["sha256"],
        "done",
        False,
    )
    assert job.report == report
    assert job.total_rows == job.done_rows == expected["totals"]["data_rows"]
    assert ImportedContact.objects.filter(job=job, created=True).count() == len(result.created_ids)


@pytest.mark.parametrize("name", [n for n in FILE_NAMES if load_expected(n).get("hostile_cells")])
def test_hostile_cells_are_stored_exactly_as_read(name, salespeople):
    expected = load_expected(name)
    report = import_contacts(FIXTURES / name).report
    rows = {}
    for sample in expected["sample_rows"]:
        rows[(sample["sheet"], sample["row"])] = sample["expected"]["email"]
    for cell in expected["hostile_cells"]:
        key = (cell["sheet"], cell["row"])
        if "outcome" in cell:  # the payload was in the e-mail cell: the row is rejected
            assert {
                "sheet": cell["sheet"],
                "row": cell["row"],
                "reason": "invalid_email",
                "value": cell["raw_value"],
            } in report["rejected_rows"]
            continue
        email = rows.get(key) or _email_of_row(report, expected, key)
        contact = Contact.objects.get(email=email)
        stored = stored_contact(contact.email)[cell["field"]]
        assert as_expected(stored, cell["stored_value"]) == cell["stored_value"], cell
        if "html_escaped" in cell:
            assert escape(stored) == cell["html_escaped"]
        if "warning" in cell:
            assert {
                "sheet": cell["sheet"],
                "row": cell["row"],
                "field": cell["field"],
                "code": cell["warning"],
            }.items() <= next(
                w for w in report["warnings"] if (w["sheet"], w["row"]) == key
            ).items()


def _email_of_row(report, expected, key):
    """Hostile cells outside the sample rows: find the contact through the provenance rows."""
    record = ImportedContact.objects.get(sheet=key[0], row=key[1], created=True)
    return record.contact.email


def test_sequential_import_of_all_files(salespeople):
    """manifest.json: every file in order into one CRM; later files merge into earlier ones."""
    sequence = load_manifest()["sequential_import"]
    per_file = {entry["file"]: entry for entry in sequence["per_file"]}
    for name in sequence["order"]:
        expected = per_file[name]
        report = import_contacts(FIXTURES / name).report
        totals = report["totals"]
        assert totals["data_rows"] == expected["data_rows"], name
        assert totals["created"] == expected["created"], name
        assert totals["matched_existing"] == expected["matched_existing"], name
        assert totals["rejected_by_reason"] == expected["rejected_by_reason"], name
        assert report["matched_rows"] == expected["matched_rows"], name

    assert Contact.objects.count() == sequence["contacts_total"]
    for email, contact in sequence["contacts_in_several_files"].items():
        assert_contact_matches(email, contact["final"], f"final state ({contact['files']})")

    # Provenance for a later undo: what each import filled on contacts of earlier files.
    for entry in sequence["per_file"]:
        filled = {row["email"]: row["filled_fields"] for row in entry["matched_rows"]}
        job = ImportJob.objects.get(file_name=entry["file"])
        records = {
            record.contact.email: record.filled_fields
            for record in ImportedContact.objects.filter(job=job, created=False)
        }
        assert records == {email: fields for email, fields in filled.items() if fields}
