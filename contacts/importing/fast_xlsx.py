"""The fast path for .xlsx sheets: python-calamine (Rust) reads a sheet about five times faster
than our expat reader (xlsx.py), which stays the path for every sheet calamine cannot be trusted
with.

Calamine builds a dense grid from the first to the last cell it finds. A hostile sheet with one
cell in A1 and one in XFD1048576 makes it allocate half a terabyte, and a failed allocation in
Rust aborts the whole process (a web or worker process, not just the import). So a sheet goes
to calamine only when a byte scan of its XML proves the grid small (`fits_calamine`):

- no DTD, comment or CDATA section anywhere (the streaming reader refuses a DTD as
  defusedxml does);
- no text that calamine would trim (a <t> without xml:space="preserve" with white space at
  an end: Excel and openpyxl write the attribute when it matters);
- every cell element carries an explicit r="A1" reference, written as `<c r="`, and no element
  is namespace-prefixed, so the references found are all the positions there are;
- no reference has a row beyond the import's row limit, and the widest column times the
  largest possible row (99,999 when no reference has six digits) stays under MAX_CELLS.

Any doubt sends the sheet to the streaming reader, which enforces the limits row by row. The
values are converted to what the streaming reader yields (tests/importing compare both readers
on every fixture): empty cells are None, whole numbers int, date cells datetime, rows trimmed
after their last value, missing rows empty.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator

from .xlsx import WorksheetPart, XlsxWorkbook, _column_numbers

MAX_CELLS = 4_000_000  # about 130 MB of calamine cells; a legacy sheet of 100,000 x 40 fits
SCAN_CHUNK = 1024 * 1024
# A reference with two or more column letters (column AA on), or one letter and a row of six
# digits or more (row 100,000 on): the only ones that can make the grid large.
_LARGE_REF = re.compile(rb'r="([A-Z]{2,}|[A-Z](?=\d{6}))(\d*)')
_CELL_STARTS = (b"<c ", b"<c>", b"<c/", b"<c\t", b"<c\n", b"<c\r")
_PREFIXED = (b":c ", b":c>", b":c/", b":c\t", b":c\n", b":c\r", b":row")
# Calamine trims the text of a <t> element unless it says xml:space="preserve". The four kinds
# of XML white space are looked for as one: the text is translated to spaces first (one pass
# over the sheet instead of eight).
_AS_SPACE = bytes.maketrans(b"\t\n\r", b"   ")
_ONE_LETTER_MAX_ROW = 99_999  # a one-letter reference without six digits


def fits_calamine(workbook: XlsxWorkbook, sheet: WorksheetPart, *, max_row: int) -> bool:
    """Does a byte scan of the sheet prove calamine's grid small? (See the module docstring.)"""
    cells = cells_with_ref = 0
    widest, deepest = 26, _ONE_LETTER_MAX_ROW
    tail = b""
    with workbook.archive.open(sheet.path) as part:
        while chunk := part.read(SCAN_CHUNK):
            data = tail + chunk
            cut = data.rfind(b"<")  # whole tags up to the last "<"; the rest waits for more
            if cut <= 0:
                tail = data[-64:]
                continue
            view = data[:cut]
            if b"<!" in view:  # a DTD, comment or CDATA: the streaming reader's (strict) job
                return False
            if (b":c" in view or b":row" in view) and any(m in view for m in _PREFIXED):
                return False
            if _loses_edge_space(view):
                return False
            opened, with_ref = view.count(b"<c"), view.count(b'<c r="')
            if opened != with_ref:  # <col>, <cfRule> ... also start with "<c": count exactly
                opened = sum(view.count(start) for start in _CELL_STARTS)
            cells += opened
            cells_with_ref += with_ref
            for letters, digits in _LARGE_REF.findall(view):
                widest = max(widest, _column_numbers[letters.decode("ascii")])
                if digits:
                    deepest = max(deepest, int(digits))
            tail = data[cut:]
    if b"<c" in tail or b"<!" in tail or any(marker in tail for marker in _PREFIXED):
        return False  # a cell in an unterminated tail: not a sheet to trust
    if cells != cells_with_ref:
        return False
    if deepest > max(max_row, _ONE_LETTER_MAX_ROW):
        return False  # the streaming reader refuses it, or counts what is really there
    if widest * deepest > MAX_CELLS:
        return False
    return not _shared_strings_lose_edge_space(workbook)


def _loses_edge_space(view: bytes) -> bool:
    """A <t> without xml:space="preserve" whose text starts or ends with white space."""
    spaced = view.translate(_AS_SPACE)  # same length: positions are the view's
    if b"<t> " in spaced:
        return True
    position = spaced.find(b" </t>")
    while position != -1:
        # Text holds no "<": the last "<t" before it opens this element.
        if view.startswith(b"<t>", view.rfind(b"<t", 0, position)):
            return True
        position = spaced.find(b" </t>", position + 1)
    return False


def _shared_strings_lose_edge_space(workbook: XlsxWorkbook) -> bool:
    if workbook.shared_strings_path is None:
        return False
    tail = b""
    with workbook.archive.open(workbook.shared_strings_path) as part:
        while chunk := part.read(SCAN_CHUNK):
            data = tail + chunk
            cut = data.rfind(b"<")
            if cut > 0:
                if _loses_edge_space(data[:cut]):
                    return True
                tail = data[cut:]
            else:
                tail = data
    return _loses_edge_space(tail)


def open_calamine(stream):
    from python_calamine import CalamineWorkbook

    stream.seek(0)
    return CalamineWorkbook.from_filelike(stream)


def calamine_rows(book, name: str) -> tuple[Iterator[tuple[int, tuple]], list]:
    """(rows as the streaming reader yields them, merged ranges as 1-based
    (first_row, first_col, last_row, last_col)) of one sheet."""
    sheet = book.get_sheet_by_name(name)
    ranges = [
        (first[0] + 1, first[1] + 1, last[0] + 1, last[1] + 1)
        for first, last in (sheet.merged_cell_ranges or ())
    ]
    return _rows(sheet), ranges


def _rows(sheet) -> Iterator[tuple[int, tuple]]:
    """calamine 0.9 iterates from row 1 (empty rows included) but from the first used column."""
    start = sheet.start
    if start is None:  # an empty sheet
        return
    lead = [None] * start[1]
    for number, cells in enumerate(sheet.iter_rows(), start=1):
        # Most cells are text: only the others pay for a call.
        values = lead + [
            None if cell == "" else cell if type(cell) is str else _value(cell) for cell in cells
        ]
        while values and values[-1] is None:
            values.pop()
        yield number, tuple(values)


def _value(cell):
    if cell == "":
        return None
    kind = type(cell)
    if kind is float:
        return int(cell) if cell.is_integer() else cell
    if kind is datetime.date:
        return datetime.datetime.combine(cell, datetime.time.min)
    return cell
