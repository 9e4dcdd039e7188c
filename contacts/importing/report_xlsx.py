"""The downloadable import report: rejected rows and warnings, with reasons in words.

Written in the active language (the requesting user's). Every cell is a text cell and a value
that a spreadsheet would evaluate (= + - @ ...) gets a leading apostrophe, as in the exports:
the report repeats what the uploaded file held, hostile cells included.
"""

from __future__ import annotations

import io
import re

from django.utils.translation import gettext

from contacts.exporting import neutralize_formula

from .labels import field_label, reason_text

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_CELL = 32_000  # Excel holds 32,767 characters; a report value is cut with "…"
_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def report_workbook(report: dict) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)

    def sheet_with(title, headers, widths):
        sheet = workbook.create_sheet(title=title[:31])
        sheet.freeze_panes = "A2"
        for index, width in enumerate(widths):
            sheet.column_dimensions[chr(65 + index)].width = width
        sheet.append([cell(sheet, header, bold) for header in headers])
        return sheet

    def cell(sheet, value, font=None):
        if value is None or value == "":
            return None
        target = WriteOnlyCell(sheet)
        if isinstance(value, int):
            target.value = value
        else:
            target._value = _text(str(value))  # set directly: never read as a formula
            target.data_type = "s"
        if font is not None:
            target.font = font
        return target

    totals = report.get("totals", {})
    summary = sheet_with(gettext("Summary"), [gettext("Import"), gettext("Value")], [40, 60])
    for label, value in (
        (gettext("File"), report.get("file")),
        (gettext("Rows with data"), totals.get("data_rows", 0)),
        (gettext("New contacts"), totals.get("created", 0)),
        (gettext("Merged into existing contacts"), totals.get("matched_existing", 0)),
        (gettext("Rejected rows"), totals.get("rejected", 0)),
        (gettext("Warnings"), totals.get("warnings", 0)),
    ):
        summary.append([cell(summary, label), cell(summary, value)])

    rejected = sheet_with(
        gettext("Rejected rows"),
        [gettext("Sheet"), gettext("Row"), gettext("Value"), gettext("Reason")],
        [20, 8, 40, 80],
    )
    for entry in report.get("rejected_rows", []):
        rejected.append(
            [
                cell(rejected, entry.get("sheet")),
                cell(rejected, entry.get("row")),
                cell(rejected, rejected_value(entry)),
                cell(rejected, rejection_text(entry)),
            ]
        )

    warnings = sheet_with(
        gettext("Warnings"),
        [gettext("Sheet"), gettext("Row"), gettext("Field"), gettext("Value"), gettext("Reason")],
        [20, 8, 24, 40, 80],
    )
    for entry in report.get("warnings", []):
        warnings.append(
            [
                cell(warnings, entry.get("sheet")),
                cell(warnings, entry.get("row")),
                cell(warnings, field_label(entry.get("field"))),
                cell(warnings, entry.get("value")),
                cell(warnings, reason_text(entry.get("code"))),
            ]
        )

    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def rejected_value(entry: dict):
    """What the rejected row held in its e-mail column."""
    return entry.get("email") if entry.get("reason") == "duplicate_in_file" else entry.get("value")


def rejection_text(entry: dict) -> str:
    text = reason_text(entry.get("reason"))
    first = entry.get("duplicate_of")
    if first:
        where = gettext("row %(row)s") % {"row": first.get("row")}
        if first.get("sheet"):
            where = f"{first['sheet']} · {where}"
        text = f"{text} ({where})"
    return text


def _text(value: str) -> str:
    value = neutralize_formula(_XML_UNSAFE.sub("\ufffd", value))
    return value if len(value) <= MAX_CELL else value[: MAX_CELL - 1] + "…"
