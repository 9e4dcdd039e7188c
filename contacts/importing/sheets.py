"""Find the contact table in a sheet: its header row, its columns and its data rows.

The README's rule: the header is the first of a sheet's first 30 rows in which at least three
cells are known column names and one of them is an e-mail column. Rows above it (titles,
instructions, merged group names) are skipped; a sheet without such a row is not imported.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field

from contacts.normalizers import field_for_header, match_owner

from .readers import HEADER_SEARCH_ROWS, SheetRows, column_letter
from .rows import FIELDS
from .safety import RowBudget

MIN_KNOWN_HEADERS = 3
IGNORED = "ignored"
# What a column may be mapped to (other e-mail addresses come from the e-mail cell).
COLUMN_FIELDS = tuple(name for name in FIELDS if name != "other_emails")


@dataclass
class Column:
    letter: str
    header: str | None
    field: str  # a CRM field, or "ignored"

    def as_report(self) -> dict:
        return {"column": self.letter, "header": self.header, "field": self.field}


@dataclass(slots=True)
class DataRow:
    """One non-empty row under the header: the raw cell of every mapped field.

    Kept as the row's values and the sheet's (shared) mapping until it is normalised: a file
    of 50,000 rows would otherwise hold 50,000 dicts of cells at once."""

    sheet: str | None
    row: int
    values: tuple
    mapping: dict  # field -> column index, one dict per sheet
    sheet_owner: str | None

    @property
    def cells(self) -> dict:
        values = self.values
        width = len(values)
        return {
            name: values[index] if index < width else None for name, index in self.mapping.items()
        }


@dataclass
class SheetScan:
    """What the report says about one sheet."""

    name: str | None
    imported: bool = False
    reason: str | None = None
    header_row: int | None = None
    first_data_row: int | None = None
    last_data_row: int | None = None
    data_rows: int = 0
    empty_rows_skipped: list = field(default_factory=list)
    owner_from_sheet_name: str | None = None
    columns: list = field(default_factory=list)

    def as_report(self) -> dict:
        if not self.imported:
            return {"sheet": self.name, "imported": False, "reason": self.reason}
        return {
            "sheet": self.name,
            "imported": True,
            "header_row": self.header_row,
            "first_data_row": self.first_data_row,
            "last_data_row": self.last_data_row,
            "columns": [column.as_report() for column in self.columns],
            "owner_from_sheet_name": self.owner_from_sheet_name,
            "data_rows": self.data_rows,
            "empty_rows_skipped": self.empty_rows_skipped,
        }


def scan_sheet(
    sheet: SheetRows, *, people, budget: RowBudget, overrides: dict | None = None
) -> tuple[SheetScan, list]:
    """Header, columns and the non-empty data rows of one sheet (read to its end).

    `overrides` (column letter -> field or "ignored") corrects the mapping read from the header.
    """
    with closing(sheet.rows) as rows:  # a sheet without a header is not read to its end
        return _scan(sheet.name, rows, people=people, budget=budget, overrides=overrides)


def _scan(name, rows, *, people, budget, overrides=None):
    scan = SheetScan(name=name)
    header = None
    for row_number, values in rows:
        if is_header(values):
            header = (row_number, values)
            break
        if row_number >= HEADER_SEARCH_ROWS:
            break
    if header is None:
        scan.reason = "no_header_found"
        return scan, []

    header_row, header_values = header
    scan.imported = True
    scan.header_row = header_row
    scan.columns, mapping = map_columns(header_values, overrides)
    if name is not None:
        scan.owner_from_sheet_name = match_owner(name, people).value
    data = []
    pending_empty: list[list[int]] = []
    indexes = sorted(mapping.values())
    for row_number, values in rows:
        if not values:  # a row Excel left out, or a blank line
            mapped = False
        else:
            width = len(values)
            mapped = any(_has_value(values[index]) for index in indexes if index < width)
            if mapped or _has_content(values):
                budget.count_row()
        if not mapped:
            # Kept as ranges (a sheet may end in a million formatted rows) and reported only
            # when a data row follows.
            if pending_empty and pending_empty[-1][1] == row_number - 1:
                pending_empty[-1][1] = row_number
            else:
                pending_empty.append([row_number, row_number])
            continue
        for first, last in pending_empty:
            scan.empty_rows_skipped.extend(range(first, last + 1))
        pending_empty = []
        data.append(DataRow(name, row_number, values, mapping, scan.owner_from_sheet_name))
    scan.data_rows = len(data)
    if data:
        scan.first_data_row = header_row + 1
        scan.last_data_row = data[-1].row
    return scan, data


def is_header(values) -> bool:
    fields = [field_for_header(value) for value in values if _has_value(value)]
    known = [name for name in fields if name]
    return len(known) >= MIN_KNOWN_HEADERS and "email" in known


def map_columns(values, overrides: dict | None = None) -> tuple[list, dict]:
    """Every header cell from the first to the last named one; the first column of a field wins.

    A column named in `overrides` takes the field given there (or none: "ignored"), and a field
    chosen that way wins over a column whose header names the same field.
    """
    overrides = overrides or {}
    for field_name in overrides.values():
        if field_name != IGNORED and field_name not in COLUMN_FIELDS:
            raise ValueError(f"unknown field in column_overrides: {field_name!r}")
    named = [index for index, value in enumerate(values) if _has_value(value)]
    span = range(named[0], named[-1] + 1)
    letters = {index: column_letter(index + 1) for index in span}
    chosen: dict[int, str] = {}
    for index in span:
        name = overrides.get(letters[index], IGNORED)
        if name != IGNORED and name not in chosen.values():
            chosen[index] = name
    for index in span:
        if letters[index] in overrides or not _has_value(values[index]):
            continue
        name = field_for_header(values[index])
        if name is not None and name not in chosen.values():
            chosen[index] = name
    columns = []
    for index in span:
        value = values[index]
        header = _header_text(value) if _has_value(value) else None
        columns.append(Column(letters[index], header, chosen.get(index, IGNORED)))
    mapping = {name: index for index, name in sorted(chosen.items())}
    return columns, mapping


def _header_text(value) -> str:
    return value if isinstance(value, str) else str(value)


def _has_value(value) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def _has_content(values) -> bool:
    return any(_has_value(value) for value in values)
