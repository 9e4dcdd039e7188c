"""Refuse hostile or broken files before any row is read, and bound the work while reading.

Every check here runs on bytes we have not parsed yet: the size on disk, the first bytes (does
the content match the extension?), the zip central directory of an .xlsx (declared sizes and
compression ratios, a DTD in an XML part) and the OLE2 container of an encrypted workbook. The
readers call `RowBudget` while streaming so a file with two million rows or ten thousand columns
stops early. Messages go through gettext: the user reads them in their language.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Streams of an encrypted Office Open XML file inside its OLE2 container (UTF-16 names).
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")

EXTENSIONS = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".csv": "csv", ".txt": "csv"}

# Magic bytes of things that are certainly not a spreadsheet or a text file.
BINARY_MAGIC = (
    b"MZ",  # Windows .exe / .dll
    b"\x7fELF",
    b"\xca\xfe\xba\xbe",  # Mach-O / Java class
    b"\xcf\xfa\xed\xfe",
    b"%PDF",
    b"\x1f\x8b",  # gzip
    b"Rar!",
    b"7z\xbc\xaf",
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF8",
)
# An XML part declaring a DTD is either a bomb (entity expansion) or a probe (external entity).
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_SMALL_MEMBER = 1024 * 1024  # members below 1 MB can't hurt whatever their ratio


class ImportFileError(Exception):
    """A file the import refuses; `message` is translated, `code` is stable for programs."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_rows: int
    max_columns: int
    max_uncompressed_bytes: int
    max_compression_ratio: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_file_bytes=settings.IMPORT_MAX_FILE_BYTES,
            max_rows=settings.IMPORT_MAX_ROWS,
            max_columns=settings.IMPORT_MAX_COLUMNS,
            max_uncompressed_bytes=settings.IMPORT_MAX_UNCOMPRESSED_BYTES,
            max_compression_ratio=settings.IMPORT_MAX_COMPRESSION_RATIO,
        )


def file_kind_for(filename: str) -> str:
    """xlsx, xls or csv from the file name; anything else is refused."""
    name = (filename or "").lower()
    for extension, kind in EXTENSIONS.items():
        if name.endswith(extension):
            return kind
    raise ImportFileError(
        "unsupported_type",
        gettext("Only .xlsx, .xls and .csv files can be imported."),
    )


def check_file(stream, *, filename: str, limits: Limits) -> str:
    """Check size and content of a seekable binary stream; return the format to read it as.

    The content decides between xlsx and xls (a renamed old workbook still opens), but a file
    whose bytes are not a spreadsheet of the kind its extension claims is refused.
    """
    kind = file_kind_for(filename)
    size = _size_of(stream)
    if size == 0:
        raise ImportFileError("empty_file", gettext("The file is empty."))
    if size > limits.max_file_bytes:
        raise ImportFileError(
            "file_too_large",
            gettext("The file is larger than %(limit)s MB. Split it into smaller files.")
            % {"limit": _megabytes(limits.max_file_bytes)},
        )
    stream.seek(0)
    head = stream.read(8)
    stream.seek(0)
    if head.startswith(OLE2_MAGIC):
        if _contains(stream, ENCRYPTED_PACKAGE) or _contains(stream, ENCRYPTION_INFO):
            raise encrypted_workbook()
        if kind == "csv":
            raise _mismatch(filename)
        return "xls"
    if head.startswith(ZIP_MAGIC):
        if kind == "csv":
            raise _mismatch(filename)
        check_zip(stream, limits=limits)
        return "xlsx"
    if kind != "csv":
        raise _mismatch(filename)
    if head.startswith(BINARY_MAGIC) and not _is_text(stream):  # "MZ Trading,..." is text
        raise _mismatch(filename)
    check_text(stream)
    return "csv"


def check_zip(stream, *, limits: Limits) -> None:
    """Read the zip central directory only: declared sizes, ratios, and no DTD in any part.

    zipfile stops decompressing a member at its declared size, so checking the declared sizes
    bounds what the reader (xlsx.py) can ever inflate.
    """
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise unreadable_file() from error
    with archive:
        members = archive.infolist()
        if "xl/workbook.xml" not in {m.filename for m in members}:
            raise ImportFileError(
                "not_a_workbook",
                gettext("The file is a zip archive but not an Excel workbook."),
            )
        total = 0
        for member in members:
            if member.flag_bits & 0x1:
                raise encrypted_workbook()
            total += member.file_size
            ratio = member.file_size / max(member.compress_size, 1)
            if total > limits.max_uncompressed_bytes or (
                member.file_size > _SMALL_MEMBER and ratio > limits.max_compression_ratio
            ):
                raise ImportFileError(
                    "zip_bomb",
                    gettext(
                        "The workbook unpacks to far more data than a spreadsheet holds; it "
                        "was not opened."
                    ),
                )
        for member in members:
            if member.filename.endswith((".xml", ".rels")) and _declares_dtd(archive, member):
                raise xml_declarations()
    stream.seek(0)


def check_text(stream) -> None:
    """A CSV is text: no NUL bytes in its first 64 kB (UTF-16 and binaries have them)."""
    if not _is_text(stream):
        raise ImportFileError(
            "not_text",
            gettext(
                "The CSV file is not plain text. Save it from Excel as "
                "“CSV UTF-8 (comma delimited)” or “CSV (comma delimited)”."
            ),
        )


class RowBudget:
    """Counts rows with content and checks column widths while a reader streams."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.rows = 0

    def check_width(self, values) -> None:
        """Refuse a row with a value beyond the last allowed column (empty cells are free)."""
        width = len(values)
        if width <= self.limits.max_columns:
            return
        for value in values[self.limits.max_columns :]:
            if value is not None and value != "":
                raise too_many_columns(self.limits.max_columns)

    def count_row(self) -> None:
        self.rows += 1
        if self.rows > self.limits.max_rows:
            raise too_many_rows(self.limits.max_rows)


def encrypted_workbook() -> ImportFileError:
    return ImportFileError(
        "encrypted",
        gettext(
            "The workbook is protected with a password. Remove the password in Excel "
            "(File > Info > Protect Workbook) and upload it again."
        ),
    )


def xml_declarations() -> ImportFileError:
    """A DTD or entity declaration: entity expansion (billion laughs) or external entities."""
    return ImportFileError(
        "xml_entities",
        gettext(
            "The workbook contains XML declarations (DTD or entities) that Excel never "
            "writes; it was not opened."
        ),
    )


def too_many_rows(limit: int) -> ImportFileError:
    return ImportFileError(
        "too_many_rows",
        gettext("The file has more than %(limit)s rows. Split it into smaller files.")
        % {"limit": f"{limit:,}"},
    )


def too_many_columns(limit: int) -> ImportFileError:
    return ImportFileError(
        "too_many_columns",
        gettext("The sheet has more than %(limit)s columns.") % {"limit": limit},
    )


def unreadable_file() -> ImportFileError:
    """The file claims to be a spreadsheet but can't be read."""
    return ImportFileError(
        "unreadable",
        gettext("The file is damaged or not a spreadsheet; it could not be read."),
    )


def _mismatch(filename: str) -> ImportFileError:
    return ImportFileError(
        "content_mismatch",
        gettext("The content of “%(name)s” does not match its extension; it is not a spreadsheet.")
        % {"name": filename},
    )


def _is_text(stream) -> bool:
    stream.seek(0)
    sample = stream.read(64 * 1024)
    stream.seek(0)
    return b"\x00" not in sample


def _size_of(stream) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


def _contains(stream, needle: bytes, chunk_size: int = 1024 * 1024) -> bool:
    """Search a stream chunk by chunk (the size check has already bounded it)."""
    stream.seek(0)
    tail = b""
    try:
        while chunk := stream.read(chunk_size):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
        return False
    finally:
        stream.seek(0)


def _declares_dtd(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bool:
    """A DTD must come before the root element, so the first 4 kB of the part tell."""
    with archive.open(member) as part:
        head = part.read(4096)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            head = head.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return True
    return bool(_DTD.search(head))
