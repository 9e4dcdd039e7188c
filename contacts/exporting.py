"""Export contacts as .xlsx, .csv or .json in the import template's form, so an export imports
back unchanged.

Entry point: `export_contacts(user=..., queryset=..., fmt=..., language=...)` ->
(filename, content_type, content). The contacts are always re-scoped by
`Contact.objects.visible_to(user)`, whatever queryset the caller passes, and every export writes
one audit entry (who, filter, how many, which format) before any data leaves the server.
Its three steps — `exported_ids`, `export_content`, `audit_export` — are also used one by one by
the background export (export_jobs.py): ids and audit at request time, the file in the worker.

Safety (README "Hostile content"): in .csv and .xlsx a text starting with = + - @, a tab or a
carriage return gets a leading apostrophe (`neutralize_formula`, the one place for the rule);
an E.164 phone is left as it is. .xlsx cells are always text cells, never formulas. JSON carries
the values unchanged (no spreadsheet evaluates it).

Memory stays bounded: contact ids are read once, then rows are loaded CHUNK at a time. CSV and
JSON are generated while the response streams; .xlsx goes through openpyxl's write-only workbook
into a temporary file on disk, which is then streamed in blocks.

Excel holds at most 32,767 characters in a cell. Rather than cut a longer text (silent data
loss), an .xlsx export containing one is refused with ExportError("too_long_for_xlsx") and the
user is told to export as CSV or JSON, which keep every character.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Length
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from accounts.services import record_audit

from .models import Contact
from .normalizers import COLUMN_NAMES

FORMATS = ("xlsx", "csv", "json")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
# The template's 20 columns in the README's order; COLUMN_NAMES[field] = (中文, English, ...).
TEMPLATE_FIELDS = tuple(COLUMN_NAMES)
# JSON objects also carry other_emails on its own (the fixtures' contact shape).
JSON_FIELDS = (*TEMPLATE_FIELDS, "other_emails")
EXCEL_MAX_CELL = 32_767  # characters (UTF-16 code units) an Excel cell can hold
CHUNK = 2000  # contacts loaded per query
FILE_BLOCK = 64 * 1024  # bytes per streamed block of the .xlsx file

# What a spreadsheet would start evaluating (README "Hostile content").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
E164 = re.compile(r"\+\d+")

# Model columns read for one exported row (no model instances: 50,000 rows stay cheap).
VALUE_COLUMNS = (
    "pk",
    "name",
    "company__name",
    "country",
    "email",
    "other_emails",
    "phone",
    "job_title",
    "linkedin_url",
    "channel",
    "first_contact_date",
    "first_product",
    "stage",
    "grade",
    "purchase_cycle",
    "last_contacted_at",
    "summary",
    "next_follow_up_plan",
    "owner__username",
    "referrer",
    "notes",
)
# Text columns that can outgrow an Excel cell (the other columns are at most 500 characters).
LONG_TEXT_COLUMNS = ("summary", "next_follow_up_plan", "notes")


class ExportError(Exception):
    """An export that is refused; `message` is translated, `code` is stable for programs."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def neutralize_formula(text: str, *, phone: bool = False) -> str:
    """The text as a spreadsheet cell may hold it: a leading apostrophe before = + - @ tab CR.

    An E.164 phone (`+` then digits only) is a number, not a formula, and stays as it is.
    """
    if text and text.startswith(FORMULA_START) and not (phone and E164.fullmatch(text)):
        return "'" + text
    return text


def export_contacts(
    *,
    user,
    queryset,
    fmt: str,
    language: str,
    filter_query: str = "",
    source: str = "list",
    ip_address: str | None = None,
    progress=None,
):
    """Export the contacts of `queryset` that `user` may see, in its order; audited.

    Returns (filename, content_type, content) where content is an iterable of bytes to stream.
    Raises ExportError (nothing exported, nothing audited) for an unknown format or an .xlsx
    that could not hold a text. `progress`: see export_content.
    """
    ids = exported_ids(user=user, queryset=queryset, fmt=fmt)
    # Built now for .xlsx: a refusal comes before the audit.
    content = export_content(user=user, ids=ids, fmt=fmt, language=language, progress=progress)
    audit_export(
        user=user,
        ids=ids,
        fmt=fmt,
        filter_query=filter_query,
        source=source,
        ip_address=ip_address,
    )
    return export_filename(fmt), CONTENT_TYPES[fmt], content


def exported_ids(*, user, queryset, fmt: str) -> list[int]:
    """The ids an export of `queryset` covers: within visible_to(user), in the queryset's order
    (newest first when it has none). Refuses an unknown format and an .xlsx whose texts would
    not fit before anything is read."""
    if fmt not in FORMATS:
        raise ExportError(
            "unknown_format",
            gettext("Choose .xlsx, .csv or .json to export."),
        )
    scoped = queryset.filter(pk__in=Contact.objects.visible_to(user).values("pk"))
    if not scoped.ordered:
        scoped = scoped.order_by("-created_at", "-id")
    if fmt == "xlsx":
        check_fits_excel(scoped)
    return list(scoped.values_list("pk", flat=True))


def export_content(
    *, user, ids: list[int], fmt: str, language: str, progress=None
) -> Iterator[bytes]:
    """The file of the contacts `ids` (in that order) still visible to `user`, as bytes.

    `progress(done)` is called every CHUNK contacts and once at the end with the number written.
    """
    records = contact_records(user, ids)
    if progress is not None:
        records = _counted(records, progress)
    if fmt == "xlsx":
        return xlsx_content(records, language)
    if fmt == "csv":
        return csv_content(records, language)
    return json_content(records)


def audit_export(*, user, ids, fmt, filter_query="", source="list", ip_address=None, **extra):
    """The one audit entry of an export: who, which contacts, how many, filter and format."""
    return record_audit(
        actor=user,
        action="export",
        object_type="contact",
        ids=ids,
        detail={
            "format": fmt,
            "filter": filter_query,
            "count": len(ids),
            "source": source,
            **extra,
        },
        ip_address=ip_address,
    )


def export_filename(fmt: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return f"contacts-{stamp}.{fmt}"


def _counted(records: Iterable[dict], progress) -> Iterator[dict]:
    done = 0
    for record in records:
        yield record
        done += 1
        if done % CHUNK == 0:
            progress(done)
    progress(done)


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------


def contact_records(user, ids: list[int]) -> Iterator[dict]:
    """Each contact as a dict in the fixtures' form (None for empty, lists for tags and other
    e-mails, ISO dates), loaded CHUNK at a time and still inside visible_to(user)."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    links = Contact.tags.through.objects
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = {
            row["pk"]: row
            for row in Contact.objects.visible_to(user)
            .filter(pk__in=chunk)
            .order_by()
            .values(*VALUE_COLUMNS)
        }
        tags = defaultdict(list)
        # In the order they were added, as the import stores them.
        for contact_id, name in (
            links.filter(contact_id__in=list(rows))
            .order_by("pk")
            .values_list("contact_id", "tag__name")
        ):
            tags[contact_id].append(name)
        for pk in chunk:
            row = rows.get(pk)
            if row is not None:  # left the user's scope since the export started
                yield _record(row, tags[pk], zone)


def _record(row: dict, tags: list, zone) -> dict:
    last = row["last_contacted_at"]
    first = row["first_contact_date"]
    return {
        "name": row["name"] or None,
        "company": row["company__name"] or None,
        "country": row["country"] or None,
        "email": row["email"],
        "phone": row["phone"] or None,
        "job_title": row["job_title"] or None,
        "linkedin_url": row["linkedin_url"] or None,
        "channel": row["channel"] or None,
        "first_contact_date": first.isoformat() if first else None,
        "first_product": row["first_product"] or None,
        "stage": row["stage"] or None,
        "grade": row["grade"] or None,
        "purchase_cycle": row["purchase_cycle"] or None,
        "last_contact_date": timezone.localtime(last, zone).date().isoformat() if last else None,
        "summary": row["summary"] or None,
        "next_follow_up": row["next_follow_up_plan"] or None,
        "tags": tags,
        "owner": row["owner__username"],
        "referrer": row["referrer"] or None,
        "notes": row["notes"] or None,
        "other_emails": list(row["other_emails"] or []),
    }


def spreadsheet_cells(record: dict) -> list[str]:
    """The 20 template cells of a contact, neutralised, as the import reads them back: the
    e-mail cell holds the other addresses after ", "; tags are joined with ", "."""
    cells = []
    for field in TEMPLATE_FIELDS:
        value = record[field]
        if field == "email":
            addresses = [value, *record["other_emails"]]
            cells.append(", ".join(neutralize_formula(a) for a in addresses if a))
        elif field == "tags":
            cells.append(", ".join(neutralize_formula(tag) for tag in value))
        else:
            cells.append(neutralize_formula(value or "", phone=field == "phone"))
    return cells


def headers(language: str) -> list[str]:
    """The template's column names: Chinese for zh-hans (any zh), English otherwise."""
    index = 0 if (language or "").lower().startswith("zh") else 1
    return [COLUMN_NAMES[field][index] for field in TEMPLATE_FIELDS]


# --------------------------------------------------------------------------
# CSV and JSON: generated while streaming
# --------------------------------------------------------------------------


def csv_content(records: Iterable[dict], language: str) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (Chinese Excel opens it as UTF-8), commas, CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(headers(language))
    for count, record in enumerate(records, start=1):
        writer.writerow(spreadsheet_cells(record))
        if count % 500 == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def json_content(records: Iterable[dict]) -> Iterator[bytes]:
    """A JSON list of objects keyed by field code, values unchanged (no formula risk)."""
    yield b"["
    separator = "\n"
    buffer = io.StringIO()
    for count, record in enumerate(records, start=1):
        buffer.write(separator)
        buffer.write(json.dumps({key: record[key] for key in JSON_FIELDS}, ensure_ascii=False))
        separator = ",\n"
        if count % 500 == 0:
            yield _drain(buffer)
    buffer.write("\n]\n")
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data


# --------------------------------------------------------------------------
# XLSX: write-only workbook on disk, then streamed
# --------------------------------------------------------------------------

# OOXML writes characters XML can't carry (and CR, which XML parsers turn into LF) as _xHHHH_;
# a literal "_xHHHH_" in the text is protected as "_x005F_xHHHH_". The import reverses both.
_XML_ESCAPED = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")


def excel_length(text: str) -> int:
    """Characters as Excel counts them (UTF-16 code units: an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def check_fits_excel(queryset) -> None:
    """Refuse an .xlsx export before it starts when a long text would not fit in a cell."""
    too_long = count_too_long_for_excel(queryset)
    if too_long:
        raise too_long_error(too_long)


def check_ids_fit_excel(user, ids: list[int]) -> None:
    """check_fits_excel for a list of ids (those still visible to `user`), CHUNK at a time."""
    visible = Contact.objects.visible_to(user)
    too_long = sum(
        count_too_long_for_excel(visible.filter(pk__in=ids[start : start + CHUNK]))
        for start in range(0, len(ids), CHUNK)
    )
    if too_long:
        raise too_long_error(too_long)


def count_too_long_for_excel(queryset) -> int:
    """Contacts with a text an Excel cell cannot hold. Only those with a long text (over half
    the limit in code points) are looked at closely."""
    half = EXCEL_MAX_CELL // 2
    long_texts = Q()
    for column in LONG_TEXT_COLUMNS:
        long_texts |= Q(**{f"{column}_length__gt": half})
    candidates = (
        queryset.order_by()
        .annotate(**{f"{column}_length": Length(column) for column in LONG_TEXT_COLUMNS})
        .filter(long_texts)
    )
    return sum(
        1
        for row in candidates.values_list(*LONG_TEXT_COLUMNS)
        if any(_too_long_for_excel(neutralize_formula(text)) for text in row)
    )


def too_long_error(count: int) -> ExportError:
    return ExportError(
        "too_long_for_xlsx",
        ngettext(
            "%(count)s customer has a text longer than the 32,767 characters an Excel cell can "
            "hold. Export as CSV or JSON instead: they keep the full text.",
            "%(count)s customers have a text longer than the 32,767 characters an Excel cell can "
            "hold. Export as CSV or JSON instead: they keep the full text.",
            count,
        )
        % {"count": count},
    )


def _too_long_for_excel(text: str) -> bool:
    return excel_length(text) > EXCEL_MAX_CELL


def _xml_text(text: str) -> str:
    text = _XML_ESCAPED.sub(r"_x005F_\1", text)
    return _XML_UNSAFE.sub(lambda match: f"_x{ord(match[0]):04X}_", text)


def xlsx_content(records: Iterable[dict], language: str) -> Iterator[bytes]:
    """Write the workbook (text cells only) to a temporary file; stream that file."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    with translation.override(language):
        sheet = workbook.create_sheet(title=gettext("Customers"))
    sheet.freeze_panes = "A2"
    for index, field in enumerate(TEMPLATE_FIELDS):
        width = 40 if field in ("summary", "notes", "next_follow_up") else 18
        sheet.column_dimensions[_column_letter(index)].width = width

    def text_cell(text: str, font=None):
        cell = WriteOnlyCell(sheet)
        if font is not None:
            cell.font = font
        # Set directly: openpyxl's value setter would make "=..." a formula and silently cut
        # texts at 32,767 characters; the text is checked here instead.
        cell._value = _xml_text(text)
        cell.data_type = "s"
        return cell

    bold = Font(bold=True)
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _file_blocks, or below
    try:
        sheet.append([text_cell(name, font=bold) for name in headers(language)])
        too_long = 0
        for record in records:
            cells = spreadsheet_cells(record)
            too_long += any(_too_long_for_excel(text) for text in cells)
            sheet.append([text_cell(text) if text else None for text in cells])
        if too_long:  # a long tag or address list: check_fits_excel only reads the long texts
            raise too_long_error(too_long)
        workbook.save(handle)
    except BaseException:
        handle.close()
        _discard(sheet)
        raise
    handle.seek(0)
    return _file_blocks(handle)


def _discard(sheet) -> None:
    """Remove the rows openpyxl already wrote to its temporary file (normally save() does)."""
    writer = getattr(sheet, "_writer", None)
    if writer is not None and not sheet.closed:
        writer.close()
        writer.cleanup()


def _file_blocks(handle) -> Iterator[bytes]:
    with handle:
        while block := handle.read(FILE_BLOCK):
            yield block


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


# --------------------------------------------------------------------------
# Files: written whole or not at all
# --------------------------------------------------------------------------


def write_file_atomically(content: Iterable[bytes], path, *, handle=None) -> int:
    """Write `content` to `path` through a temporary file in the same folder, renamed into
    place once complete: a reader never sees half a file, a failure leaves none. Returns the
    number of bytes written. `handle` is an already opened temporary file (see
    open_temporary_beside) when the caller wanted to know early that the folder is writable."""
    path = Path(path)
    handle = handle or open_temporary_beside(path)
    size = 0
    try:
        with handle:
            for block in content:
                handle.write(block)
                size += len(block)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return size


def open_temporary_beside(path):
    """A new private temporary file next to `path` (raises OSError when it cannot be made)."""
    path = Path(path)
    return tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by write_file_atomically
        dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False
    )
