"""Open .xlsx, .xls and .csv files and stream their rows as Excel shows them.

Each reader yields `SheetRows` in workbook order; `rows` yields (row number, values) where the
row number is the one Excel shows and values start at column A. Values are read as stored: the
text of a text cell, the number of a number cell, the date of a date cell, the cached result of
a formula (never the formula). A merged cell gives its top-left value to every cell it covers.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext
from python_calamine import CalamineError

from contacts.normalizers import field_for_header

from .fast_xlsx import calamine_rows, fits_calamine, open_calamine
from .safety import (
    ImportFileError,
    RowBudget,
    encrypted_workbook,
    too_many_rows,
    unreadable_file,
)
from .xlsx import open_workbook

HEADER_SEARCH_ROWS = 30  # the README: the header is within a sheet's first 30 rows


@dataclass
class SheetRows:
    name: str | None  # None for a CSV file
    rows: Iterator[tuple[int, tuple]]


def read_sheets(stream, kind: str, *, budget: RowBudget) -> Iterator[SheetRows]:
    """The sheets of a checked file (see safety.check_file), in workbook order."""
    readers = {"xlsx": read_xlsx, "xls": read_xls, "csv": read_csv}
    return readers[kind](stream, budget=budget)


# --------------------------------------------------------------------------
# Merged cells
# --------------------------------------------------------------------------


class MergeFiller:
    """Give the top-left value of each merged range to every cell the range covers.

    Ranges are (first_row, first_col, last_row, last_col), 1-based and inclusive. Rows arrive
    in order, so the top-left value is known before any covered row is filled.
    """

    def __init__(self, ranges, *, max_columns: int):
        self.starting: dict[int, list] = {}
        for first_row, first_col, last_row, last_col in ranges:
            if first_col > max_columns:
                continue  # nothing a contact column can see
            last_col = min(last_col, max_columns)
            self.starting.setdefault(first_row, []).append([first_col, last_row, last_col, None])
        self.active: list = []

    def fill(self, row_number: int, values: tuple) -> tuple:
        if not self.starting and not self.active:
            return values
        for merge in self.starting.pop(row_number, ()):
            first_col = merge[0]
            merge[3] = values[first_col - 1] if first_col <= len(values) else None
            self.active.append(merge)
        if not self.active:
            return values
        self.active = [merge for merge in self.active if merge[1] >= row_number]
        if not self.active:
            return values
        width = max(len(values), max(merge[2] for merge in self.active))
        cells = list(values) + [None] * (width - len(values))
        for first_col, _last_row, last_col, value in self.active:
            cells[first_col - 1 : last_col] = [value] * (last_col - first_col + 1)
        return tuple(cells)


_CELL_REF = re.compile(r"([A-Z]{1,3})(\d+)")


def column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def column_letter(number: int) -> str:
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def parse_range(ref: str):
    """ "A1:U1" -> (1, 1, 1, 21); None for a single cell or a malformed reference."""
    parts = ref.replace("$", "").upper().split(":")
    if len(parts) != 2:
        return None
    first, last = (_CELL_REF.fullmatch(part) for part in parts)
    if not first or not last:
        return None
    rows = sorted((int(first[2]), int(last[2])))
    cols = sorted((column_number(first[1]), column_number(last[1])))
    return rows[0], cols[0], rows[1], cols[1]


# --------------------------------------------------------------------------
# .xlsx
# --------------------------------------------------------------------------


def read_xlsx(stream, *, budget: RowBudget) -> Iterator[SheetRows]:
    """python-calamine for the sheets it can be trusted with (fast_xlsx.py), our streaming
    expat reader (xlsx.py) for the others; openpyxl's read-only mode is ten times slower."""
    workbook = open_workbook(stream)
    row_limit = budget.limits.max_rows + HEADER_SEARCH_ROWS
    calamine = None
    for sheet in workbook.sheets:
        declared = workbook.declared_rows(sheet)
        if declared is not None and declared > row_limit:
            raise too_many_rows(budget.limits.max_rows)  # before a single row is parsed
        if fits_calamine(workbook, sheet, max_row=row_limit):
            calamine = calamine or open_calamine(stream)
            try:
                rows, ranges = calamine_rows(calamine, sheet.name)
            except CalamineError as error:
                raise unreadable_file() from error
        else:
            rows = workbook.rows(sheet, max_columns=budget.limits.max_columns)
            ranges = [r for r in map(parse_range, workbook.merged_ranges(sheet)) if r]
        yield SheetRows(sheet.name, _merged(rows, ranges, budget))


def _merged(rows, ranges, budget: RowBudget):
    filler = MergeFiller(ranges, max_columns=budget.limits.max_columns)
    for row_number, values in rows:
        yield row_number, filler.fill(row_number, values)


# --------------------------------------------------------------------------
# .xls (Excel 97-2003)
# --------------------------------------------------------------------------


def read_xls(stream, *, budget: RowBudget) -> Iterator[SheetRows]:
    """xlrd with formatting_info, which it needs to report merged cells."""
    import xlrd

    stream.seek(0)
    contents = stream.read()
    try:
        book = xlrd.open_workbook(
            file_contents=contents,
            formatting_info=True,
            on_demand=True,
            logfile=io.StringIO(),
        )
    except xlrd.XLRDError as error:
        if "encrypted" in str(error).lower():
            raise encrypted_workbook() from error
        raise unreadable_file() from error
    except Exception as error:
        raise unreadable_file() from error
    try:
        for index in range(book.nsheets):
            try:
                sheet = book.sheet_by_index(index)
            except Exception as error:
                raise unreadable_file() from error
            yield SheetRows(sheet.name, _xls_rows(book, sheet, budget))
            book.unload_sheet(index)
    finally:
        book.release_resources()


def _xls_rows(book, sheet, budget: RowBudget):
    ranges = [(rlo + 1, clo + 1, rhi, chi) for rlo, rhi, clo, chi in sheet.merged_cells]
    filler = MergeFiller(ranges, max_columns=budget.limits.max_columns)
    for index in range(sheet.nrows):
        values = tuple(_xls_value(book, cell) for cell in sheet.row(index))
        budget.check_width(values)
        yield index + 1, filler.fill(index + 1, values)


def _xls_value(book, cell):
    import xlrd

    kind = cell.ctype
    if kind == xlrd.XL_CELL_TEXT:
        return cell.value
    if kind == xlrd.XL_CELL_NUMBER:
        value = cell.value
        return int(value) if value.is_integer() else value
    if kind == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate_as_datetime(cell.value, book.datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return cell.value
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    return None  # empty, blank, error


# --------------------------------------------------------------------------
# .csv
# --------------------------------------------------------------------------

UTF8_BOM = codecs.BOM_UTF8


def read_csv(stream, *, budget: RowBudget) -> Iterator[SheetRows]:
    """One sheet without a name; row numbers are record numbers (a quoted line break stays)."""
    encoding = detect_encoding(stream)
    delimiter = detect_delimiter(stream, encoding)
    yield SheetRows(None, _csv_rows(stream, encoding, delimiter, budget))


def detect_encoding(stream) -> str:
    """UTF-8 with or without a byte-order mark, else GBK (read as its superset GB18030)."""
    stream.seek(0)
    if stream.read(3) == UTF8_BOM:
        stream.seek(0)
        return "utf-8-sig"
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := stream.read(1024 * 1024):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"
    finally:
        stream.seek(0)


def detect_delimiter(stream, encoding: str) -> str:
    """Comma or semicolon: the one giving a header row, else the one giving more columns."""
    stream.seek(0)
    sample = stream.read(64 * 1024).decode(encoding, errors="ignore")
    stream.seek(0)
    best, best_width = ",", -1
    for delimiter in (",", ";"):
        try:
            records = []
            for record in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
                records.append(record)
                if len(records) >= HEADER_SEARCH_ROWS:
                    break
        except csv.Error:
            continue
        for record in records:
            fields = [field_for_header(cell) for cell in record]
            if sum(1 for f in fields if f) >= 3 and "email" in fields:
                return delimiter
        width = max((len(record) for record in records), default=0)
        if width > best_width:
            best, best_width = delimiter, width
    return best


def _csv_rows(stream, encoding: str, delimiter: str, budget: RowBudget):
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="", errors="strict")
    try:
        reader = csv.reader(text, delimiter=delimiter)
        for row_number, record in enumerate(reader, start=1):
            values = tuple(value if value != "" else None for value in record)
            budget.check_width(values)
            yield row_number, values
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            raise ImportFileError(
                "cell_too_large",
                gettext("A cell of the CSV file holds more than %(limit)s characters.")
                % {"limit": f"{csv.field_size_limit():,}"},
            ) from error
        raise unreadable_file() from error
    except UnicodeDecodeError as error:
        raise ImportFileError(
            "unknown_encoding",
            gettext(
                "The CSV file's text encoding is not recognised. Save it as UTF-8 or as "
                "Excel's “CSV (comma delimited)”."
            ),
        ) from error
    finally:
        if not stream.closed:
            text.detach()  # leave the caller's stream open
