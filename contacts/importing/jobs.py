"""The import as a browser job: private upload, dry-run preview, queueing, progress, staleness.

Flow: `preview_upload` keeps the file in IMPORT_UPLOAD_DIR (never served) and creates a pending
ImportJob holding the dry run's report; `correct_mapping` re-runs the dry run with the admin's
column choices; `queue_import` hands the job to Celery after the commit; `run_import_job` (the
task's body) runs the engine, all or nothing, and removes the upload when the job ends.

Progress and liveness live in the cache (Redis), not in the database: the import holds one
transaction open until it commits, and rows written inside it are invisible to other
connections. While a worker runs a job it keeps a lease key alive (a heartbeat thread); a
running job whose lease expired belongs to a worker that died: `is_stale` says so and
`run_again` re-queues it. Two workers never run one job at once: besides the lease, a run holds
a PostgreSQL advisory lock on its database session, which ends with the worker's connection.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from contacts.models import ImportJob, ImportStatus

from . import prepared
from .engine import import_contacts, save_job
from .safety import EXTENSIONS, ImportFileError, file_kind_for

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 10
ABANDONED_AFTER = timedelta(days=1)  # a preview nobody confirmed: its upload is removed
# Without a cache shared by web and workers (the embedded default's per-process memory cache)
# no heartbeat is visible: a running job counts as stale only after this long.
UNSHARED_STALE_AFTER = timedelta(hours=1)
COPY_CHUNK = 1024 * 1024
ADVISORY_LOCK_SPACE = 0x1A7C  # first key of pg_try_advisory_lock(int, int): contact imports


# --- the private upload -----------------------------------------------------------------------


def upload_dir() -> Path:
    folder = Path(settings.IMPORT_UPLOAD_DIR)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def upload_path(job: ImportJob) -> Path | None:
    """Where the job's upload is kept (whether or not it is still there)."""
    if not job.upload_name:
        return None
    return upload_dir() / job.upload_name


def store_upload(uploaded) -> str:
    """Copy an uploaded file into the private folder under a random name; return that name.

    At most one byte more than the import accepts is copied: the engine then refuses the file
    as too large, and a huge upload never fills the disk.
    """
    extension = Path(uploaded.name or "").suffix.lower()
    if extension not in EXTENSIONS:
        file_kind_for(uploaded.name or "")  # raises the translated "unsupported type" error
    name = f"{uuid.uuid4().hex}{extension}"
    path = upload_dir() / name
    remaining = settings.IMPORT_MAX_FILE_BYTES + 1
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        for chunk in uploaded.chunks(COPY_CHUNK):
            handle.write(chunk[:remaining])
            remaining -= len(chunk)
            if remaining <= 0:
                break
    return name


def remove_upload(job: ImportJob) -> None:
    path = upload_path(job)
    if path is not None:
        path.unlink(missing_ok=True)
    prepared.remove(prepared_rows_path(job))


def prepared_rows_path(job: ImportJob) -> Path | None:
    """Where the preview keeps its normalised rows for the confirmed import (prepared.py)."""
    path = upload_path(job)
    return None if path is None else path.with_name(path.name + ".rows.json")


def has_upload(job: ImportJob) -> bool:
    path = upload_path(job)
    return path is not None and path.is_file()


# --- preview (dry run) ------------------------------------------------------------------------


def preview_upload(*, uploaded, default_owner, actor) -> ImportJob:
    """Keep the upload and dry-run it. A refused file raises ImportFileError and leaves nothing:
    no job, no file."""
    name = store_upload(uploaded)
    job = ImportJob(
        file_name=os.path.basename(uploaded.name)[:255],
        status=ImportStatus.PENDING,
        dry_run=True,
        created_by=actor,
        default_owner=default_owner,
        upload_name=name,
    )
    try:
        _dry_run(job)
    except BaseException:
        remove_upload(job)
        raise
    save_job(job)
    return job


def correct_mapping(job: ImportJob, column_overrides: dict) -> ImportJob:
    """Preview again with the admin's column choices ({sheet name or "": {letter: field}})."""
    previous = job.column_overrides
    job.column_overrides = column_overrides
    try:
        _dry_run(job)
    except BaseException:
        job.column_overrides = previous
        raise
    save_job(job)
    return job


def _dry_run(job: ImportJob) -> None:
    path = upload_path(job)
    if path is None or not path.is_file():
        raise ImportFileError("upload_gone", upload_gone_message())
    result = import_contacts(
        path,
        filename=job.file_name,
        default_owner=job.default_owner,
        dry_run=True,
        column_overrides=job.column_overrides or None,
        preview_rows=PREVIEW_ROWS,
        prepared_rows=prepared_rows_path(job),
    )
    job.sha256 = result.report["sha256"]
    job.report = {**result.report, "preview": result.preview}
    job.total_rows = result.report["totals"]["data_rows"]
    job.done_rows = 0


def upload_gone_message() -> str:
    return gettext("The uploaded file is no longer there. Upload it again.")


def earlier_imports(job: ImportJob):
    """Finished imports of the same file (same SHA-256): shown in the preview."""
    if not job.sha256:
        return ImportJob.objects.none()
    return ImportJob.objects.filter(
        sha256=job.sha256, dry_run=False, status__in=[ImportStatus.DONE, ImportStatus.REVERTED]
    ).exclude(pk=job.pk)


def discard_preview(job: ImportJob) -> None:
    """A preview the admin does not want: the upload and the job go."""
    remove_upload(job)
    job.delete()


def remove_abandoned_uploads(now=None) -> int:
    """Previews never confirmed within ABANDONED_AFTER lose their upload and their job."""
    now = now or timezone.now()
    abandoned = ImportJob.objects.filter(
        status=ImportStatus.PENDING,
        queued_at__isnull=True,
        created_at__lt=now - ABANDONED_AFTER,
    )
    count = 0
    for job in abandoned:
        discard_preview(job)
        count += 1
    return count


def is_preview(job: ImportJob) -> bool:
    return job.status == ImportStatus.PENDING and job.queued_at is None


# --- queueing and running ---------------------------------------------------------------------


def queue_import(job: ImportJob) -> None:
    """Confirmed: the job goes to a worker once this transaction commits."""
    from contacts.tasks import run_import

    job.queued_at = timezone.now()
    job.status = ImportStatus.PENDING
    job.error = ""
    job.save(update_fields=["queued_at", "status", "error"])
    set_progress(job, 0, job.total_rows)
    job_id = job.pk
    transaction.on_commit(lambda: run_import.delay(job_id))


def run_again(job: ImportJob) -> bool:
    """Re-queue a job whose worker died (or whose message was lost). Nothing was written by the
    dead run (its transaction rolled back); running twice is harmless anyway: a second run finds
    the contacts of the first and creates nothing."""
    if not is_stale(job) or not has_upload(job):
        return False
    queue_import(job)
    return True


def run_import_job(job_id: int) -> str:
    """The Celery task's body: run the engine on a queued job; remove the upload at the end."""
    # Not the preview's report: for a large file it runs to megabytes, and the run writes its own.
    job = (
        ImportJob.objects.select_related("created_by", "default_owner")
        .defer("report")
        .filter(pk=job_id)
        .first()
    )
    if job is None or job.queued_at is None or not _runnable(job):
        return "skipped"
    lease = Lease(job)
    if not lease.acquire():
        return "busy"  # another worker runs it right now
    try:
        with exclusive_run(job.pk) as alone:
            if not alone:
                return "busy"
            job.refresh_from_db()
            if not _runnable(job):  # finished between our first look and the lock
                return "skipped"
            return _run(job)
    finally:
        lease.release()


def _run(job: ImportJob) -> str:
    path = upload_path(job)
    if path is None or not path.is_file():
        _fail(job, upload_gone_message())
        return "failed"
    set_progress(job, 0, job.total_rows)
    try:
        import_contacts(
            path,
            filename=job.file_name,
            default_owner=job.default_owner,
            actor=job.created_by,
            job=job,
            column_overrides=job.column_overrides or None,
            progress=lambda done, total: set_progress(job, done, total),
            prepared_rows=prepared_rows_path(job),
        )
    except ImportFileError as error:
        _fail(job, error.message)
    except Exception as error:
        logger.exception("import job %s failed", job.pk)
        _fail(job, str(error) or error.__class__.__name__)
    remove_upload(job)
    job.refresh_from_db()
    return job.status


@contextmanager
def exclusive_run(job_id: int):
    """True when this database session alone runs the job: a PostgreSQL advisory lock, released
    at the end or when the session ends (a dead worker's with it). Elsewhere always True."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = [ADVISORY_LOCK_SPACE, job_id & 0x7FFFFFFF]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def _runnable(job: ImportJob) -> bool:
    return job.status in (ImportStatus.PENDING, ImportStatus.RUNNING)


def _fail(job: ImportJob, message: str) -> None:
    """Mark failed unless the engine did (it does for every error after opening the file)."""
    ImportJob.objects.filter(pk=job.pk).exclude(status=ImportStatus.FAILED).update(
        status=ImportStatus.FAILED, error=message, finished_at=timezone.now()
    )


# --- progress and liveness in the cache -------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def _key(job: ImportJob, what: str) -> str:
    # The upload's random name makes the key unique across databases sharing one Redis.
    return f"contacts:import:{job.pk}:{job.upload_name}:{what}"


def set_progress(job: ImportJob, done: int, total: int) -> None:
    cache.set(_key(job, "progress"), (done, total), timeout=24 * 60 * 60)


def progress_of(job: ImportJob) -> Progress:
    """Rows read so far: from the cache while the job runs, else from the job row."""
    if job.status in (ImportStatus.PENDING, ImportStatus.RUNNING):
        cached = cache.get(_key(job, "progress"))
        if cached:
            return Progress(done=cached[0], total=cached[1])
        return Progress(done=0, total=job.total_rows)
    return Progress(done=job.done_rows, total=job.total_rows)


def cache_is_shared() -> bool:
    backend = settings.CACHES["default"]["BACKEND"]
    return not backend.endswith(("LocMemCache", "DummyCache"))


def is_stale(job: ImportJob, now=None) -> bool:
    """A queued or running job no live worker holds: its worker died or its message was lost.

    A queued job waiting behind others also has no lease; it counts as stale only once it has
    waited IMPORT_STALE_SECONDS, and re-queueing it then is harmless (see run_again).
    """
    if job.queued_at is None or not _runnable(job):
        return False
    now = now or timezone.now()
    if not cache_is_shared():
        return job.queued_at < now - UNSHARED_STALE_AFTER
    if cache.get(_key(job, "lease")) is not None:
        return False
    if job.status == ImportStatus.PENDING:
        return job.queued_at < now - timedelta(seconds=settings.IMPORT_STALE_SECONDS)
    return True


class Lease:
    """A cache key that says "a live worker runs this job", renewed by a heartbeat thread.

    It expires IMPORT_STALE_SECONDS after the last heartbeat, i.e. soon after a worker dies.
    """

    def __init__(self, job: ImportJob):
        self.key = _key(job, "lease")
        self.token = uuid.uuid4().hex
        self.timeout = settings.IMPORT_STALE_SECONDS
        self.interval = settings.IMPORT_HEARTBEAT_SECONDS
        self._stop = threading.Event()
        self._thread = None

    def acquire(self) -> bool:
        if not cache.add(self.key, self.token, timeout=self.timeout):
            return False
        self._thread = threading.Thread(target=self._beat, name=f"lease {self.key}", daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not cache.touch(self.key, self.timeout):  # evicted: say so again
                    cache.set(self.key, self.token, timeout=self.timeout)
            except Exception:  # a cache hiccup must not kill the import
                logger.warning("could not renew %s", self.key, exc_info=True)
                time.sleep(self.interval)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        if cache.get(self.key) == self.token:
            cache.delete(self.key)
