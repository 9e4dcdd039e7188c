"""Large exports as background jobs: chosen at request time, written by a worker, downloaded by
the one user who asked, removed after CONTACT_EXPORT_RETENTION_DAYS.

Flow: the list's export and the admin action ask `is_large`; above CONTACT_EXPORT_SYNC_LIMIT
they call `start_export_job`, which freezes the contact ids (in scope, in the order the user saw
them), writes the same audit entry as a synchronous export (plus the job's id) and queues the
task after the commit. `run_export_job` (the task's body) re-applies visible_to(requester), so
contacts the user lost meanwhile are left out, and writes the file whole or not at all into the
private CONTACT_EXPORT_DIR. `remove_expired_exports` (periodic) deletes old files.

Safe to run twice or on two workers at once: a finished job is skipped, every run writes to its
own temporary file renamed into place when complete (two runs leave one whole file), and only the
run that marks the job done or failed notifies the requester.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from .exporting import (
    ExportError,
    audit_export,
    check_ids_fit_excel,
    export_content,
    export_filename,
    exported_ids,
    write_file_atomically,
)
from .models import Contact, ExportJob, ExportStatus

logger = logging.getLogger(__name__)

UNFINISHED = (ExportStatus.QUEUED, ExportStatus.RUNNING)
# A job still queued or running after this long lost its message or its worker: shown as failed.
GIVEN_UP_AFTER = timedelta(days=1)


# --- the private folder -----------------------------------------------------------------------


def export_dir() -> Path:
    folder = Path(settings.CONTACT_EXPORT_DIR)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def export_path(job: ExportJob) -> Path:
    return export_dir() / job.file_name


def has_file(job: ExportJob) -> bool:
    return job.status == ExportStatus.DONE and export_path(job).is_file()


def available_until(job: ExportJob):
    if job.finished_at is None:
        return None
    return job.finished_at + timedelta(days=settings.CONTACT_EXPORT_RETENTION_DAYS)


# --- at request time --------------------------------------------------------------------------


def is_large(*, user, queryset) -> bool:
    """More contacts than one request should stream: the export becomes a background job."""
    visible = Contact.objects.visible_to(user).values("pk")
    count = queryset.order_by().filter(pk__in=visible).count()
    return count > settings.CONTACT_EXPORT_SYNC_LIMIT


def start_export_job(
    *,
    user,
    queryset,
    fmt: str,
    language: str,
    filter_query: str = "",
    source: str = "list",
    ip_address: str | None = None,
) -> ExportJob:
    """Freeze what `user` chose, audit it as any export, and queue the job after the commit.

    Raises ExportError (no job, no audit entry) as a synchronous export would: unknown format,
    or an .xlsx whose texts would not fit.
    """
    ids = exported_ids(user=user, queryset=queryset, fmt=fmt)
    with transaction.atomic():
        job = ExportJob.objects.create(
            requested_by=user,
            format=fmt,
            language=language,
            filter_query=filter_query,
            source=source,
            contact_ids=ids,
            total_rows=len(ids),
            file_name=f"{uuid.uuid4().hex}.{fmt}",
            download_name=export_filename(fmt),
        )
        audit_export(
            user=user,
            ids=ids,
            fmt=fmt,
            filter_query=filter_query,
            source=source,
            ip_address=ip_address,
            job=job.pk,
        )
        queue_export(job)
    return job


def queue_export(job: ExportJob) -> None:
    from .tasks import run_export

    job_id = job.pk
    transaction.on_commit(lambda: run_export.delay(job_id))


# --- in the worker ----------------------------------------------------------------------------


def run_export_job(job_id: int) -> str:
    """The Celery task's body: write the job's file as its requester may see the contacts now."""
    claimed = ExportJob.objects.filter(pk=job_id, status__in=UNFINISHED).update(
        status=ExportStatus.RUNNING, started_at=timezone.now(), error=""
    )
    if not claimed:
        return "skipped"  # finished, given up, or gone
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    user = job.requested_by
    # Messages left on the job and the notification speak the requester's language.
    with translation.override(user.language or settings.LANGUAGE_CODE):
        try:
            if not user.is_active:
                raise ExportError(
                    "inactive_user",
                    gettext("The account that asked for this export is no longer active."),
                )
            count, size = _write_file(job)
        except ExportError as error:
            return _fail(job, error.message)
        except Exception as error:
            logger.exception("export job %s failed", job.pk)
            reason = str(error) or error.__class__.__name__
            return _fail(
                job,
                gettext("The export could not be completed (%(reason)s). Export again.")
                % {"reason": reason},
            )
        return _finish(job, count, size)


def _write_file(job: ExportJob) -> tuple[int, int]:
    written = 0

    def progress(done: int) -> None:
        nonlocal written
        written = done
        ExportJob.objects.filter(pk=job.pk).update(done_rows=done)

    if job.format == "xlsx":  # refused before a row is written, as at request time
        check_ids_fit_excel(job.requested_by, job.contact_ids)
    content = export_content(
        user=job.requested_by,
        ids=job.contact_ids,
        fmt=job.format,
        language=job.language,
        progress=progress,
    )
    size = write_file_atomically(content, export_path(job))
    return written, size


def _finish(job: ExportJob, count: int, size: int) -> str:
    finished = ExportJob.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).update(
        status=ExportStatus.DONE,
        row_count=count,
        done_rows=count,
        file_size=size,
        finished_at=timezone.now(),
    )
    if not finished:
        # Another run finished first (same file, keep it), or the job was given up meanwhile.
        job.refresh_from_db()
        if job.status != ExportStatus.DONE:
            export_path(job).unlink(missing_ok=True)
        return "skipped"
    notify_requester(
        job,
        ngettext(
            "Your export of %(count)s customer is ready: download it under “My exports”.",
            "Your export of %(count)s customers is ready: download it under “My exports”.",
            count,
        )
        % {"count": count},
    )
    return "done"


def _fail(job: ExportJob, message: str) -> str:
    failed = ExportJob.objects.filter(pk=job.pk, status__in=UNFINISHED).update(
        status=ExportStatus.FAILED, error=message, finished_at=timezone.now()
    )
    if not failed:
        return "skipped"  # finished or given up meanwhile
    notify_requester(job, gettext("Your export failed: %(error)s") % {"error": message})
    return "failed"


def notify_requester(job: ExportJob, text: str) -> None:
    """An in-app notification behind the bell; the job page holds the details."""
    from followups.models import Notification

    Notification.objects.create(user_id=job.requested_by_id, text=text[:500])


# --- cleanup (periodic) -----------------------------------------------------------------------


def remove_expired_exports(now=None) -> dict:
    """Files older than the retention period go; their jobs stay in "My exports", expired.

    Also: jobs that never finished within GIVEN_UP_AFTER are marked failed, and files in the
    folder older than the retention period that no job holds (their job or user was deleted,
    or a run was killed mid-write) are removed.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CONTACT_EXPORT_RETENTION_DAYS)
    expired = 0
    for job in ExportJob.objects.filter(status=ExportStatus.DONE, finished_at__lt=cutoff):
        export_path(job).unlink(missing_ok=True)
        expired += ExportJob.objects.filter(pk=job.pk, status=ExportStatus.DONE).update(
            status=ExportStatus.EXPIRED
        )
    given_up = 0
    stuck = ExportJob.objects.filter(status__in=UNFINISHED, created_at__lt=now - GIVEN_UP_AFTER)
    for job in stuck.select_related("requested_by"):
        with translation.override(job.requested_by.language or settings.LANGUAGE_CODE):
            given_up += _fail(job, gettext("The export did not finish. Export again.")) == "failed"
    kept = set(
        ExportJob.objects.filter(status__in=(*UNFINISHED, ExportStatus.DONE)).values_list(
            "file_name", flat=True
        )
    )
    strays = 0
    for path in export_dir().iterdir():
        if path.is_file() and path.name not in kept and path.stat().st_mtime < cutoff.timestamp():
            path.unlink(missing_ok=True)
            strays += 1
    return {"expired": expired, "given_up": given_up, "strays": strays}
