"""Write a large legacy workbook the way the fixtures' customer_master_5000.xlsx is made.

The fixtures hold no 50,000-row file (it would exceed their 5 MB cap), so this script builds one
from customer_master_5000.xlsx: its header, then its 5,000 data rows repeated as often as needed.
Each repetition k > 0 gets its own addresses ("anna@x.example" -> "anna.k2@x.example", every
address in a cell, invalid ones stay invalid), so the file keeps the master's mix of messy cells,
in-file duplicates, invalid and missing e-mails per 5,000 rows, and no two repetitions collide.
Real dates stay date cells, numbers stay numbers, text stays text.

    .venv/bin/python bench/make_legacy_workbook.py --rows 50000 --output var/bench/legacy_50000.xlsx
"""

import argparse
import os
import re
from pathlib import Path

FIXTURES = Path(
    os.environ.get(
        "LEGACY_FIXTURES_DIR",
        Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "legacy",
    )
)
MASTER = FIXTURES / "customer_master_5000.xlsx"
# An "@" preceded by a local-part character: "john@" and "x@y" keep their kind, only renamed.
ADDRESS_AT = re.compile(r"(?<=[^\s@:;,<>/|，；、])@")


def master_rows():
    from openpyxl import load_workbook

    workbook = load_workbook(MASTER, read_only=True)
    try:
        sheet = workbook.worksheets[0]
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        return sheet.title, rows[0], rows[1:]
    finally:
        workbook.close()


def renamed(value, repetition: int):
    if repetition == 0 or not isinstance(value, str) or "@" not in value:
        return value
    return ADDRESS_AT.sub(f".k{repetition}@", value)


def write_workbook(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    title, header, data = master_rows()
    email_column = header.index("邮箱地址")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(header)
    for index in range(rows):
        repetition, source = divmod(index, len(data))
        row = list(data[source])
        row[email_column] = renamed(row[email_column], repetition)
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--output", default="var/bench/legacy_50000.xlsx")
    args = parser.parse_args()
    path = Path(args.output)
    write_workbook(path, args.rows)
    print(f"{path}: {args.rows:,} data rows, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
