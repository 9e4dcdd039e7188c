"""The calamine fast path reads exactly what the streaming reader reads, and only gets the sheets
whose grid a byte scan proves small (a far-away cell would make calamine abort the process)."""

import datetime
import multiprocessing

import openpyxl
import pytest

from contacts.importing import fast_xlsx
from contacts.importing.fast_xlsx import calamine_rows, fits_calamine, open_calamine
from contacts.importing.readers import parse_range
from contacts.importing.safety import ImportFileError
from contacts.importing.xlsx import open_workbook

from .conftest import FIXTURES
from .test_readers import EXPECTED_ROWS, ROWS, SHARED, build_xlsx, rows_of

ROW_LIMIT = 100_030


def both_readers(path):
    """{sheet: (streaming rows, calamine rows or None, merged ranges of each)}"""
    found = {}
    with open(path, "rb") as stream:
        workbook = open_workbook(stream)
        book = open_calamine(stream)
        for sheet in workbook.sheets:
            streamed = trimmed(workbook.rows(sheet, max_columns=200))
            merged = sorted(r for r in map(parse_range, workbook.merged_ranges(sheet)) if r)
            if fits_calamine(workbook, sheet, max_row=ROW_LIMIT):
                rows, ranges = calamine_rows(book, sheet.name)
                found[sheet.name] = (streamed, trimmed(rows), merged, sorted(ranges))
            else:
                found[sheet.name] = (streamed, None, merged, None)
    return found


def trimmed(rows):
    """Rows up to the last one with a value (trailing formatted-only rows differ harmlessly)."""
    rows = list(rows)
    while rows and rows[-1][1] == ():
        rows.pop()
    return rows


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.xlsx")), ids=lambda p: p.name)
def test_every_fixture_workbook_takes_the_fast_path_and_reads_the_same(path):
    for name, (streamed, fast, merged, fast_merged) in both_readers(path).items():
        assert fast is not None, f"{name}: should fit calamine"
        assert fast == streamed, name
        assert fast_merged == merged, name


def test_values_of_every_kind_read_the_same(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["C3"] = "starts at C3"
    sheet["D4"] = 42
    sheet["E4"] = 1.5
    sheet["F4"] = True
    sheet["G4"] = datetime.date(2025, 3, 5)
    sheet["G4"].number_format = "yyyy/m/d"
    sheet["H4"] = datetime.datetime(2025, 3, 5, 14, 30)
    sheet["I4"] = "  kept  "
    sheet.merge_cells("C6:E7")
    sheet["C6"] = "merged"
    path = tmp_path / "kinds.xlsx"
    workbook.save(path)

    streamed, fast, merged, fast_merged = both_readers(path)["Sheet"]

    assert fast == streamed
    assert fast_merged == merged == [(6, 3, 7, 5)]
    assert dict(fast)[4] == (
        None, None, None, 42, 1.5, True,
        datetime.datetime(2025, 3, 5), datetime.datetime(2025, 3, 5, 14, 30), "  kept  ",
    )  # fmt: skip


def test_excel_style_shared_strings_fit_and_read_the_same(tmp_path):
    path = build_xlsx(
        tmp_path / "excel.xlsx", ROWS, shared_strings=SHARED.replace("rich </t>", "rich</t>")
    )
    streamed, fast, _merged, _fast_merged = both_readers(path)["Data"]
    assert fast is not None
    assert fast == streamed


@pytest.mark.parametrize(
    "shared, inline, expected",
    [
        ("<si><t>  padded  </t></si>", None, "  padded  "),
        ("<si><r><t>rich </t></r><r><t>text</t></r></si>", None, "rich text"),
        (None, "<is><r><t>a</t></r><r><t> b</t></r></is>", "a b"),
        (None, "<is><t>trailing\n</t></is>", "trailing\n"),
        ("<si><t>\ttabbed</t></si>", None, "\ttabbed"),
        (None, "<is><t>carriage\r</t></is>", "carriage\n"),  # XML reads a lone CR as LF
    ],
)
def test_text_calamine_would_trim_goes_to_the_streaming_reader(tmp_path, shared, inline, expected):
    if shared:
        rows = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    else:
        rows = f'<row r="1"><c r="A1" t="inlineStr">{inline}</c></row>'
    path = build_xlsx(tmp_path / "trim.xlsx", rows, shared_strings=shared)
    assert both_readers(path)["Data"][1] is None
    assert rows_of(path)["Data"] == [(1, (expected,))]  # the white space survived


def test_preserved_white_space_fits(tmp_path):
    shared = '<si><r><t xml:space="preserve">rich </t></r><r><t>text</t></r></si>'
    rows = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    path = build_xlsx(tmp_path / "kept.xlsx", rows, shared_strings=shared)
    streamed, fast, _m, _fm = both_readers(path)["Data"]
    assert fast == streamed == [(1, ("rich text",))]


@pytest.mark.parametrize(
    "rows_xml",
    [
        # A1 and the last cell Excel has: calamine would allocate 512 GB and abort.
        '<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>',
        # The far cell hides in an early row element.
        '<row r="1"><c r="A1"><v>1</v><c r="A999999"><v>2</v></c></c></row>',
        # Cells without references: their position is implied, so not proven.
        '<row r="1"><c><v>1</v></c><c><v>2</v></c></row>',
        # Wide: column GZ times up to 99,999 rows is over the cell budget.
        '<row r="1"><c r="GZ1"><v>1</v></c></row>',
        # A comment (or a DTD) is the strict parser's business.
        '<row r="1"><c r="A1"><v>1</v></c></row><!-- x -->',
    ],
    ids=["far-corner", "far-row-in-row-1", "no-references", "wide", "comment"],
)
def test_sheets_not_proven_small_do_not_fit(tmp_path, rows_xml):
    path = build_xlsx(tmp_path / "odd.xlsx", rows_xml)
    with open(path, "rb") as stream:
        workbook = open_workbook(stream)
        assert not fits_calamine(workbook, workbook.sheets[0], max_row=ROW_LIMIT)


def test_prefixed_elements_do_not_fit(tmp_path):
    path = build_xlsx(tmp_path / "x.xlsx", ROWS, shared_strings=SHARED, prefix="x")
    with open(path, "rb") as stream:
        workbook = open_workbook(stream)
        assert not fits_calamine(workbook, workbook.sheets[0], max_row=ROW_LIMIT)
    assert rows_of(path) == {"Data": EXPECTED_ROWS}


def _import_far_corner(path, queue):
    from contacts.importing.readers import read_sheets
    from contacts.importing.safety import Limits, RowBudget

    try:
        with open(path, "rb") as stream:
            for sheet in read_sheets(stream, "xlsx", budget=RowBudget(Limits.from_settings())):
                list(sheet.rows)
        queue.put("read")
    except ImportFileError as error:
        queue.put(error.code)


def test_a_far_corner_cell_is_refused_and_the_process_survives(tmp_path):
    """Run in a child process: if calamine were given this sheet, the child would abort."""
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "email"
    workbook.active["XFD1048576"] = "boom"
    path = tmp_path / "corner.xlsx"
    workbook.save(path)
    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(
        target=_import_far_corner, args=(path, queue)
    )
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) in {"too_many_rows", "too_many_columns"}


def test_the_cell_budget_is_what_bounds_calamine():
    assert fast_xlsx.MAX_CELLS * 32 < 300 * 1024 * 1024  # calamine's cells stay well under 300 MB
