"""The readers return cell values as stored, whatever the file's internal layout."""

import datetime
import io
import zipfile

import openpyxl
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from contacts.importing.readers import read_sheets
from contacts.importing.safety import Limits, RowBudget


def rows_of(path, kind="xlsx"):
    budget = RowBudget(Limits.from_settings())
    with open(path, "rb") as stream:
        return {sheet.name: list(sheet.rows) for sheet in read_sheets(stream, kind, budget=budget)}


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def build_xlsx(path, rows_xml, *, shared_strings=None, date1904=False, prefix=""):
    """A workbook as Excel writes it: shared strings, a styles part with date formats, and
    optionally a namespace prefix on every element (as some generators do)."""
    p = f"{prefix}:" if prefix else ""
    xmlns = f"xmlns:{prefix}" if prefix else "xmlns"
    relations = [("rId1", "worksheet", "worksheets/sheet1.xml"), ("rId2", "styles", "styles.xml")]
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/'
        '2006/content-types"/>',
        "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="rId1" Type="{RELATIONSHIP}/officeDocument" '
        'Target="/xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<{p}workbook {xmlns}="{MAIN}" xmlns:rel="{RELATIONSHIP}">'
        + (f'<{p}workbookPr date1904="1"/>' if date1904 else "")
        + f'<{p}sheets><{p}sheet name="Data" sheetId="1" rel:id="rId1"/></{p}sheets>'
        f"</{p}workbook>",
        "xl/styles.xml": f'<{p}styleSheet {xmlns}="{MAIN}"><{p}numFmts count="1">'
        f'<{p}numFmt numFmtId="164" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/>'
        f'</{p}numFmts><{p}cellXfs count="3"><{p}xf numFmtId="0"/><{p}xf numFmtId="14"/>'
        f'<{p}xf numFmtId="164"/></{p}cellXfs></{p}styleSheet>',
        "xl/worksheets/sheet1.xml": f'<{p}worksheet {xmlns}="{MAIN}"><{p}sheetData>'
        + rows_xml.replace("<", f"<{p}").replace(f"<{p}/", f"</{p}")
        + f"</{p}sheetData></{p}worksheet>",
    }
    if shared_strings is not None:
        relations.append(("rId3", "sharedStrings", "sharedStrings.xml"))
        parts["xl/sharedStrings.xml"] = (
            f'<{p}sst {xmlns}="{MAIN}">'
            + shared_strings.replace("<", f"<{p}").replace(f"<{p}/", f"</{p}")
            + f"</{p}sst>"
        )
    parts["xl/_rels/workbook.xml.rels"] = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="{rid}" Type="{RELATIONSHIP}/{kind}" Target="{target}"/>'
            for rid, kind, target in relations
        )
        + "</Relationships>"
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return path


SHARED = (
    "<si><t>客户姓名</t></si>"
    '<si><t xml:space="preserve">  spaces kept  </t></si>'
    "<si><r><t>rich </t></r><r><rPr><b/></rPr><t>text</t></r></si>"
    '<si><r><t>東京</t></r><rPh sb="0" eb="2"><t>トウキョウ</t></rPh></si>'
    "<si><t>line_x000D_break _x005F_x000D_</t></si>"
    "<si><t>=HYPERLINK(1)</t></si>"
)
ROWS = (
    '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
    '<c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c><c r="E1" t="s"><v>4</v></c>'
    '<c r="F1" t="s"><v>5</v></c></row>'
    '<row r="3"><c r="A3" s="1"><v>45721</v></c><c r="B3" s="2"><v>45721.5</v></c>'
    '<c r="C3"><v>45721</v></c><c r="D3"><v>1.5</v></c><c r="E3" t="b"><v>1</v></c>'
    '<c r="F3" t="str"><f>UPPER("x")</f><v>X</v></c><c r="G3"><f>TODAY()</f></c>'
    '<c r="H3" t="e"><v>#N/A</v></c><c r="I3" t="inlineStr"><is><t>inline</t></is></c>'
    '<c r="J3" s="1"/></row>'
)
EXPECTED_ROWS = [
    (
        1,
        (
            "客户姓名",
            "  spaces kept  ",
            "rich text",
            "東京",
            "line\rbreak _x000D_",
            "=HYPERLINK(1)",
        ),
    ),
    (2, ()),
    (
        3,
        (
            datetime.datetime(2025, 3, 5),
            datetime.datetime(2025, 3, 5, 12, 0),
            45721,
            1.5,
            True,
            "X",
            None,
            None,
            "inline",
        ),
    ),
]


def test_xlsx_values_as_stored_through_shared_strings_and_styles(tmp_path):
    path = build_xlsx(tmp_path / "excel.xlsx", ROWS, shared_strings=SHARED)
    assert rows_of(path) == {"Data": EXPECTED_ROWS}


def test_xlsx_with_prefixed_elements_and_the_1904_date_system(tmp_path):
    path = build_xlsx(tmp_path / "x.xlsx", ROWS, shared_strings=SHARED, prefix="x")
    assert rows_of(path) == {"Data": EXPECTED_ROWS}
    mac = build_xlsx(
        tmp_path / "mac.xlsx", '<row r="1"><c r="A1" s="1"><v>44259</v></c></row>', date1904=True
    )
    assert rows_of(mac) == {"Data": [(1, (datetime.datetime(2025, 3, 5),))]}


def test_openpyxl_written_workbooks_read_the_same(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "客户"
    sheet.append(["text", 42, 1.5, True, None, "=not a formula"])
    sheet["E1"] = CellRichText("rich ", TextBlock(InlineFont(b=True), "text"))
    sheet["F1"].data_type = "s"  # a text cell starting with "=" stays text
    sheet["A2"] = datetime.date(2025, 3, 5)
    sheet["A2"].number_format = "yyyy/m/d"
    sheet["B2"] = datetime.datetime(2025, 3, 5, 14, 30)
    workbook.create_sheet("Second")["B3"] = "later"
    path = tmp_path / "types.xlsx"
    workbook.save(path)

    sheets = rows_of(path)

    assert list(sheets) == ["客户", "Second"]
    first = dict(sheets["客户"])
    assert first[1] == ("text", 42, 1.5, True, "rich text", "=not a formula")
    assert first[2] == (datetime.datetime(2025, 3, 5), datetime.datetime(2025, 3, 5, 14, 30))
    assert sheets["Second"] == [(1, ()), (2, ()), (3, (None, "later"))]


def test_xls_values_and_merged_cells():
    from .conftest import FIXTURES

    sheets = rows_of(FIXTURES / "old_customers_2019.xls", kind="xls")
    rows = dict(sheets["客户资料"])
    title = rows[1]
    assert title[0] and all(value == title[0] for value in title)  # merged across the table
    assert rows[2][:4] == ("客户姓名", "公司名称", "国家", "邮箱")


def test_csv_record_numbers_count_a_quoted_line_break_once():
    text = 'Name,Email,Notes\r\n"Ann",a@a.example,"one\r\ntwo"\r\nBob,b@a.example,\r\n'
    budget = RowBudget(Limits.from_settings())
    (sheet,) = read_sheets(io.BytesIO(text.encode("utf-8-sig")), "csv", budget=budget)
    assert sheet.name is None
    assert list(sheet.rows) == [
        (1, ("Name", "Email", "Notes")),
        (2, ("Ann", "a@a.example", "one\r\ntwo")),
        (3, ("Bob", "b@a.example", None)),
    ]
