"""Contact export: scoped by visible_to, audited, formula-safe, streamed, and importable back.

The hostile fixtures are imported with the real engine, exported, and every hostile cell compared
with its `export_value`; customer_list_2024.xlsx goes out as .xlsx and .csv and back into an
empty CRM unchanged.
"""

import csv
import io
import json
import tracemalloc
import zipfile

import openpyxl
import pytest
from django.contrib.admin.sites import site as admin_site
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.http import StreamingHttpResponse
from django.test import RequestFactory

from accounts.models import AuditEntry, Role
from contacts.admin import ContactAdmin
from contacts.exporting import (
    EXCEL_MAX_CELL,
    JSON_FIELDS,
    ExportError,
    export_contacts,
    neutralize_formula,
)
from contacts.importing import import_contacts
from contacts.models import Company, Contact, ImportedContact, ImportJob, Tag
from tests.factories import ContactFactory, TagFactory, UserFactory
from tests.importing.conftest import FIXTURES, load_expected, stored_contact

pytestmark = pytest.mark.django_db

URL = "/contacts/export/"
HEADERS_ZH = [
    "客户姓名",
    "公司名称",
    "国家/地区",
    "邮箱地址",
    "电话",
    "职位",
    "LinkedIn主页",
    "获取渠道",
    "初次联系日期",
    "首次询盘产品",
    "客户阶段",
    "兴趣等级",
    "预计采购周期",
    "最近联系时间",
    "关键沟通摘要",
    "下次跟进计划",
    "标签",
    "负责业务员",
    "推荐人",
    "备注",
]
HEADERS_EN = [
    "Customer Name",
    "Company Name",
    "Country/Region",
    "Email Address",
    "Phone",
    "Job Title",
    "LinkedIn URL",
    "Acquisition Channel",
    "First Contact Date",
    "First Inquired Product",
    "Stage",
    "Interest Grade",
    "Expected Purchase Cycle",
    "Last Contact Date",
    "Key Communication Summary",
    "Next Follow-up Plan",
    "Tags",
    "Owner",
    "Referrer",
    "Notes",
]
FIELDS = [
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
]
HOSTILE_FILES = ("hostile_payloads.xlsx", "notes_overflow_40k.csv")


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


@pytest.fixture
def salespeople(db):
    call_command("load_users", str(FIXTURES / "salespeople.json"), stdout=io.StringIO())


@pytest.fixture
def admin_user(db):
    return UserFactory(username="boss", role=Role.ADMIN)


def export_bytes(user, fmt, *, queryset=None, language="en"):
    _name, _type, content = export_contacts(
        user=user,
        queryset=Contact.objects.all() if queryset is None else queryset,
        fmt=fmt,
        language=language,
    )
    return b"".join(content)


def download(response):
    assert isinstance(response, StreamingHttpResponse), response
    return b"".join(response.streaming_content)


def csv_rows(data):
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark first"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_rows(data):
    """Rows of the only sheet as (value, data_type) pairs; also: no formula anywhere."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert len(workbook.worksheets) == 1
    return [[(cell.value, cell.data_type) for cell in row] for row in workbook.active.iter_rows()]


def table(data, fmt):
    """Header and data rows of a .csv or .xlsx export as text (empty cells as "")."""
    if fmt == "csv":
        rows = csv_rows(data)
    else:
        rows = [[value or "" for value, _type in row] for row in xlsx_rows(data)]
    return rows[0], [dict(zip(FIELDS, row, strict=True)) for row in rows[1:]]


def emails_of(data, fmt):
    if fmt == "json":
        return {item["email"] for item in json.loads(data)}
    return {row["email"].split(", ")[0] for row in table(data, fmt)[1]}


def flush_crm():
    """An empty CRM (users stay): no contacts, companies, tags or import history."""
    Contact.objects.all().delete()
    Company.objects.all().delete()
    Tag.objects.all().delete()
    ImportJob.objects.all().delete()


def all_contacts():
    return {
        email: stored_contact(email) for email in Contact.objects.values_list("email", flat=True)
    }


def email_of_row(expected, sheet, row):
    for sample in expected["sample_rows"]:
        if (sample["sheet"], sample["row"]) == (sheet, row):
            return sample["expected"]["email"]
    return ImportedContact.objects.get(sheet=sheet, row=row, created=True).contact.email


# --------------------------------------------------------------------------
# Formula neutralisation (the one function)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, phone, exported",
    [
        ("=1+1", False, "'=1+1"),
        ("+SUM(1,2)", False, "'+SUM(1,2)"),
        ("-2+3", False, "'-2+3"),
        ("@SUM(1)", False, "'@SUM(1)"),
        ("\tx", False, "'\tx"),
        ("\rx", False, "'\rx"),
        ("+8613800138000", True, "+8613800138000"),  # E.164 phone: a number, not a formula
        ("+86 138 0013", True, "'+86 138 0013"),  # not E.164: neutralised
        ("+8613800138000", False, "'+8613800138000"),  # only the phone column is exempt
        ("a=b", False, "a=b"),
        ("<script>alert(1)</script>", False, "<script>alert(1)</script>"),
        ("", False, ""),
    ],
)
def test_neutralize_formula(text, phone, exported):
    assert neutralize_formula(text, phone=phone) == exported


@pytest.mark.parametrize("name", HOSTILE_FILES)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_hostile_cells_export_as_the_fixtures_say(name, fmt, salespeople, admin_user):
    expected = load_expected(name)
    import_contacts(FIXTURES / name)
    if fmt == "xlsx" and name == "notes_overflow_40k.csv":
        with pytest.raises(ExportError) as refused:  # 40,000 characters: no Excel cell holds it
            export_bytes(admin_user, fmt)
        assert refused.value.code == "too_long_for_xlsx"
        assert "CSV" in refused.value.message
        assert not AuditEntry.objects.filter(action="export").exists()
        return
    _header, rows = table(export_bytes(admin_user, fmt), fmt)
    by_email = {row["email"].split(", ")[0]: row for row in rows}
    checked = 0
    for cell in expected["hostile_cells"]:
        if "export_value" not in cell:  # rejected row or dropped value: nothing to export
            continue
        email = email_of_row(expected, cell["sheet"], cell["row"])
        exported = by_email[email][cell["field"]]
        want = cell["export_value"]
        if want == "same as stored value":
            want = stored_contact(email)[cell["field"]]
            assert len(want) == cell["stored_value"]["text_length"]
        if cell["field"] == "tags":
            assert exported.split(", ") == want, cell
        else:
            assert exported == want, cell
        checked += 1
    assert checked == sum("export_value" in c for c in expected["hostile_cells"]) > 0


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_json_carries_hostile_values_unchanged(name, salespeople, admin_user):
    expected = load_expected(name)
    import_contacts(FIXTURES / name)
    items = {item["email"]: item for item in json.loads(export_bytes(admin_user, "json"))}
    for cell in expected["hostile_cells"]:
        if "export_value" in cell:
            email = email_of_row(expected, cell["sheet"], cell["row"])
            assert items[email][cell["field"]] == stored_contact(email)[cell["field"]]


def test_xlsx_cells_are_text_never_formulas(salespeople, admin_user):
    import_contacts(FIXTURES / "hostile_payloads.xlsx")
    ContactFactory(company__name="=1+1", phone="+8613800138000", notes="=SUM(A1:A9)")
    rows = xlsx_rows(export_bytes(admin_user, "xlsx"))
    values = [(value, kind) for row in rows for value, kind in row if value is not None]
    assert values and all(kind == "s" for _value, kind in values)
    texts = [value for value, _kind in values]
    assert "'=1+1" in texts and "'=SUM(A1:A9)" in texts and "+8613800138000" in texts
    assert not any(text.startswith(("=", "-", "@")) for text in texts)
    assert max(len(text) for text in texts) == EXCEL_MAX_CELL  # the 32,767 text fits, uncut


def test_xlsx_keeps_characters_xml_cannot_carry(admin_user, tmp_path):
    notes = "line 1\r\nline 2\x0bvertical tab _x0041_ literal, emoji 🙂"
    ContactFactory(email="tricky@customer.example", owner=None, notes=notes, company=None)
    data = export_bytes(admin_user, "xlsx")
    flush_crm()
    (tmp_path / "export.xlsx").write_bytes(data)
    import_contacts(tmp_path / "export.xlsx")
    assert Contact.objects.get().notes == notes


def test_xlsx_counts_excel_characters_not_code_points(admin_user):
    # 16,384 emoji are 32,768 UTF-16 units: one more than a cell holds.
    ContactFactory(summary="🙂" * 16_384)
    with pytest.raises(ExportError, match="CSV or JSON"):
        export_bytes(admin_user, "xlsx")
    assert len(csv_rows(export_bytes(admin_user, "csv"))[1][14]) == 16_384


# --------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------


def test_csv_has_bom_crlf_and_template_headers(admin_user):
    ContactFactory(notes="two\nlines")
    data = export_bytes(admin_user, "csv")
    assert data.startswith(b"\xef\xbb\xbf" + HEADERS_EN[0].encode() + b",")
    assert data.split(b"\r\n")[0].decode("utf-8-sig").split(",") == HEADERS_EN
    assert data.endswith(b"\r\n") and b"\r\n" in data
    assert csv_rows(data)[1][19] == "two\nlines"  # quoted: the line break stays in the cell
    assert csv_rows(export_bytes(admin_user, "csv", language="zh-hans"))[0] == HEADERS_ZH


@pytest.mark.parametrize("language, headers", [("zh-hans", HEADERS_ZH), ("en", HEADERS_EN)])
def test_xlsx_headers_in_the_users_language(admin_user, language, headers):
    rows = xlsx_rows(export_bytes(admin_user, "xlsx", language=language))
    assert [value for value, _kind in rows[0]] == headers


def test_view_uses_the_users_language(client, org):
    org.alice.language = "zh-hans"
    org.alice.save()
    client.force_login(org.alice)
    assert csv_rows(download(client.get(URL, {"format": "csv"})))[0] == HEADERS_ZH
    org.alice.language = "en"
    org.alice.save()
    assert csv_rows(download(client.get(URL, {"format": "csv"})))[0] == HEADERS_EN


def test_values_are_import_compatible(admin_user, salespeople):
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.get(username="lina")
    contact = ContactFactory(
        name="Anna Schmidt",
        email="anna@schmidt.example",
        other_emails=["anna.s@schmidt.example", "info@schmidt.example"],
        country="DE",
        phone="+493012345678",
        channel="made_in_china",
        stage="sample",
        grade="A",
        first_contact_date="2025-03-05",
        last_contacted_at="2025-04-01T16:30:00Z",  # 2025-04-02 00:30 in Asia/Shanghai
        next_follow_up_plan="节后再联系",
        owner=owner,
    )
    for tag in ("分销商", "VIP"):  # in the order added, as the import stores them
        contact.tags.add(TagFactory(name=tag))
    _header, rows = table(export_bytes(admin_user, "csv"), "csv")
    assert rows == [
        {
            "name": "Anna Schmidt",
            "company": contact.company.name,
            "country": "DE",
            "email": "anna@schmidt.example, anna.s@schmidt.example, info@schmidt.example",
            "phone": "+493012345678",
            "job_title": "",
            "linkedin_url": "",
            "channel": "made_in_china",
            "first_contact_date": "2025-03-05",
            "first_product": "",
            "stage": "sample",
            "grade": "A",
            "purchase_cycle": "",
            "last_contact_date": "2025-04-02",
            "summary": "",
            "next_follow_up": "节后再联系",
            "tags": "分销商, VIP",
            "owner": "lina",
            "referrer": "",
            "notes": "",
        }
    ]


def test_json_structure(admin_user):
    ContactFactory(
        email="j@json.example",
        other_emails=["k@json.example"],
        company=None,
        owner=None,
        name="=HYPERLINK(1)",
        tags=[TagFactory(name="a")],
    )
    data = export_bytes(admin_user, "json")
    items = json.loads(data)
    assert isinstance(items, list) and len(items) == 1
    item = items[0]
    assert list(item) == list(JSON_FIELDS) == [*FIELDS, "other_emails"]
    assert item["name"] == "=HYPERLINK(1)"  # JSON has no formula risk: unchanged
    assert item["email"] == "j@json.example" and item["other_emails"] == ["k@json.example"]
    assert item["tags"] == ["a"] and item["company"] is None and item["owner"] is None
    assert json.loads(export_bytes(admin_user, "json", queryset=Contact.objects.none())) == []


# --------------------------------------------------------------------------
# Round trip: export, then import into an empty CRM, unchanged
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_export_imports_back_unchanged(fmt, language, salespeople, admin_user, tmp_path):
    import_contacts(FIXTURES / "customer_list_2024.xlsx")
    before = all_contacts()
    assert len(before) == load_expected("customer_list_2024.xlsx")["totals"]["created"]
    assert any(c["other_emails"] for c in before.values()) and any(
        c["last_contact_date"] for c in before.values()
    )
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(export_bytes(admin_user, fmt, language=language))

    flush_crm()
    assert Contact.objects.count() == 0
    report = import_contacts(path).report

    assert report["totals"]["created"] == len(before)
    assert report["totals"]["rejected"] == 0 and report["duplicates"] == []
    after = all_contacts()
    assert after.keys() == before.keys()
    for email, contact in before.items():
        assert after[email] == contact, email


def test_csv_carries_the_40000_character_notes_back_in_full(salespeople, admin_user, tmp_path):
    import_contacts(FIXTURES / "notes_overflow_40k.csv")
    before = all_contacts()
    (tmp_path / "export.csv").write_bytes(export_bytes(admin_user, "csv"))
    flush_crm()
    import_contacts(tmp_path / "export.csv")
    after = all_contacts()
    longest = max(before, key=lambda email: len(before[email]["notes"] or ""))
    assert len(after[longest]["notes"]) == 40_000
    assert after[longest] == before[longest]


# --------------------------------------------------------------------------
# Scope and audit through the views
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actor, visible",
    [
        ("alice", {"alice", "pool"}),
        ("bob", {"bob", "pool"}),
        ("carol", {"carol", "pool"}),
        ("manager_north", {"alice", "bob", "pool"}),
        ("manager_europe", {"carol", "pool"}),
        ("admin", {"alice", "bob", "carol", "pool"}),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
def test_export_contains_what_the_user_can_see(client, org, actor, visible, fmt):
    client.force_login(getattr(org, actor))
    exported = emails_of(download(client.get(URL, {"format": fmt})), fmt)
    assert exported == {getattr(org, f"{who}_contact").email for who in visible}


def test_filters_cannot_widen_the_scope(client, org):
    client.force_login(org.alice)
    # bob is not a choice of alice's owner filter: the value is dropped, the scope stays.
    exported = emails_of(download(client.get(URL, {"format": "json", "owner": org.bob.pk})), "json")
    assert org.bob_contact.email not in exported
    # The service re-scopes whatever queryset it is given.
    assert emails_of(export_bytes(org.alice, "json"), "json") == {
        org.alice_contact.email,
        org.pool_contact.email,
    }


def test_filtered_export_and_its_audit_entry(client, org):
    ContactFactory(owner=org.alice, stage="deal", email="deal@customer.example")
    client.force_login(org.manager_north)
    response = client.get(
        URL, {"format": "csv", "stage": "deal", "page": "2"}, REMOTE_ADDR="203.0.113.7"
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    entry = AuditEntry.objects.get(action="export")  # written before the first byte is sent
    assert entry.actor == org.manager_north
    assert entry.object_type == "contact"
    assert entry.ip_address == "203.0.113.7"
    deal = Contact.objects.get(email="deal@customer.example")
    assert entry.object_ids == [deal.pk] and entry.count == 1
    assert entry.detail == {"format": "csv", "filter": "stage=deal", "count": 1, "source": "list"}
    assert emails_of(download(response), "csv") == {"deal@customer.example"}
    assert AuditEntry.objects.filter(action="export").count() == 1


def test_anonymous_is_sent_to_login(client, org):
    response = client.get(URL, {"format": "csv"})
    assert response.status_code == 302 and "/login" in response["Location"]
    assert client.post(URL, {"format": "csv", "selected": [1]}).status_code == 302
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("fmt", ["pdf", "", "xlsx<script>"])
def test_unknown_format_is_a_message_not_an_error(client, org, method, fmt):
    client.force_login(org.alice)
    data = (
        {"format": fmt, "stage": "deal"}
        if method == "get"
        else {
            "format": fmt,
            "selected": [org.alice_contact.pk],
            "filter_query": "stage=deal",
        }
    )
    response = getattr(client, method)(URL, data)
    assert response.status_code == 302
    assert response["Location"] == "/contacts/?stage=deal"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Choose .xlsx, .csv or .json to export."
    ]
    assert not AuditEntry.objects.exists()


def test_xlsx_with_a_too_long_text_is_refused_with_a_message(client, org):
    ContactFactory(owner=org.alice, notes="x" * (EXCEL_MAX_CELL + 1))
    client.force_login(org.alice)
    response = client.get(URL, {"format": "xlsx"})
    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert "32,767" in message and "CSV" in message
    assert not AuditEntry.objects.exists()
    rows = csv_rows(download(client.get(URL, {"format": "csv"})))  # CSV keeps every character
    assert EXCEL_MAX_CELL + 1 in {len(row[19]) for row in rows}


def test_post_exports_the_selection_within_scope(client, org):
    client.force_login(org.manager_north)
    selected = [org.alice_contact.pk, org.carol_contact.pk, "x"]  # carol is another team's
    response = client.post(URL, {"format": "json", "selected": selected, "filter_query": "q=buyer"})
    assert emails_of(download(response), "json") == {org.alice_contact.email}
    entry = AuditEntry.objects.get(action="export")
    assert entry.object_ids == [org.alice_contact.pk]
    assert entry.detail == {
        "format": "json",
        "filter": "q=buyer",
        "count": 1,
        "source": "selection",
    }


def test_post_exports_all_matching_the_filter(client, org):
    client.force_login(org.manager_north)
    response = client.post(
        URL,
        {
            "format": "csv",
            "select_all_matching": "1",
            "selected": [org.alice_contact.pk],  # the page's boxes are ticked too: ignored
            "filter_query": f"owner={org.bob.pk}",
        },
    )
    assert emails_of(download(response), "csv") == {org.bob_contact.email}
    entry = AuditEntry.objects.get(action="export")
    assert (
        entry.detail["source"] == "all_matching" and entry.detail["filter"] == f"owner={org.bob.pk}"
    )


def test_post_without_a_selection_changes_nothing(client, org):
    client.force_login(org.alice)
    response = client.post(URL, {"format": "csv", "filter_query": "stage=deal"})
    assert response.status_code == 302 and response["Location"] == "/contacts/?stage=deal"
    assert not AuditEntry.objects.exists()


def test_list_page_offers_export_links_and_selection_export(client, org):
    client.force_login(org.manager_north)
    page = client.get("/contacts/", {"stage": "inquiry"}).content.decode()
    assert f'href="{URL}?stage=inquiry&amp;format=xlsx"' in page
    assert f'href="{URL}?stage=inquiry&amp;format=csv"' in page
    assert f'href="{URL}?stage=inquiry&amp;format=json"' in page
    assert f'id="bulk-export" formaction="{URL}"' in page
    assert 'id="bulk-reassign"' in page  # the reassign controls stay
    assert 'action="/contacts/bulk/reassign/"' in page
    # htmx swaps the results only: the links follow the new filters out of band.
    partial = client.get("/contacts/", {"stage": "deal"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="export-links" hx-swap-oob="true"' in partial
    assert f'href="{URL}?stage=deal&amp;format=csv"' in partial


# --------------------------------------------------------------------------
# Admin
# --------------------------------------------------------------------------


def test_admin_action_exports_the_selection_audited(client, org):
    client.force_login(org.admin)
    response = client.post(
        "/admin/contacts/contact/?stage__exact=inquiry",
        {
            "action": "export_csv",
            "_selected_action": [org.alice_contact.pk, org.carol_contact.pk],
        },
    )
    assert response.status_code == 200
    assert emails_of(download(response), "csv") == {
        org.alice_contact.email,
        org.carol_contact.email,
    }
    entry = AuditEntry.objects.get(action="export")
    assert entry.actor == org.admin and entry.count == 2
    assert entry.detail == {
        "format": "csv",
        "filter": "stage__exact=inquiry",
        "count": 2,
        "source": "admin",
    }


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "json"])
def test_admin_action_refilters_through_visible_to(org, fmt):
    """Even handed every contact, the action exports only what the acting user may see."""
    request = RequestFactory().post("/admin/contacts/contact/")
    request.user = org.manager_europe
    model_admin = ContactAdmin(Contact, admin_site)
    response = getattr(model_admin, f"export_{fmt}")(request, Contact.objects.all())
    assert emails_of(download(response), fmt) == {
        org.carol_contact.email,
        org.pool_contact.email,
    }
    assert AuditEntry.objects.get(action="export").detail["format"] == fmt


# --------------------------------------------------------------------------
# Large sets: streamed, memory bounded
# --------------------------------------------------------------------------


def _many_contacts(owner, count):
    Contact.objects.bulk_create(
        [
            Contact(
                email=f"bulk{n}@many.example",
                name=f"Buyer {n}",
                owner=owner,
                country="US",
                stage="inquiry",
                summary="Asked for a quotation; " * 10,
            )
            for n in range(count)
        ],
        batch_size=5000,
    )


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_20000_contacts_stream_in_bounded_chunks(client, org, fmt, settings):
    settings.CONTACT_EXPORT_SYNC_LIMIT = 50_000  # the synchronous path (above it: a job)
    _many_contacts(org.alice, 20_000)
    client.force_login(org.alice)
    response = client.get(URL, {"format": fmt})
    assert isinstance(response, StreamingHttpResponse) and response.streaming
    assert (
        AuditEntry.objects.get(action="export").count == 20_002
    )  # + alice_contact and the pool contact
    tracemalloc.start()
    try:
        sizes, lines = [], 0
        for chunk in response.streaming_content:
            sizes.append(len(chunk))
            lines += chunk.count(b"\n")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(sizes) > 20 and max(sizes) < 1_000_000  # many small pieces, never the whole file
    assert lines >= 20_002
    assert peak < 40_000_000, f"peak {peak / 1e6:.1f} MB while streaming"


def test_20000_contacts_as_xlsx_stream_from_disk(client, org, settings):
    settings.CONTACT_EXPORT_SYNC_LIMIT = 50_000  # the synchronous path (above it: a job)
    _many_contacts(org.alice, 20_000)
    client.force_login(org.alice)
    response = client.get(URL, {"format": "xlsx"})
    assert isinstance(response, StreamingHttpResponse) and response.streaming
    sizes = [len(chunk) for chunk in response.streaming_content]
    assert len(sizes) > 1 and max(sizes) <= 64 * 1024
    assert AuditEntry.objects.get(action="export").count == 20_002
