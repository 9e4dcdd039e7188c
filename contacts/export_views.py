"""Background exports: "My exports", a job's page with its progress, and the download.

Every page is for the user who asked for the export alone: anyone else gets 404, whatever
their role (the file holds what the requester could see, not what the viewer can).
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from . import export_jobs
from .exporting import CONTENT_TYPES, FILE_BLOCK
from .models import ExportJob, ExportStatus

SHOWN_JOBS = 50


def job_for(request, pk) -> ExportJob:
    # The frozen id list can be long; the pages (polled every second) never need it.
    mine = ExportJob.objects.filter(requested_by=request.user).defer("contact_ids")
    return get_object_or_404(mine, pk=pk)


def progress_context(job: ExportJob) -> dict:
    if job.status == ExportStatus.QUEUED:
        text = _("Waiting for a worker…")
    elif job.status == ExportStatus.RUNNING:
        text = _("Writing the file…")
    else:
        text = job.get_status_display()
    total = job.total_rows
    return {
        "job": job,
        "state_text": text,
        "percent": round(100 * job.done_rows / total) if total else 0,
        "polling": job.status in export_jobs.UNFINISHED,
        "available_until": export_jobs.available_until(job),
        "retention_days": settings.CONTACT_EXPORT_RETENTION_DAYS,
    }


@login_required
@require_GET
def export_job_list(request):
    jobs = ExportJob.objects.filter(requested_by=request.user).defer("contact_ids")
    context = {
        "jobs": jobs[:SHOWN_JOBS],
        "retention_days": settings.CONTACT_EXPORT_RETENTION_DAYS,
    }
    return render(request, "contacts/exports/list.html", context)


@login_required
@require_GET
def export_job(request, pk):
    job = job_for(request, pk)
    return render(request, "contacts/exports/job.html", progress_context(job))


@login_required
@require_GET
def export_job_progress(request, pk):
    """The progress bar, polled by htmx; once the job ends the page reloads to show the link."""
    job = job_for(request, pk)
    context = progress_context(job)
    response = render(request, "contacts/exports/_progress.html", context)
    if request.htmx and not context["polling"]:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_GET
def export_job_download(request, pk):
    """The finished file, streamed from the private folder; 404 once it is gone."""
    job = job_for(request, pk)
    if job.status != ExportStatus.DONE:
        raise Http404
    try:
        handle = open(export_jobs.export_path(job), "rb")  # noqa: SIM115 - FileResponse closes it
    except FileNotFoundError as error:
        raise Http404 from error
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=job.download_name,
        content_type=CONTENT_TYPES[job.format],
    )
    response.block_size = FILE_BLOCK
    response["Cache-Control"] = "no-store"  # customer data: not kept by browsers or proxies
    return response
