"""Import a legacy customer spreadsheet: check it, read it, apply the duplicate policy, write.

All or nothing: the contacts, companies, tags, the ImportJob with its report and provenance rows
and the audit entry are written in one transaction. A dry run computes the same report and
writes no contact data. A file the import refuses raises ImportFileError (translated message)
before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.services import record_audit
from contacts.models import ImportJob, ImportStatus
from crm.bulk import save_json
from crm.memory import cycle_collection_paused

from . import prepared
from .normalising import normalise_rows
from .plan import ImportPlan
from .readers import read_sheets
from .report import build_report, planned_contacts
from .safety import ImportFileError, Limits, RowBudget, check_file
from .saving import load_existing, save_plan
from .sheets import scan_sheet

Progress = Callable[[int, int], None]


@dataclass
class ImportResult:
    report: dict
    job: ImportJob | None
    created_ids: list = field(default_factory=list)
    preview: list = field(default_factory=list)  # dry run: the first contacts as they'd be stored

    @property
    def totals(self) -> dict:
        return self.report["totals"]


def import_contacts(
    source,
    *,
    filename: str | None = None,
    default_owner=None,
    dry_run: bool = False,
    actor=None,
    progress: Progress | None = None,
    job: ImportJob | None = None,
    column_overrides: dict | None = None,
    preview_rows: int = 0,
    prepared_rows: Path | None = None,
) -> ImportResult:
    """Import one .xlsx, .xls or .csv file (a path or a binary file object) into the CRM.

    default_owner owns the new contacts whose row names no owner. A given `job` (the browser
    flow creates it before queueing) is marked running, then done or failed with the error;
    without one, a job is created with the data, so a refused file leaves no trace.
    column_overrides corrects the column mapping per sheet: {sheet name (None or "" for a CSV
    file): {column letter: field or "ignored"}}. A dry run with preview_rows=N also returns the
    first N contacts as they would be stored (ImportResult.preview). With prepared_rows (a
    path), a dry run keeps its normalised rows there and a real run uses them instead of reading
    the file again, when they were made from the same file, corrections and users (prepared.py).
    """
    limits = Limits.from_settings()
    with open_source(source, filename, limits) as (stream, name):
        if job is not None:
            _mark(job, status=ImportStatus.RUNNING)
        try:
            with cycle_collection_paused():
                return _import(
                    stream,
                    name,
                    limits=limits,
                    default_owner=default_owner,
                    dry_run=dry_run,
                    actor=actor,
                    progress=progress,
                    job=job,
                    column_overrides=column_overrides,
                    preview_rows=preview_rows,
                    prepared_rows=prepared_rows,
                )
        except Exception as error:
            if job is not None:
                message = error.message if isinstance(error, ImportFileError) else str(error)
                _mark(job, status=ImportStatus.FAILED, error=message, finished=True)
            raise


def _import(
    stream,
    name,
    *,
    limits,
    default_owner,
    dry_run,
    actor,
    progress,
    job,
    column_overrides=None,
    preview_rows=0,
    prepared_rows=None,
):
    kind = check_file(stream, filename=name, limits=limits)
    sha256 = _sha256(stream)
    people = list(get_user_model().objects.order_by("pk"))
    key = prepared.fingerprint(sha256=sha256, column_overrides=column_overrides, people=people)

    def rows():
        """(scans, rows, their e-mails): the preview's prepared rows when they fit (read one
        at a time), else the file's."""
        loaded = prepared.load(prepared_rows, key) if prepared_rows and not dry_run else None
        if loaded is not None:
            if progress is not None:
                progress(loaded.count, loaded.count)
            return loaded.scans, loaded.outcomes(), loaded.emails
        scans, outcomes = read_file(
            stream,
            kind,
            people=people,
            limits=limits,
            progress=progress,
            column_overrides=column_overrides,
        )
        if prepared_rows and dry_run:
            prepared.save(prepared_rows, key, scans, outcomes)
            # Planned from the file just written, one row at a time: the rows and the CRM's
            # matching contacts are then never both held whole.
            loaded = prepared.load(prepared_rows, key)
            return loaded.scans, loaded.outcomes(), loaded.emails
        return scans, outcomes, {outcome.email for outcome in outcomes if outcome.email}

    scans, outcomes, emails = rows()

    if dry_run:
        plan = ImportPlan(load_existing(emails, lock=False))
        plan.add_all(outcomes)
        report = build_report(
            filename=name, kind=kind, sha256=sha256, dry_run=True, scans=scans, plan=plan
        )
        if job is not None:
            _finish(job, report, dry_run=True)
        preview = planned_contacts(plan, limit=preview_rows, default_owner=default_owner)
        return ImportResult(report=report, job=job, preview=preview)

    given_job = job
    for attempt in (1, 2):
        job = given_job
        if attempt == 2:
            scans, outcomes, emails = rows()  # the first plan used up the first rows
        try:
            with transaction.atomic():
                # Locked in id order: a concurrent import of the same customers waits here.
                plan = ImportPlan(load_existing(emails, lock=True))
                plan.add_all(outcomes)
                report = build_report(
                    filename=name, kind=kind, sha256=sha256, dry_run=False, scans=scans, plan=plan
                )
                if job is None:
                    job = ImportJob(
                        file_name=name[:255],
                        sha256=sha256,
                        status=ImportStatus.RUNNING,
                        created_by=actor if getattr(actor, "pk", None) else None,
                        default_owner=default_owner,
                    )
                    job.save()
                created_ids = save_plan(
                    plan, job=job, actor=actor, default_owner=default_owner, people=people
                )
                _finish(job, report, dry_run=False)
                totals = report["totals"]
                record_audit(
                    actor=actor,
                    action="import",
                    object_type="contact",
                    ids=created_ids,
                    detail={
                        "job": job.pk,
                        "file": name,
                        "data_rows": totals["data_rows"],
                        "created": totals["created"],
                        "matched_existing": totals["matched_existing"],
                        "rejected": totals["rejected"],
                        "warnings": totals["warnings"],
                    },
                )
            return ImportResult(report=report, job=job, created_ids=created_ids)
        except IntegrityError:
            # Another import created one of these e-mails meanwhile: plan again against it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def read_file(stream, kind, *, people, limits, progress=None, column_overrides=None):
    """Sheets and normalised rows of a checked file; nothing is written."""
    budget = RowBudget(limits)
    scans, data_rows = [], []
    with closing(read_sheets(stream, kind, budget=budget)) as sheets:
        for sheet in sheets:
            overrides = sheet_overrides(column_overrides, sheet.name)
            scan, rows = scan_sheet(sheet, people=people, budget=budget, overrides=overrides)
            scans.append(scan)
            data_rows.extend(rows)
    return scans, normalise_rows(data_rows, people, progress)


def sheet_overrides(column_overrides: dict | None, sheet_name) -> dict | None:
    """A sheet's corrected columns; a CSV file's one sheet (no name) may be keyed "" (JSON)."""
    if not column_overrides:
        return None
    if sheet_name is None:
        return column_overrides.get(None) or column_overrides.get("")
    return column_overrides.get(sheet_name)


def _finish(job: ImportJob, report: dict, *, dry_run: bool) -> None:
    job.dry_run = dry_run
    job.report = report
    job.total_rows = job.done_rows = report["totals"]["data_rows"]
    job.status = ImportStatus.DONE
    job.error = ""
    job.finished_at = timezone.now()
    save_job(job)


def _mark(job: ImportJob, *, status, error="", finished=False) -> None:
    """A change of state: the report, unchanged, is not written again."""
    job.status = status
    job.error = error
    if finished:
        job.finished_at = timezone.now()
    if job.pk is None:
        save_job(job)
    else:
        job.save(update_fields=_FIELDS_BUT_REPORT)


_FIELDS_BUT_REPORT = [
    f.name for f in ImportJob._meta.concrete_fields if not f.primary_key and f.name != "report"
]


def save_job(job: ImportJob) -> None:
    """Save a job with its report. The report of a large file runs to megabytes (49,000
    matched rows...): it goes as one server-side JSON parameter, not quoted by the ORM."""
    with transaction.atomic():
        if job.pk is None:
            report, job.report = job.report, {}
            try:
                job.save()
            finally:
                job.report = report
        else:
            job.save(update_fields=_FIELDS_BUT_REPORT)
        save_json(ImportJob, job.pk, "report", job.report)


@contextmanager
def open_source(source, filename, limits: Limits):
    """A seekable binary stream and the file's name, from a path or an (uploaded) file."""
    path = None
    if isinstance(source, str | os.PathLike):
        path = Path(source)
    elif hasattr(source, "temporary_file_path"):  # Django's TemporaryUploadedFile
        path = Path(source.temporary_file_path())
    if path is not None:
        name = filename or getattr(source, "name", None) or path.name
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as error:
            raise ImportFileError(
                "cannot_open", gettext("The file could not be opened.")
            ) from error
        with handle:
            yield handle, os.path.basename(name)
        return
    name = filename or getattr(source, "name", None)
    if not name:
        raise ImportFileError(
            "unsupported_type", gettext("Only .xlsx, .xls and .csv files can be imported.")
        )
    if isinstance(source, io.IOBase) and source.seekable():
        yield source, os.path.basename(name)
        return
    # Anything else (an upload in memory, a socket): copy at most one byte over the limit.
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as copy:
        if hasattr(source, "seek"):
            source.seek(0)
        remaining = limits.max_file_bytes + 1
        while remaining > 0 and (chunk := source.read(min(remaining, 1024 * 1024))):
            copy.write(chunk)
            remaining -= len(chunk)
        copy.seek(0)
        yield copy, os.path.basename(name)


def _sha256(stream) -> str:
    digest = hashlib.sha256()
    stream.seek(0)
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()
