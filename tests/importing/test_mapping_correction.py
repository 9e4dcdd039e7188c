"""The preview's column mapping, corrected by the admin: nonsense (two columns on one field, a
sheet without its e-mail column, a column, sheet or field the file does not have) is refused
with a message at the sheet and column concerned, before any dry run, and the job keeps the
mapping it had; a job whose stored mapping is nonsense is never queued.

First contacts.importing.mapping on its own, then through the preview and confirm views.
"""

# The fixtures imported from test_import_flow are the test functions' parameters.
# ruff: noqa: F811

import re

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import translation

from contacts.importing.mapping import (
    MappingProblem,
    check_mapping,
    current_mapping,
    mapping_from_post,
)
from contacts.models import Contact, ImportJob

from .conftest import database_counts
from .test_import_flow import (  # noqa: F401  (fixtures)
    admin_client,
    confirm,
    eager,
    selected,
    stored_files,
    upload_dir,
    uploaded_job,
)


@pytest.fixture(autouse=True)
def english():
    """The messages below are compared in English, whatever an earlier request activated."""
    with translation.override("en"):
        yield


REPORT = {
    "file": "leads.xlsx",
    "sheets": [
        {"sheet": "Read me", "imported": False, "reason": "no_header_found"},
        {
            "sheet": "Alice",
            "imported": True,
            "columns": [
                {"column": "A", "header": "Name", "field": "name"},
                {"column": "B", "header": "Email", "field": "email"},
                {"column": "C", "header": "Company", "field": "company"},
                {"column": "D", "header": "Remark", "field": "ignored"},
            ],
        },
        {
            "sheet": "Bob",
            "imported": True,
            "columns": [
                {"column": "A", "header": "E-mail", "field": "email"},
                {"column": "B", "header": "Firm", "field": "company"},
            ],
        },
    ],
}
CSV_REPORT = {
    "file": "one.csv",
    "sheets": [
        {
            "sheet": None,
            "imported": True,
            "columns": [
                {"column": "A", "header": "Email", "field": "email"},
                {"column": "B", "header": "Name", "field": "name"},
            ],
        }
    ],
}
STRAY = (
    "The column mapping sent does not match the sheets and columns of this file. "
    "Reload the page and choose again."
)


def posted(data):
    query = QueryDict(mutable=True)
    for key, value in data:
        query.appendlist(key, value)
    return query


# --- check_mapping ------------------------------------------------------------------------------


def test_the_mapping_the_report_was_made_with_is_fine():
    assert current_mapping(REPORT) == {
        "Alice": {"A": "name", "B": "email", "C": "company", "D": "ignored"},
        "Bob": {"A": "email", "B": "company"},
    }
    assert check_mapping({}, REPORT) == []
    assert check_mapping(current_mapping(REPORT), REPORT) == []
    assert current_mapping(CSV_REPORT) == {"": {"A": "email", "B": "name"}}
    assert check_mapping({"": {"B": "ignored"}}, CSV_REPORT) == []


def test_moving_the_e_mail_to_another_column_is_fine():
    assert check_mapping({"Alice": {"B": "ignored", "D": "email"}}, REPORT) == []
    # Several ignored columns are no conflict.
    assert check_mapping({"Alice": {"A": "ignored", "C": "ignored"}}, REPORT) == []


def test_two_columns_on_one_field_are_refused_at_both_columns():
    problems = check_mapping({"Alice": {"D": "company"}}, REPORT)
    assert problems == [
        MappingProblem(
            "Columns C, D of “Alice” are all imported as “Company”: keep one of them and set "
            "the others to (not imported).",
            sheet=1,
            columns=("C", "D"),
        )
    ]
    # The e-mail on two columns: refused as well (not "the first one wins").
    problems = check_mapping({"Bob": {"B": "email"}}, REPORT)
    assert [(p.sheet, p.columns) for p in problems] == [(2, ("A", "B"))]
    # Three columns on one field: one problem naming them all.
    problems = check_mapping({"Alice": {"A": "company", "D": "company"}}, REPORT)
    assert [(p.sheet, p.columns) for p in problems] == [(1, ("A", "C", "D"))]


def test_a_sheet_without_an_e_mail_column_is_refused():
    problems = check_mapping({"Bob": {"A": "notes"}}, REPORT)
    assert problems == [MappingProblem("Choose the e-mail column of “Bob”.", sheet=2)]
    problems = check_mapping({"": {"A": "ignored"}}, CSV_REPORT)
    assert problems == [MappingProblem("Choose the e-mail column of “one.csv”.", sheet=0)]


def test_unknown_fields_columns_and_sheets_are_refused():
    assert check_mapping({"Alice": {"A": "salary"}}, REPORT) == [
        MappingProblem(
            "Column A of “Alice”: choose one of the listed fields.", sheet=1, columns=("A",)
        )
    ]
    assert check_mapping({"Alice": {"Z": "notes"}}, REPORT) == [
        MappingProblem("“Alice” has no column Z.", sheet=1)
    ]
    for sheet in ("Carol", "Read me", ""):  # no such sheet; not imported; a CSV's sheet
        problems = check_mapping({sheet: {"A": "name"}}, REPORT)
        assert [(p.sheet, p.columns) for p in problems] == [(None, ())], sheet
        assert "The file has no imported sheet called" in problems[0].message


def test_messages_speak_the_users_language():
    with translation.override("zh-hans"):
        no_email = check_mapping({"Bob": {"A": "ignored"}}, REPORT)[0].message
        twice = check_mapping({"Alice": {"D": "company"}}, REPORT)[0].message
        company = str(Contact._meta.get_field("company").verbose_name)
    assert no_email == "请选择“Bob”的邮箱列。"
    assert f"“{company}”" in twice and re.search(r"[\u3400-\u9fff]", company)


# --- mapping_from_post ------------------------------------------------------------------------


def test_nothing_posted_is_no_correction():
    choice = mapping_from_post(posted([("csrfmiddlewaretoken", "x")]), REPORT)
    assert choice.mapping is None and choice.problems == [] and choice.chosen == {}


def test_posted_selects_overlay_the_reports_mapping():
    choice = mapping_from_post(posted([("map-1-D", "notes"), ("map-2-B", "ignored")]), REPORT)
    assert choice.problems == []
    assert choice.mapping == {
        "Alice": {"A": "name", "B": "email", "C": "company", "D": "notes"},
        "Bob": {"A": "email", "B": "ignored"},
    }
    assert choice.chosen == {"map-1-D": "notes", "map-2-B": "ignored"}


def test_posted_nonsense_is_refused_and_shown_as_posted():
    choice = mapping_from_post(posted([("map-1-D", "company"), ("map-2-A", "ignored")]), REPORT)
    assert [(p.sheet, p.columns) for p in choice.problems] == [(1, ("C", "D")), (2, ())]
    assert choice.chosen == {"map-1-D": "company", "map-2-A": "ignored"}


@pytest.mark.parametrize(
    "data",
    [
        [("map-0-A", "name")],  # a sheet that is not imported
        [("map-9-A", "name")],  # no such sheet
        [("map-x-A", "name")],
        [("map-1-a", "name")],
        [("map-1", "name")],
        [("map-1-A-B", "name")],
        [("map-1-A", "name"), ("map-1-A", "company")],  # one select sent twice
    ],
)
def test_selects_the_page_never_showed_are_refused(data):
    choice = mapping_from_post(posted(data), REPORT)
    assert [p.message for p in choice.problems] == [STRAY]
    assert choice.problems[0].sheet is None


def test_an_unknown_column_or_field_is_refused():
    choice = mapping_from_post(posted([("map-1-Z", "notes")]), REPORT)
    assert choice.problems == [MappingProblem("“Alice” has no column Z.", sheet=1)]
    choice = mapping_from_post(posted([("map-1-D", "password")]), REPORT)
    assert [(p.sheet, p.columns) for p in choice.problems] == [(1, ("D",))]
    assert choice.chosen == {}  # a value the select does not offer is not shown again


# --- through the views ------------------------------------------------------------------------


def job_state(job):
    job = ImportJob.objects.get(pk=job.pk)
    return (job.status, job.queued_at, job.column_overrides, job.report, job.sha256)


def test_two_columns_on_one_field_are_refused_on_the_preview(admin_client):
    job = uploaded_job(admin_client)
    before, counts = job_state(job), database_counts()
    url = reverse("contacts:import_preview", args=[job.pk])
    # The canton file: B is the name, C the company, E the e-mail.
    response = admin_client.post(url, {"map-0-B": "company", "map-0-R": "notes"})
    assert response.status_code == 200
    html = response.content.decode()
    message = (
        "Columns B, C of “canton_fair_2024_leads_gbk.csv” are all imported as “Company”: "
        "keep one of them and set the others to (not imported)."
    )
    assert message in html
    assert "This column mapping cannot be used; nothing was changed." in html
    # The message is at the sheet, and the two selects point at it.
    problem_id = re.search(r'<p class="errors mapping-problem" id="([^"]+)">Columns B, C', html)[1]
    for letter in ("B", "C"):
        assert re.search(
            rf'<select name="map-0-{letter}"[^>]*aria-invalid="true" '
            rf'aria-describedby="{problem_id}"',
            html,
        )
    assert 'name="map-0-E" id="map-0-E" class="short" aria-label="Imported as E">' in html
    # The selects show what was posted, so that it can be put right; Confirm is off.
    assert selected(html, "map-0-B") == "company"
    assert re.search(r'<button[^>]*id="import-confirm"[^>]*disabled>', html)
    assert job_state(job) == before and database_counts() == counts
    # The stored mapping is still fine: the preview shows it, Confirm is on.
    html = admin_client.get(url).content.decode()
    assert selected(html, "map-0-B") == "name" and 'aria-invalid="true"' not in html
    assert not re.search(r'<button[^>]*id="import-confirm"[^>]*disabled>', html)


def test_a_mapping_without_e_mail_is_refused_in_the_users_language(admin_client, org):
    org.admin.language = "zh-hans"
    org.admin.save()
    job = uploaded_job(admin_client)
    before = job_state(job)
    url = reverse("contacts:import_preview", args=[job.pk])
    response = admin_client.post(url, {"map-0-E": "notes", "map-0-R": "ignored"})
    assert response.status_code == 200
    assert "请选择“canton_fair_2024_leads_gbk.csv”的邮箱列。" in response.content.decode()
    assert job_state(job) == before


@pytest.mark.parametrize(
    "data, message",
    [
        ({"map-0-E": "password"}, "Column E of “canton_fair_2024_leads_gbk.csv”: choose one"),
        ({"map-0-ZZ": "notes"}, "“canton_fair_2024_leads_gbk.csv” has no column ZZ."),
        ({"map-3-A": "notes"}, STRAY),
        ({"map-0-e": "notes"}, STRAY),
        ({"map-": "notes"}, STRAY),
    ],
)
def test_forged_selects_are_refused_the_same_way(admin_client, data, message):
    job = uploaded_job(admin_client)
    before = job_state(job)
    for name in ("import_preview", "import_confirm"):
        response = admin_client.post(reverse(f"contacts:{name}", args=[job.pk]), data)
        assert response.status_code == 200, name
        assert message in response.content.decode(), name
        assert job_state(job) == before, name


def test_confirm_with_a_nonsense_mapping_queues_nothing(admin_client, eager, upload_dir):
    job = uploaded_job(admin_client)
    before, counts = job_state(job), database_counts()
    response = confirm(admin_client, eager, job, {"map-0-A": "email"})
    assert response.status_code == 200
    assert "Columns A, E of" in response.content.decode()
    assert job_state(job) == before and database_counts() == counts
    assert stored_files(upload_dir) == [job.upload_name, f"{job.upload_name}.rows.json"]


def test_a_job_whose_stored_mapping_is_nonsense_is_never_queued(admin_client, eager, upload_dir):
    job = uploaded_job(admin_client)
    # Stored some other way than through the preview: two e-mail columns.
    ImportJob.objects.filter(pk=job.pk).update(column_overrides={"": {"B": "email"}})
    before, counts = job_state(job), database_counts()
    contacts = counts["contacts"]
    url = reverse("contacts:import_preview", args=[job.pk])
    html = admin_client.get(url).content.decode()
    assert "Columns B, E of" in html
    assert re.search(r'<button[^>]*id="import-confirm"[^>]*disabled>', html)

    response = confirm(admin_client, eager, job)
    assert response.status_code == 200
    assert "Columns B, E of" in response.content.decode()
    assert job_state(job) == before and database_counts() == counts
    assert stored_files(upload_dir) == [job.upload_name, f"{job.upload_name}.rows.json"]

    # A stored mapping naming a sheet the file does not have: refused too.
    ImportJob.objects.filter(pk=job.pk).update(column_overrides={"Sheet1": {"A": "notes"}})
    response = confirm(admin_client, eager, job)
    assert "The file has no imported sheet called “Sheet1”." in response.content.decode()
    assert job.queued_at is None and Contact.objects.count() == contacts

    # Put right through the preview, it imports.
    response = admin_client.post(url, {"map-0-B": "name"})
    assert response.status_code == 302
    confirm(admin_client, eager, job)
    assert job.status == "done" and Contact.objects.count() == contacts + 34


def test_a_multi_sheet_file_checks_every_sheet(admin_client):
    job = uploaded_job(admin_client, "sales_team_customers_by_rep.xlsx")
    before = job_state(job)
    url = reverse("contacts:import_preview", args=[job.pk])
    # Sheet 0 (the instructions) is not imported: it has no selects.
    response = admin_client.post(url, {"map-0-A": "name"})
    assert STRAY in response.content.decode()
    # Kevin's sheet (index 3) loses its e-mail column; 张伟's (index 1) gets two companies.
    response = admin_client.post(url, {"map-3-D": "ignored", "map-1-A": "company"})
    html = response.content.decode()
    assert "Choose the e-mail column of “Kevin”." in html
    assert "Columns A, B of “张伟” are all imported as “Company”" in html
    assert job_state(job) == before
    # A sound correction of one sheet goes through.
    response = admin_client.post(url, {"map-3-P": "ignored"})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.column_overrides["Kevin"]["P"] == "ignored"
    assert job.column_overrides["张伟"]["A"] == "name"
