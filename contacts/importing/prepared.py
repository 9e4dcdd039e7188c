"""The preview's normalised rows, kept for the confirmed import so the file is read only once.

Reading and normalising is most of an import's work (for 50,000 rows: seconds of phone-number
parsing alone). The preview does it; the worker that runs the confirmed import loads the result
from a JSON file beside the private upload instead of doing it again. The file is used only if
it was made from the same bytes (SHA-256), the same column corrections and the same CRM users
(owners are matched against them); anything else, or a file that cannot be read, and the worker
reads the spreadsheet as before. JSON, not pickle: loading it can never run code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from .rows import RowOutcome

logger = logging.getLogger(__name__)

LINES_PER_WRITE = 1000
FORMAT = 2  # bump when RowOutcome or the report's sheet entries change shape


@dataclass
class StoredScan:
    """A sheet scan as the report shows it (all build_report needs of a SheetScan)."""

    report: dict

    def as_report(self) -> dict:
        return self.report


def fingerprint(*, sha256: str, column_overrides, people) -> str:
    """What the normalised rows depend on besides the code: file, corrections, users."""
    users = [[p.pk, p.username, p.name_zh, p.name_en, p.aliases, p.is_active] for p in people]
    basis = json.dumps([FORMAT, sha256, column_overrides or {}, users], sort_keys=True, default=str)
    return hashlib.sha256(basis.encode()).hexdigest()


def save(path: Path, key: str, scans, outcomes) -> None:
    """Write atomically (a temporary name, then rename): a half-written file is never read.

    JSON lines: a head (key, sheets, the rows' e-mails), then one line per row, so the import
    can look its e-mails up first and then go through the rows one at a time. orjson encodes
    and decodes them five to ten times faster than the standard library."""
    head = {
        "key": key,
        "sheets": [scan.as_report() for scan in scans],
        "emails": sorted({outcome.email for outcome in outcomes if outcome.email}),
        "count": len(outcomes),
    }
    temporary = path.with_name(path.name + ".partial")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(orjson.dumps(head) + b"\n")
        for start in range(0, len(outcomes), LINES_PER_WRITE):
            handle.write(
                b"".join(
                    orjson.dumps([o.sheet, o.row, o.email, o.values, o.warnings, o.rejection])
                    + b"\n"
                    for o in outcomes[start : start + LINES_PER_WRITE]
                )
            )
    os.replace(temporary, path)


@dataclass
class PreparedRows:
    scans: list
    emails: set
    count: int
    path: Path

    def outcomes(self) -> Iterator[RowOutcome]:
        """The rows, read one line at a time (the head was checked when the file was opened)."""
        with open(self.path, "rb") as handle:
            handle.readline()
            for line in handle:
                yield RowOutcome(*orjson.loads(line))


def load(path: Path, key: str) -> PreparedRows | None:
    """The prepared rows if the file holds rows for this key, else None."""
    try:
        with open(path, "rb") as handle:
            head = orjson.loads(handle.readline())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as error:
        logger.warning("prepared rows %s unreadable: %s", path.name, error)
        return None
    if not isinstance(head, dict) or head.get("key") != key:
        return None
    scans = [StoredScan(report) for report in head["sheets"]]
    return PreparedRows(scans, set(head["emails"]), head["count"], path)


def remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".partial").unlink(missing_ok=True)
