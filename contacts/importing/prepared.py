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
from dataclasses import dataclass
from pathlib import Path

from .rows import RowOutcome

logger = logging.getLogger(__name__)

FORMAT = 1  # bump when RowOutcome or the report's sheet entries change shape


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
    """Write atomically (a temporary name, then rename): a half-written file is never read."""
    document = {
        "key": key,
        "sheets": [scan.as_report() for scan in scans],
        "rows": [[o.sheet, o.row, o.email, o.values, o.warnings, o.rejection] for o in outcomes],
    }
    temporary = path.with_name(path.name + ".partial")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, separators=(",", ":"))
    os.replace(temporary, path)


def load(path: Path, key: str):
    """(scans, outcomes) if the file holds rows for this key, else None."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("prepared rows %s unreadable: %s", path.name, error)
        return None
    if not isinstance(document, dict) or document.get("key") != key:
        return None
    scans = [StoredScan(report) for report in document["sheets"]]
    outcomes = [RowOutcome(*row) for row in document["rows"]]
    return scans, outcomes


def remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".partial").unlink(missing_ok=True)
