"""The import engine's behaviour around the rules: dry run, re-import, provenance, audit,
progress, the command line, and inputs the fixtures don't cover (merged data cells, semicolons,
uploads)."""

import datetime
import io
import json
import zoneinfo

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from accounts.models import AuditEntry
from contacts.importing import ImportFileError, import_contacts
from contacts.models import Contact, ImportedContact, ImportJob

from .conftest import FIXTURES, database_counts, load_expected, load_manifest, stored_contact

REGISTER = "客户登记表_张伟_2023.xlsx"


def test_dry_run_writes_nothing_and_reports_what_would_happen(salespeople):
    before = database_counts()
    dry = import_contacts(FIXTURES / REGISTER, dry_run=True)
    assert database_counts() == before
    assert dry.job is None and dry.created_ids == []
    assert dry.report["dry_run"] is True

    real = import_contacts(FIXTURES / REGISTER)
    assert real.report == {**dry.report, "dry_run": False}
    assert Contact.objects.count() == load_expected(REGISTER)["totals"]["created"]


def test_dry_run_against_existing_contacts_reports_the_matches(salespeople):
    import_contacts(FIXTURES / "old_customers_2019.xls")
    before = database_counts()
    report = import_contacts(FIXTURES / REGISTER, dry_run=True).report
    assert database_counts() == before
    assert (report["totals"]["created"], report["totals"]["matched_existing"]) == (38, 3)


def test_importing_the_same_file_twice_creates_nothing_new(salespeople):
    first = import_contacts(FIXTURES / "sales_team_customers_by_rep.xlsx")
    before = database_counts()
    updated = dict(Contact.objects.values_list("pk", "updated_at"))

    second = import_contacts(FIXTURES / "sales_team_customers_by_rep.xlsx")

    totals = second.report["totals"]
    assert totals["created"] == 0
    assert totals["matched_existing"] == first.report["totals"]["created"]
    assert second.created_ids == []
    assert all(not row["filled_fields"] for row in second.report["matched_rows"])
    assert all(not row["conflicts"] for row in second.report["matched_rows"])
    # Only the job (with its report) and the audit entry are new.
    assert database_counts() == {**before, "jobs": before["jobs"] + 1, "audit": before["audit"] + 1}
    assert dict(Contact.objects.values_list("pk", "updated_at")) == updated
    # Every match names the row of the first import that created the contact.
    first_rows = {
        record.contact_id: (record.sheet, record.row)
        for record in ImportedContact.objects.filter(job=first.job)
    }
    for row in second.report["matched_rows"]:
        contact = Contact.objects.get(email=row["email"])
        assert row["existing_from"] == {
            "file": "sales_team_customers_by_rep.xlsx",
            "sheet": first_rows[contact.pk][0],
            "row": first_rows[contact.pk][1],
        }


def test_import_writes_job_provenance_and_one_audit_entry(salespeople):
    admin = salespeople["lina"]
    result = import_contacts(FIXTURES / "old_customers_2019.xls", actor=admin)
    job = result.job
    assert job.created_by == admin and job.status == "done" and job.finished_at
    audit = AuditEntry.objects.get(action="import")
    assert audit.actor == admin and audit.object_type == "contact"
    assert sorted(audit.object_ids) == sorted(result.created_ids)
    assert audit.count == 32
    assert audit.detail == {
        "job": job.pk,
        "file": "old_customers_2019.xls",
        "data_rows": 34,
        "created": 32,
        "matched_existing": 0,
        "rejected": 2,
        "warnings": 0,
    }
    assert set(Contact.objects.values_list("created_by", flat=True)) == {admin.pk}
    record = ImportedContact.objects.get(job=job, sheet="客户资料", row=7)
    assert record.created and record.contact.email == "mschneider@schneider-haushaltswaren.example"

    second = import_contacts(FIXTURES / REGISTER, actor=admin)
    filled = ImportedContact.objects.get(job=second.job, contact=record.contact)
    assert not filled.created
    assert filled.filled_fields == ["purchase_cycle", "summary", "next_follow_up"]
    assert (filled.sheet, filled.row) == ("客户登记表", 8)


def test_tags_and_other_emails_added_to_an_existing_contact_are_recorded(salespeople):
    first = io.BytesIO(b"Name,Email,Tags,Phone\nAnn,ann@a.example,VIP,\n")
    import_contacts(first, filename="first.csv")
    second = io.BytesIO(b'Name,Email,Tags\nAnn B,ann@a.example; ann2@a.example,"vip, OEM"\n')
    result = import_contacts(second, filename="second.csv")
    assert result.report["matched_rows"] == [
        {
            "sheet": None,
            "row": 2,
            "email": "ann@a.example",
            "existing_from": {"file": "first.csv", "sheet": None, "row": 2},
            "filled_fields": ["tags", "other_emails"],
            "conflicts": [{"field": "name", "kept": "Ann", "incoming": "Ann B"}],
        }
    ]
    record = ImportedContact.objects.get(job=result.job)
    assert (record.tags_added, record.other_emails_added) == (["OEM"], ["ann2@a.example"])
    stored = stored_contact("ann@a.example")
    assert stored["tags"] == ["VIP", "OEM"]  # "vip" is the existing tag VIP
    assert stored["other_emails"] == ["ann2@a.example"]


def test_last_contact_date_is_midnight_in_the_crm_time_zone(salespeople, settings):
    import_contacts(
        io.BytesIO("Name,Email,Phone,最近联系时间\nA,a@a.example,,2025-03-05\n".encode()),
        filename="a.csv",
    )
    stored = Contact.objects.get().last_contacted_at
    assert stored == datetime.datetime(2025, 3, 5, tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))


def test_progress_is_reported_every_200_rows(salespeople):
    lines = ["Name,Email,Phone"] + [f"P{i},p{i}@a.example," for i in range(450)]
    calls = []
    import_contacts(
        io.BytesIO("\n".join(lines).encode()),
        filename="p.csv",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(200, 450), (400, 450), (450, 450)]


def test_a_given_job_is_run_and_finished(salespeople):
    job = ImportJob.objects.create(file_name="old_customers_2019.xls")
    result = import_contacts(FIXTURES / "old_customers_2019.xls", job=job)
    job.refresh_from_db()
    assert result.job == job and job.status == "done" and job.report == result.report

    dry_job = ImportJob.objects.create(file_name="x.xls")
    import_contacts(FIXTURES / "old_customers_2019.xls", job=dry_job, dry_run=True)
    dry_job.refresh_from_db()
    assert dry_job.status == "done" and dry_job.dry_run and dry_job.report["dry_run"]
    assert not ImportedContact.objects.filter(job=dry_job).exists()


def test_a_given_job_is_marked_failed_with_the_message(salespeople, tmp_path):
    path = tmp_path / "empty.xlsx"
    path.write_bytes(b"")
    job = ImportJob.objects.create(file_name="empty.xlsx")
    with pytest.raises(ImportFileError):
        import_contacts(path, job=job)
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "The file is empty." and job.finished_at


def test_default_owner_owns_rows_without_an_owner(salespeople):
    data = "Name,Email,Owner\nA,a@a.example,\nB,b@a.example,Kevin\nC,c@a.example,小王\n"
    import_contacts(
        io.BytesIO(data.encode()), filename="o.csv", default_owner=salespeople["chenjing"]
    )
    owners = dict(Contact.objects.values_list("email", "owner__username"))
    assert owners == {
        "a@a.example": "chenjing",
        "b@a.example": "kevinli",
        "c@a.example": "chenjing",
    }


def test_uploaded_file_objects_are_read_like_paths(salespeople):
    content = (FIXTURES / "canton_fair_2024_leads_gbk.csv").read_bytes()
    upload = SimpleUploadedFile("canton_fair_2024_leads_gbk.csv", content)
    report = import_contacts(upload, dry_run=True).report
    from_path = import_contacts(FIXTURES / "canton_fair_2024_leads_gbk.csv", dry_run=True).report
    assert report == from_path


def test_semicolon_gbk_csv_with_crlf_and_quoted_line_breaks(salespeople):
    text = (
        "客户姓名;邮箱;电话;国家;备注\r\n"
        '张三;zhang@a.example;138 0013 8000;中国;"第一行\r\n第二行"\r\n'
        "\r\n"
        "李四;LI@A.EXAMPLE ;;德国;\r\n"
    )
    report = import_contacts(io.BytesIO(text.encode("gbk")), filename="x.csv").report
    assert report["sheets"][0]["columns"][1] == {"column": "B", "header": "邮箱", "field": "email"}
    assert report["sheets"][0]["empty_rows_skipped"] == [3]
    assert report["sheets"][0]["last_data_row"] == 4  # the quoted line break stays one record
    assert stored_contact("zhang@a.example")["notes"] == "第一行\r\n第二行"
    assert stored_contact("zhang@a.example")["phone"] == "+8613800138000"
    assert stored_contact("li@a.example")["country"] == "DE"


def test_merged_data_cells_give_every_row_the_top_left_value(salespeople, tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Team"
    sheet.append([None, None, "Customer list"])  # title; the table starts in column C
    sheet.append([])
    sheet.append([None, None, "Name", "Email", "Owner", "Tel"])
    sheet.append([None, None, "A", "a@a.example", "Kevin", None])
    sheet.append([None, None, "B", "b@a.example", None, None])
    sheet.append([None, None, "C", "c@a.example", None, None])
    sheet.append([None, None, "D", "d@a.example", "Nina", None])
    sheet.merge_cells("C1:F1")
    sheet.merge_cells("E4:E6")
    path = tmp_path / "merged.xlsx"
    workbook.save(path)

    report = import_contacts(path).report

    scan = report["sheets"][0]
    assert (scan["header_row"], scan["first_data_row"], scan["last_data_row"]) == (3, 4, 7)
    assert [c["column"] for c in scan["columns"]] == ["C", "D", "E", "F"]
    owners = dict(Contact.objects.values_list("email", "owner__username"))
    assert owners == {
        "a@a.example": "kevinli",
        "b@a.example": "kevinli",
        "c@a.example": "kevinli",
        "d@a.example": "lina",
    }


def test_a_sheet_with_a_header_and_no_rows_is_imported_with_zero_rows(salespeople, tmp_path):
    path = tmp_path / "empty_table.csv"
    path.write_text("Name,Email,Phone\n\n\n", encoding="utf-8")
    report = import_contacts(path).report
    assert report["sheets"] == [
        {
            "sheet": None,
            "imported": True,
            "header_row": 1,
            "first_data_row": None,
            "last_data_row": None,
            "columns": [
                {"column": "A", "header": "Name", "field": "name"},
                {"column": "B", "header": "Email", "field": "email"},
                {"column": "C", "header": "Phone", "field": "phone"},
            ],
            "owner_from_sheet_name": None,
            "data_rows": 0,
            "empty_rows_skipped": [],
        }
    ]
    assert report["totals"]["data_rows"] == 0


def test_an_e_mail_created_meanwhile_by_another_import_is_matched_on_retry(
    salespeople, monkeypatch
):
    """The unique e-mail index catches a concurrent import; the import plans again."""
    from contacts.importing import engine

    Contact.objects.create(email="ann@a.example", name="Ann")
    real_load = engine.load_existing
    calls = []

    def stale_then_real(emails, *, lock):
        calls.append(lock)
        return {} if len(calls) == 1 else real_load(emails, lock=lock)

    monkeypatch.setattr(engine, "load_existing", stale_then_real)
    data = b"Name,Email,Phone\nAnn B,ann@a.example,\nBob,bob@a.example,\n"
    report = import_contacts(io.BytesIO(data), filename="r.csv").report
    assert calls == [True, True]
    assert (report["totals"]["created"], report["totals"]["matched_existing"]) == (1, 1)
    assert Contact.objects.count() == 2 and ImportJob.objects.count() == 1


def test_the_portable_write_path_gives_the_same_result(salespeople, monkeypatch):
    """The embedded SQLite default can't use PostgreSQL's arrays: the ORM path must agree."""
    from crm import bulk

    monkeypatch.setattr(bulk, "postgres_sql", lambda: False)
    import_contacts(FIXTURES / "old_customers_2019.xls")
    report = import_contacts(FIXTURES / REGISTER).report

    manifest = load_manifest()["sequential_import"]["per_file"]
    assert report["matched_rows"] == manifest[1]["matched_rows"]
    assert Contact.objects.count() == 32 + 38
    for sample in load_expected(REGISTER)["sample_rows"]:
        email = sample["expected"]["email"]
        if email not in {row["email"] for row in report["matched_rows"]}:
            assert stored_contact(email) == sample["expected"]


def test_row_by_row_key_checks_give_the_same_result(salespeople, settings):
    """Where the database role may not skip PostgreSQL's per-row foreign-key checks (or the
    setting is off), the import stores the same contacts, tags and provenance."""
    settings.BULK_SET_BASED_KEY_CHECKS = False
    import_contacts(FIXTURES / "old_customers_2019.xls")
    report = import_contacts(FIXTURES / REGISTER).report

    manifest = load_manifest()["sequential_import"]["per_file"]
    assert report["matched_rows"] == manifest[1]["matched_rows"]
    assert Contact.objects.count() == 32 + 38
    assert ImportedContact.objects.count() == sum(
        entry["created"] + len([r for r in entry["matched_rows"] if r["filled_fields"]])
        for entry in manifest[:2]
    )
    for sample in load_expected(REGISTER)["sample_rows"]:
        email = sample["expected"]["email"]
        if email not in {row["email"] for row in report["matched_rows"]}:
            assert stored_contact(email) == sample["expected"]


# --- the command line ---


def test_command_json_report_equals_the_engines(salespeople, capsys):
    expected = import_contacts(FIXTURES / "linkedin_outreach_utf8bom.csv", dry_run=True).report
    call_command(
        "import_contacts", str(FIXTURES / "linkedin_outreach_utf8bom.csv"), "--format=json"
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == {**expected, "dry_run": False}
    assert Contact.objects.count() == 29


def test_command_dry_run_and_owner(salespeople, capsys):
    call_command(
        "import_contacts",
        str(FIXTURES / "customer_list_2024.xlsx"),
        "--dry-run",
        "--owner",
        "lina",
        "--format",
        "json",
    )
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["totals"]["created"] == 53
    assert Contact.objects.count() == 0


def test_command_text_summary(salespeople, capsys):
    call_command("import_contacts", str(FIXTURES / REGISTER))
    out = capsys.readouterr().out
    assert "44 data rows: 41 created, 0 matched existing contacts, 3 rejected" in out
    assert "客户登记表!row 26: owner unknown_owner ('小王')" in out


def test_command_refuses_bad_files_and_unknown_owners(salespeople, tmp_path):
    bad = tmp_path / "contacts.xlsx"
    bad.write_bytes(b"MZ\x90\x00" + b"\x00" * 200)
    with pytest.raises(CommandError, match="does not match its extension"):
        call_command("import_contacts", str(bad))
    with pytest.raises(CommandError, match="No user with the username 'nobody'"):
        call_command("import_contacts", str(FIXTURES / REGISTER), "--owner", "nobody")
    assert database_counts()["contacts"] == 0
    assert database_counts()["jobs"] == 0


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_import_leaves_no_reference_cycles_behind(salespeople, dry_run):
    """The engine pauses the cyclic garbage collector; rows caught in reference cycles (a raised
    ValidationError refers to itself and holds its frames) would then pile up until it ends.
    The master file has invalid addresses, phones and dates on every page."""
    import gc

    gc.collect()
    gc.disable()
    try:
        result = import_contacts(FIXTURES / "customer_master_5000.xlsx", dry_run=dry_run)
        assert result.totals["rejected"] > 0
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert gc.isenabled()
    assert unreachable < 100, "an import's rows are caught in reference cycles"
