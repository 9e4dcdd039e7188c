"""The import report: plain JSON, keyed as in the fixtures' *.expected.json files.

It holds no ids and no clock times, so the same file imported into the same CRM state always
gives the same report (the CLI's --format json prints exactly this).
"""

from __future__ import annotations

from .plan import ImportPlan

REPORT_KEYS = (
    "file",
    "format",
    "sha256",
    "dry_run",
    "sheets",
    "totals",
    "rejected_rows",
    "warnings",
    "duplicates",
    "matched_rows",
)


def build_report(*, filename, kind, sha256, dry_run, scans, plan: ImportPlan) -> dict:
    return {
        "file": filename,
        "format": kind,
        "sha256": sha256,
        "dry_run": dry_run,
        "sheets": [scan.as_report() for scan in scans],
        "totals": plan.totals(),
        "rejected_rows": plan.rejected_rows,
        "warnings": plan.warnings,
        "duplicates": list(plan.duplicates.values()),
        "matched_rows": plan.matched_rows,
    }


def summary_lines(report: dict, *, limit: int = 20) -> list[str]:
    """A readable summary for the command line (English, like the other commands)."""
    totals = report["totals"]
    reasons = ", ".join(f"{k} {v}" for k, v in totals["rejected_by_reason"].items())
    lines = [
        f"{report['file']}{' (dry run: nothing was written)' if report['dry_run'] else ''}",
        f"  {totals['data_rows']} data rows: {totals['created']} created, "
        f"{totals['matched_existing']} matched existing contacts, "
        f"{totals['rejected']} rejected{f' ({reasons})' if reasons else ''}, "
        f"{totals['warnings']} warnings",
    ]
    for sheet in report["sheets"]:
        name = sheet["sheet"] if sheet["sheet"] is not None else "(csv)"
        if not sheet["imported"]:
            lines.append(f"  sheet {name}: not imported ({sheet['reason']})")
            continue
        owner = sheet["owner_from_sheet_name"]
        lines.append(
            f"  sheet {name}: header on row {sheet['header_row']}, {sheet['data_rows']} data rows"
            + (f", owner from sheet name: {owner}" if owner else "")
        )
    for title, key in (("Rejected rows", "rejected_rows"), ("Warnings", "warnings")):
        entries = report[key]
        if not entries:
            continue
        lines.append(f"{title}:")
        for entry in entries[:limit]:
            lines.append("  " + _describe(entry))
        if len(entries) > limit:
            lines.append(f"  ... and {len(entries) - limit} more (use --format json)")
    return lines


def _describe(entry: dict) -> str:
    where = f"row {entry['row']}"
    if entry.get("sheet") is not None:
        where = f"{entry['sheet']}!{where}"
    if "code" in entry:
        return f"{where}: {entry['field']} {entry['code']} ({entry['value']!r})"
    if entry["reason"] == "duplicate_in_file":
        first = entry["duplicate_of"]["row"]
        return f"{where}: duplicate_in_file {entry['email']} (first on row {first})"
    return f"{where}: {entry['reason']} ({entry.get('value')!r})"


def planned_contacts(plan: ImportPlan, *, limit: int, default_owner=None) -> list[dict]:
    """The first `limit` contacts of a planned import as they would be stored: later rows of
    the file merged in, the default owner where no row names one (new contacts only)."""
    planned = []
    for draft in list(plan.drafts.values())[: max(limit, 0)]:
        values = dict(draft.values)
        if draft.existing is None and not values.get("owner") and default_owner is not None:
            values["owner"] = default_owner.username
        planned.append(
            {
                **draft.first_row,
                "action": "create" if draft.existing is None else "merge",
                "filled_fields": list(draft.filled_fields),
                "values": values,
            }
        )
    return planned
