"""Hostile and broken files: refused quickly, with a clear message, with nothing written.

The files are generated here (nothing binary is committed). Time bounds are loose on purpose:
speed targets belong to bench/; these only catch a reader that loads everything first.
"""

import struct
import time
import zipfile

import openpyxl
import pytest
from django.utils import translation

from contacts.importing import ImportFileError, import_contacts

from .conftest import database_counts

QUICK = 5.0  # seconds: generous, the checks themselves take milliseconds

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Contacts" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)
SHEET_START = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_END = "</sheetData></worksheet>"
HEADER_ROW = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>Email</t></is></c>'
    '<c r="C1" t="inlineStr"><is><t>Phone</t></is></c></row>'
)


def write_xlsx(path, sheet_chunks, *, workbook=WORKBOOK, compresslevel=6):
    """A minimal workbook whose sheet XML is streamed from sheet_chunks (str pieces)."""
    with zipfile.ZipFile(
        path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
    ) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", PACKAGE_RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            for chunk in sheet_chunks:
                sheet.write(chunk.encode("utf-8"))
    return path


def ole2_container(streams):
    """A real OLE2 compound file (version 3, 512-byte sectors) holding the given streams.

    Each stream is padded to 4,096 bytes so it lives in regular sectors (no mini stream).
    This is the container Office writes around a password-protected .xlsx.
    """
    sector = 512
    end_of_chain, fat_sector, free = 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    data_sectors, fat = [], [fat_sector, end_of_chain]  # sector 0: FAT, sector 1: directory
    starts = []
    for _name, payload in streams:
        payload = payload.ljust(4096, b"\x00")
        count = len(payload) // sector
        first = 2 + len(data_sectors)
        starts.append((first, len(payload)))
        for index in range(count):
            data_sectors.append(payload[index * sector : (index + 1) * sector])
            fat.append(first + index + 1 if index < count - 1 else end_of_chain)
    fat += [free] * (sector // 4 - len(fat))

    def entry(name, kind, start, size, child=free, right=free):
        encoded = (name + "\x00").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", free, right, child)
            + b"\x00" * 16  # CLSID
            + struct.pack("<I", 0)  # state bits
            + b"\x00" * 16  # times
            + struct.pack("<IQ", start, size)
        )

    directory = entry("Root Entry", 5, end_of_chain, 0, child=1)
    for index, ((name, _payload), (start, size)) in enumerate(zip(streams, starts, strict=True)):
        right = index + 2 if index + 1 < len(streams) else free
        directory += entry(name, 2, start, size, right=right)
    directory = directory.ljust(sector, b"\x00")

    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end_of_chain, 0, end_of_chain, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )
    assert len(header) == sector
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + b"".join(data_sectors)


def refused(path, code, *, max_seconds=QUICK, **kwargs):
    """Import path, expect ImportFileError with code, quickly, with nothing written."""
    before = database_counts()
    started = time.perf_counter()
    with pytest.raises(ImportFileError) as caught:
        import_contacts(path, **kwargs)
    elapsed = time.perf_counter() - started
    assert caught.value.code == code, caught.value.message
    assert elapsed < max_seconds, f"took {elapsed:.1f} s"
    assert database_counts() == before
    assert caught.value.message  # a sentence for the user
    return caught.value


def test_zip_bomb_is_refused_from_the_central_directory(salespeople, tmp_path):
    path = write_xlsx(
        tmp_path / "bomb.xlsx",
        [SHEET_START, HEADER_ROW, " " * (60 * 1024 * 1024), SHEET_END],
        compresslevel=9,
    )
    assert path.stat().st_size < 1024 * 1024  # a few hundred kB that unpack to 60 MB
    error = refused(path, "zip_bomb")
    assert "unpacks to far more data" in error.message


def test_workbook_unpacking_beyond_the_total_limit_is_refused(salespeople, tmp_path, settings):
    settings.IMPORT_MAX_UNCOMPRESSED_BYTES = 100_000
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>{n * 7919}</t></is></c></row>'
        for n in range(2, 5000)
    )
    path = write_xlsx(tmp_path / "big.xlsx", [SHEET_START, HEADER_ROW, rows, SHEET_END])
    refused(path, "zip_bomb")


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    + "]>"
).replace("&lol0;", "&lol;")


def test_xml_entity_expansion_is_refused(salespeople, tmp_path):
    sheet = BILLION_LAUGHS + SHEET_START.split("?>", 1)[1]
    path = write_xlsx(
        tmp_path / "laughs.xlsx",
        [sheet, HEADER_ROW, '<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row>'],
    )
    refused(path, "xml_entities")


def test_external_entities_are_refused(salespeople, tmp_path):
    workbook = (
        '<?xml version="1.0"?><!DOCTYPE workbook [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + WORKBOOK.split("?>", 1)[1].replace('name="Contacts"', 'name="&xxe;"')
    )
    path = write_xlsx(
        tmp_path / "xxe.xlsx", [SHEET_START, HEADER_ROW, SHEET_END], workbook=workbook
    )
    refused(path, "xml_entities")


def test_a_dtd_hidden_after_4_kb_is_refused_by_the_parser_itself(salespeople, tmp_path):
    """The quick scan reads the first 4 kB of each part; the parser refuses any DTD anyway."""
    sheet = (
        '<?xml version="1.0"?><!--'
        + "x" * 8000
        + '--><!DOCTYPE worksheet [<!ENTITY e "boom">]>'
        + SHEET_START.split("?>", 1)[1]
    )
    path = write_xlsx(tmp_path / "late.xlsx", [sheet, HEADER_ROW, SHEET_END])
    refused(path, "xml_entities")


def test_openpyxl_parses_through_defusedxml():
    """Other code (exports) still loads workbooks with openpyxl: it must use defusedxml."""
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML is True


@pytest.mark.parametrize("name", ["customers.xlsx", "customers.xls", "customers.csv"])
def test_a_renamed_executable_is_refused(salespeople, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 64)
    error = refused(path, "content_mismatch")
    assert name in error.message


def test_a_csv_starting_like_an_executable_is_still_text(salespeople, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("MZ Trading customers\nName,Email,Phone\nAnn,ann@a.example,\n")
    assert import_contacts(path).report["totals"]["created"] == 1


def test_an_empty_file_is_refused(salespeople, tmp_path):
    path = tmp_path / "customers.xlsx"
    path.write_bytes(b"")
    error = refused(path, "empty_file")
    assert error.message == "The file is empty."


@pytest.mark.parametrize("name", ["protected.xlsx", "protected.xls"])
def test_an_encrypted_workbook_is_refused(salespeople, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(
        ole2_container(
            [("EncryptionInfo", b"\x04\x00\x04\x00\x40\x00\x00\x00"), ("EncryptedPackage", b"x")]
        )
    )
    error = refused(path, "encrypted")
    assert "password" in error.message


def test_a_file_over_the_size_cap_is_refused_before_reading(salespeople, tmp_path, settings):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:  # sparse: nothing to read, only the size matters
        handle.truncate(settings.IMPORT_MAX_FILE_BYTES + 1)
    error = refused(path, "file_too_large", max_seconds=1.0)
    assert "20 MB" in error.message


def test_two_million_csv_rows_are_refused_while_streaming(salespeople, tmp_path):
    path = tmp_path / "two_million.csv"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("Name,Email,Phone\n")
        handle.write("x\n" * 2_000_000)
    refused(path, "too_many_rows")


def two_million_rows(*, dimension):
    yield SHEET_START.replace(
        "<sheetData>", '<dimension ref="A1:A2000001"/><sheetData>' if dimension else "<sheetData>"
    )
    yield HEADER_ROW
    for start in range(2, 2_000_002, 100_000):
        yield "".join(
            f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(start, start + 100_000)
        )
    yield SHEET_END


def test_two_million_xlsx_rows_are_refused_from_the_declared_dimension(salespeople, tmp_path):
    path = write_xlsx(tmp_path / "two_million.xlsx", two_million_rows(dimension=True))
    refused(path, "too_many_rows", max_seconds=2.0)


def test_two_million_xlsx_rows_without_a_dimension_are_refused_while_streaming(
    salespeople, tmp_path
):
    """No <dimension> to trust: rows are counted as they stream and reading stops at the cap,
    long before the two millionth row (reading them all would take over a minute)."""
    path = write_xlsx(tmp_path / "two_million.xlsx", two_million_rows(dimension=False))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
        assert info.file_size > 50_000_000  # really two million rows, within the zip limits
    refused(path, "too_many_rows", max_seconds=15.0)


def test_ten_thousand_columns_are_refused(salespeople, tmp_path):
    path = tmp_path / "wide.csv"
    names = ["Name", "Email", "Phone"] + [f"extra{i}" for i in range(10_000)]
    path.write_text(",".join(names) + "\n", encoding="utf-8")
    error = refused(path, "too_many_columns")
    assert "200" in error.message

    cells = "".join(
        f'<c r="{openpyxl.utils.get_column_letter(i)}1" t="inlineStr"><is><t>c{i}</t></is></c>'
        for i in range(1, 10_001)
    )
    wide = write_xlsx(tmp_path / "wide.xlsx", [SHEET_START, f'<row r="1">{cells}</row>', SHEET_END])
    refused(wide, "too_many_columns")


def test_formatted_empty_cells_far_to_the_right_are_not_columns(salespeople, tmp_path):
    """Only values count: a template formatted out to column XFD still imports."""
    rows = HEADER_ROW.replace("</row>", '<c r="XFD1" s="0"/></row>') + (
        '<row r="2"><c r="A2" t="inlineStr"><is><t>Ann</t></is></c>'
        '<c r="B2" t="inlineStr"><is><t>ann@a.example</t></is></c><c r="XFD2" s="0"/></row>'
    )
    path = write_xlsx(tmp_path / "template.xlsx", [SHEET_START, rows, SHEET_END])
    assert import_contacts(path).report["totals"]["created"] == 1


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("broken.xlsx", b"PK\x03\x04 this is not really a zip", "unreadable"),
        ("notes.txt.xlsx", zipfile.ZipFile.__name__.encode() * 10, "content_mismatch"),
        ("customers.pdf", b"%PDF-1.7", "unsupported_type"),
        ("utf16.csv", "Name,Email\n".encode("utf-16"), "not_text"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000, "unreadable"),
    ],
)
def test_broken_files_get_a_clear_message(salespeople, tmp_path, name, content, code):
    path = tmp_path / name
    path.write_bytes(content)
    refused(path, code)


def test_messages_follow_the_active_language(salespeople, tmp_path):
    """Messages are looked up with gettext when raised, in the user's language."""
    path = tmp_path / "customers.xlsx"
    path.write_bytes(b"")
    messages = {}
    for language in ("en", "zh-hans"):
        with translation.override(language):
            with pytest.raises(ImportFileError) as caught:
                import_contacts(path)
        messages[language] = caught.value.message
    assert messages == {"en": "The file is empty.", "zh-hans": "文件为空。"}
