"""A streaming reader for .xlsx worksheets, on expat with every DTD and entity refused.

openpyxl's read-only mode builds an object per cell and needs 5-10 s for 5,000 rows of inline
strings; this reader only keeps what the import needs (values as stored, row by row) and reads
the same sheet in well under a second. It refuses a DOCTYPE, an entity declaration or an
external entity exactly as defusedxml does (safety.check_zip has already refused any part that
declares one). Dates are recognised from the cell's number format, with openpyxl's public
helpers for the format codes and Excel's date systems.
"""

from __future__ import annotations

import datetime
import posixpath
import re
import xml.parsers.expat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

from .safety import ImportFileError, too_many_columns, unreadable_file, xml_declarations

CHUNK = 64 * 1024
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\bref=[\"']([^\"']+)[\"']")
_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=[\"']([^\"']+)[\"']")


@dataclass
class WorksheetPart:
    name: str
    path: str


class XlsxWorkbook:
    """The worksheets of an .xlsx archive, their shared strings and date styles."""

    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive
        self.names = {info.filename for info in archive.infolist()}
        workbook_path = self._office_document()
        relations = self._relations(workbook_path)
        workbook = _parse(self._open(workbook_path), _WorkbookHandler())
        self.epoch = CALENDAR_MAC_1904 if workbook.date1904 else CALENDAR_WINDOWS_1900
        self.sheets = []
        for name, relation_id in workbook.sheets:
            kind, target = relations.get(relation_id, ("", ""))
            if kind.endswith("/worksheet") and target in self.names:
                self.sheets.append(WorksheetPart(name, target))
        self.shared_strings_path = self.styles_path = None
        for kind, target in relations.values():
            if target not in self.names:
                continue
            if kind.endswith("/sharedStrings"):
                self.shared_strings_path = target
            elif kind.endswith("/styles"):
                self.styles_path = target

    # Parsed on first use: a sheet read by calamine (fast_xlsx.py) never needs them.
    @cached_property
    def shared_strings(self) -> list[str]:
        if self.shared_strings_path is None:
            return []
        return _parse(self._open(self.shared_strings_path), _SharedStringsHandler()).strings

    @cached_property
    def date_styles(self) -> set[int]:
        if self.styles_path is None:
            return set()
        return _parse(self._open(self.styles_path), _StylesHandler()).date_styles()

    def rows(self, sheet: WorksheetPart, *, max_columns: int) -> Iterator[tuple[int, tuple]]:
        """(row number, values from column A) for every row up to the last one present."""
        handler = _SheetHandler(self, max_columns)
        parser = _parser(handler)
        expected = 1
        with self._open(sheet.path) as part:
            while True:
                chunk = part.read(CHUNK)
                _feed(parser, chunk, final=not chunk)
                for row_number, values in handler.take_rows():
                    while expected < row_number:  # rows Excel leaves out are empty rows
                        yield expected, ()
                        expected += 1
                    if row_number >= expected:
                        yield row_number, values
                        expected = row_number + 1
                if not chunk:
                    return

    def declared_rows(self, sheet: WorksheetPart) -> int | None:
        """The row count the sheet's <dimension> declares (None when it declares none).

        Excel keeps it current; it is only a hint, the readers count rows as they stream."""
        with self._open(sheet.path) as part:
            head = part.read(CHUNK)
        head = head.split(b"sheetData", 1)[0]
        match = _DIMENSION.search(head)
        if not match:
            return None
        rows = [int(number) for number in re.findall(rb"\d+", match[1])]
        return rows[-1] - rows[0] + 1 if rows else None

    def merged_ranges(self, sheet: WorksheetPart) -> list[str]:
        """The merged ranges of a sheet. They come after its rows, so one quick pass over the
        raw bytes first (a byte search, not an XML parse: "<" in a text is always escaped)."""
        refs, tail = [], b""
        with self._open(sheet.path) as part:
            while chunk := part.read(CHUNK * 16):
                data = tail + chunk
                cut = data.rfind(b"<") if b"mergeCell" in data else -1
                if cut > 0:  # whole elements up to the last "<"; the rest waits for more
                    refs += [m[1].decode("ascii", "replace") for m in _MERGE.finditer(data, 0, cut)]
                    tail = data[cut:]
                else:
                    tail = data[-64:]
        refs += [m[1].decode("ascii", "replace") for m in _MERGE.finditer(tail)]
        return refs

    def _office_document(self) -> str:
        for kind, target in self._relations("").values():
            if kind.endswith("/officeDocument") and target in self.names:
                return target
        if "xl/workbook.xml" in self.names:
            return "xl/workbook.xml"
        raise unreadable_file()

    def _relations(self, part: str) -> dict:
        folder, name = posixpath.split(part)
        rels = posixpath.join(folder, "_rels", f"{name}.rels")
        if rels not in self.names:
            return {}
        handler = _parse(self._open(rels), _RelationsHandler())
        relations = {}
        for relation_id, kind, target in handler.relations:
            if target.startswith("/"):
                path = target.lstrip("/")
            else:
                path = posixpath.normpath(posixpath.join(folder, target))
            relations[relation_id] = (kind, path)
        return relations

    def _open(self, path: str):
        return self.archive.open(path)


# --------------------------------------------------------------------------
# expat plumbing
# --------------------------------------------------------------------------


def _forbid_dtd(name, system_id, public_id, has_internal_subset):
    raise DTDForbidden(name, system_id, public_id)


def _forbid_entity(name, is_parameter, value, base, system_id, public_id, notation):
    raise EntitiesForbidden(name, value, base, system_id, public_id, notation)


def _forbid_unparsed_entity(name, base, system_id, public_id, notation):
    raise EntitiesForbidden(name, None, base, system_id, public_id, notation)


def _forbid_external(context, base, system_id, public_id):
    raise ExternalReferenceForbidden(context, base, system_id, public_id)


def _parser(handler):
    parser = xml.parsers.expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _forbid_dtd
    parser.EntityDeclHandler = _forbid_entity
    parser.UnparsedEntityDeclHandler = _forbid_unparsed_entity
    parser.ExternalEntityRefHandler = _forbid_external
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    if hasattr(handler, "text"):
        parser.CharacterDataHandler = handler.text
    return parser


def _feed(parser, chunk: bytes, *, final: bool) -> None:
    try:
        parser.Parse(chunk, final)
    except DefusedXmlException as error:
        raise xml_declarations() from error
    except xml.parsers.expat.ExpatError as error:
        raise unreadable_file() from error


def _parse(part, handler):
    parser = _parser(handler)
    with part:
        while chunk := part.read(CHUNK):
            _feed(parser, chunk, final=False)
    _feed(parser, b"", final=True)
    return handler


class _LocalNames(dict):
    """Element names without their prefix ("x:c" -> "c"), remembered: namespaces are not
    checked, and a sheet repeats the same few names hundreds of thousands of times."""

    def __missing__(self, name: str) -> str:
        local = self[name] = name.rpartition(":")[2]
        return local


_local = _LocalNames().__getitem__


def unescape(text: str) -> str:
    """OOXML writes characters XML can't hold as _xHHHH_ (_x000D_ is a carriage return)."""
    if "_x" not in text:
        return text
    return _ESCAPED.sub(lambda match: chr(int(match[1], 16)), text)


class _RelationsHandler:
    def __init__(self):
        self.relations = []

    def start(self, name, attrs):
        if _local(name) == "Relationship":
            self.relations.append((attrs.get("Id"), attrs.get("Type", ""), attrs.get("Target", "")))

    def end(self, name):
        pass


class _WorkbookHandler:
    def __init__(self):
        self.sheets = []
        self.date1904 = False

    def start(self, name, attrs):
        local = _local(name)
        if local == "sheet":
            relation_id = next((v for k, v in attrs.items() if _local(k) == "id"), None)
            self.sheets.append((attrs.get("name", ""), relation_id))
        elif local == "workbookPr":
            self.date1904 = attrs.get("date1904", "0").lower() in ("1", "true")

    def end(self, name):
        pass


class _SharedStringsHandler:
    """<si> holds <t> or rich-text runs <r><t>; phonetic hints <rPh> are not cell text."""

    def __init__(self):
        self.strings = []
        self.parts = []
        self.in_text = False
        self.phonetic = 0

    def start(self, name, attrs):
        local = _local(name)
        if local == "t" and not self.phonetic:
            self.in_text = True
        elif local == "rPh":
            self.phonetic += 1
        elif local == "si":
            self.parts = []

    def end(self, name):
        local = _local(name)
        if local == "t":
            self.in_text = False
        elif local == "rPh":
            self.phonetic -= 1
        elif local == "si":
            self.strings.append(unescape("".join(self.parts)))

    def text(self, data):
        if self.in_text:
            self.parts.append(data)


class _StylesHandler:
    def __init__(self):
        self.formats = {}
        self.cell_formats = []
        self.in_cell_xfs = False

    def start(self, name, attrs):
        local = _local(name)
        if local == "numFmt":
            self.formats[_int(attrs.get("numFmtId"))] = attrs.get("formatCode", "")
        elif local == "cellXfs":
            self.in_cell_xfs = True
        elif local == "xf" and self.in_cell_xfs:
            self.cell_formats.append(_int(attrs.get("numFmtId")))

    def end(self, name):
        if _local(name) == "cellXfs":
            self.in_cell_xfs = False

    def date_styles(self) -> set[int]:
        dates = set()
        for index, format_id in enumerate(self.cell_formats):
            code = self.formats.get(format_id) or BUILTIN_FORMATS.get(format_id)
            if code and is_date_format(code) and not is_timedelta_format(code):
                dates.add(index)
        return dates


class _SheetHandler:
    """Collects finished rows; each is (row number, values) with empty cells as None."""

    def __init__(self, workbook: XlsxWorkbook, max_columns: int):
        self.strings = workbook.shared_strings
        self.date_styles = workbook.date_styles
        self.epoch = workbook.epoch
        self.max_columns = max_columns
        self.rows = []
        self.row_number = 0
        self.cells = {}
        self.column = 0
        self.cell_type = None
        self.cell_style = 0
        self.parts = []
        self.capture = False  # inside <v>, or a <t> of an inline string
        self.phonetic = 0

    def take_rows(self):
        rows, self.rows = self.rows, []
        return rows

    def start(self, name, attrs):
        local = _local(name)
        if local == "c":
            ref = attrs.get("r")
            column = _column(ref) if ref else 0
            self.column = column or self.column + 1
            self.cell_type = attrs.get("t", "n")
            style = attrs.get("s")
            self.cell_style = _int(style) if style else 0
            self.parts = []
        elif local == "v" or (local == "t" and not self.phonetic):
            self.capture = True
        elif local == "row":
            number = _int(attrs.get("r"))
            self.row_number = number or self.row_number + 1
            self.cells = {}
            self.column = 0
        elif local == "rPh":
            self.phonetic += 1

    def end(self, name):
        local = _local(name)
        if local == "c":
            value = self._value()
            if value is not None and value != "":
                if self.column > self.max_columns:
                    raise too_many_columns(self.max_columns)
                self.cells[self.column] = value
        elif local in ("v", "t"):
            self.capture = False
        elif local == "row":
            width = max(self.cells, default=0)
            values = [None] * width
            for column, value in self.cells.items():
                values[column - 1] = value
            self.rows.append((self.row_number, tuple(values)))
        elif local == "rPh":
            self.phonetic -= 1

    def text(self, data):
        if self.capture:
            self.parts.append(data)

    def _value(self):
        raw = "".join(self.parts)
        kind = self.cell_type
        if kind == "inlineStr" or kind == "str":
            return unescape(raw)
        if raw == "":
            return None  # an empty or only formatted cell, or a formula never calculated
        if kind == "s":
            index = _int(raw)
            return self.strings[index] if 0 <= index < len(self.strings) else None
        if kind == "b":
            return raw.strip() in ("1", "true")
        if kind == "e":
            return None  # #N/A, #REF! ...: no value
        if kind == "d":
            return _iso_datetime(raw)
        return self._number(raw)

    def _number(self, raw: str):
        try:
            number = float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            return raw
        if self.cell_style in self.date_styles:
            try:
                return from_excel(number, self.epoch)
            except (ValueError, OverflowError):
                return number
        return number


class _ColumnNumbers(dict):
    """Column letters -> number ("AB" -> 28), remembered: a sheet uses the same few."""

    def __missing__(self, letters: str) -> int:
        number = 0
        for letter in letters.upper():
            if not "A" <= letter <= "Z":
                return 0
            number = number * 26 + ord(letter) - 64
        self[letters] = number
        return number


_column_numbers = _ColumnNumbers()


def _column(ref: str) -> int:
    return _column_numbers[ref.rstrip("0123456789")]


def _int(text) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def _iso_datetime(text: str):
    try:
        return datetime.datetime.fromisoformat(text.rstrip("Z"))
    except ValueError:
        return text


def open_workbook(stream) -> XlsxWorkbook:
    """The workbook of a checked .xlsx stream (see safety.check_zip)."""
    try:
        archive = zipfile.ZipFile(stream)
        return XlsxWorkbook(archive)
    except ImportFileError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise unreadable_file() from error
