"""The legacy spreadsheet import: .xlsx / .xls / .csv customer lists into contacts.

Entry point: `import_contacts(path_or_file, filename=..., default_owner=..., dry_run=...,
actor=..., progress=...) -> ImportResult` (see engine.py). The rules are those of
shared/fixtures/legacy/README.md ("Import rules").
"""

from .engine import ImportResult, import_contacts
from .safety import ImportFileError

__all__ = ["ImportFileError", "ImportResult", "import_contacts"]
