"""The preview's column mapping ({sheet: {column letter: field}}), read from the posted selects
and checked before any dry run or queueing.

A mapping the admin corrects to nonsense (two columns on one field, a sheet without its e-mail
column, a column, sheet or field the file does not have) is refused here with a message per
sheet and column; it never reaches the job, and the job keeps the mapping it had.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from .labels import field_label
from .sheets import COLUMN_FIELDS, IGNORED

ALLOWED_FIELDS = frozenset({IGNORED, *COLUMN_FIELDS})
SELECT_PREFIX = "map-"
SELECT_NAME = re.compile(r"map-(\d{1,4})-([A-Z]{1,3})")


@dataclass(frozen=True)
class MappingProblem:
    message: str
    sheet: int | None = None  # index in report["sheets"]; None: the mapping as a whole
    columns: tuple[str, ...] = ()  # the letters whose select is at fault


@dataclass
class MappingChoice:
    """What the preview's selects asked for."""

    mapping: dict | None  # every imported sheet's full mapping; None when no select was posted
    problems: list = field(default_factory=list)
    chosen: dict = field(default_factory=dict)  # select name -> a known field, to show again


def sheet_key(sheet: dict) -> str:
    """How column_overrides names a sheet: its name, "" for a CSV file's one sheet."""
    return sheet["sheet"] if sheet["sheet"] is not None else ""


def select_name(index: int, letter: str) -> str:
    return f"{SELECT_PREFIX}{index}-{letter}"


def imported_sheets(report: dict) -> dict:
    """index -> sheet, for the sheets the preview shows selects for."""
    return {
        index: sheet
        for index, sheet in enumerate(report.get("sheets", []))
        if sheet.get("imported")
    }


def sheet_title(sheet: dict, report: dict) -> str:
    return sheet["sheet"] if sheet["sheet"] is not None else report.get("file", "")


def current_mapping(report: dict) -> dict:
    """The mapping the report was made with."""
    return {
        sheet_key(sheet): {column["column"]: column["field"] for column in sheet["columns"]}
        for sheet in imported_sheets(report).values()
    }


def check_mapping(mapping: dict, report: dict) -> list[MappingProblem]:
    """Every reason this mapping cannot be used on the report's file. A column the mapping does
    not name keeps the field the report shows for it."""
    sheets = imported_sheets(report)
    known = {sheet_key(sheet) for sheet in sheets.values()}
    problems = [
        MappingProblem(
            _("The file has no imported sheet called “%(sheet)s”.") % {"sheet": key or "?"}
        )
        for key in mapping
        if key not in known
    ]
    for index, sheet in sheets.items():
        title = sheet_title(sheet, report)
        chosen = mapping.get(sheet_key(sheet)) or {}
        letters = [column["column"] for column in sheet["columns"]]
        for letter, value in chosen.items():
            if letter not in letters:
                problems.append(unknown_column(index, title, letter))
            elif value not in ALLOWED_FIELDS:
                problems.append(
                    MappingProblem(
                        _("Column %(column)s of “%(sheet)s”: choose one of the listed fields.")
                        % {"column": letter, "sheet": title},
                        sheet=index,
                        columns=(letter,),
                    )
                )
        columns_of: dict[str, list[str]] = {}
        for column in sheet["columns"]:
            value = chosen.get(column["column"], column["field"])
            if value != IGNORED and value in ALLOWED_FIELDS:
                columns_of.setdefault(value, []).append(column["column"])
        for name, same in columns_of.items():
            if len(same) > 1:
                problems.append(
                    MappingProblem(
                        _(
                            "Columns %(columns)s of “%(sheet)s” are all imported as "
                            "“%(field)s”: keep one of them and set the others to %(ignored)s."
                        )
                        % {
                            "columns": ", ".join(same),
                            "sheet": title,
                            "field": field_label(name),
                            "ignored": field_label(IGNORED),
                        },
                        sheet=index,
                        columns=tuple(same),
                    )
                )
        if "email" not in columns_of:
            problems.append(
                MappingProblem(
                    _("Choose the e-mail column of “%(sheet)s”.") % {"sheet": title}, sheet=index
                )
            )
    return problems


def unknown_column(index: int, title: str, letter: str) -> MappingProblem:
    return MappingProblem(
        _("“%(sheet)s” has no column %(column)s.") % {"sheet": title, "column": letter},
        sheet=index,
    )


def mapping_from_post(post, report: dict) -> MappingChoice:
    """The mapping the preview's selects (`map-<sheet index>-<column letter>`) ask for, checked.

    A select the page never showed (an unknown sheet or column, a repeated or malformed name) or
    a value that is not one of its options is a problem like any other: nothing is applied.
    """
    sheets = imported_sheets(report)
    mapping = current_mapping(report)
    choice = MappingChoice(mapping=None)
    stray = False
    for name in post:
        if not name.startswith(SELECT_PREFIX):
            continue
        choice.mapping = mapping
        match = SELECT_NAME.fullmatch(name)
        values = post.getlist(name)
        if match is None or int(match[1]) not in sheets or len(values) != 1:
            stray = True
            continue
        index, letter, value = int(match[1]), match[2], values[0]
        sheet = sheets[index]
        if letter not in mapping[sheet_key(sheet)]:
            choice.problems.append(unknown_column(index, sheet_title(sheet, report), letter))
            continue
        mapping[sheet_key(sheet)][letter] = value
        if value in ALLOWED_FIELDS:
            choice.chosen[name] = value
    if stray:
        choice.problems.append(
            MappingProblem(
                _(
                    "The column mapping sent does not match the sheets and columns of this file. "
                    "Reload the page and choose again."
                )
            )
        )
    if choice.mapping is not None:
        choice.problems.extend(check_mapping(mapping, report))
    return choice
