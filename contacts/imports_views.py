"""The admin's import in the browser: upload → preview (mapping can be corrected) → confirm →
progress (a Celery job) → result with a downloadable report → undo.

Thin: the work is in contacts.importing (jobs, engine, mapping, undo). Every view needs the
`contacts.import_contacts` permission (the admin role has it): a signed-in user without it gets
403 and the view does not run; a job that does not exist, or is not the user's to see, is 404.
"""

from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import AuditEntry

from .importing import jobs
from .importing.labels import field_label, reason_text
from .importing.mapping import (
    MappingChoice,
    check_mapping,
    current_mapping,
    mapping_from_post,
    select_name,
)
from .importing.report_xlsx import CONTENT_TYPE, rejected_value, rejection_text, report_workbook
from .importing.rows import FIELDS
from .importing.safety import ImportFileError
from .importing.sheets import COLUMN_FIELDS, IGNORED
from .importing.undo import IMPORT_PERMISSION, RevertRefused, revert_import
from .models import Contact, ImportJob, ImportStatus

SHOWN_ENTRIES = 500  # rejected rows / warnings listed on a page; the .xlsx report has them all


def import_permission_required(view):
    """Signed in (else the login page) and allowed to import (else 403, before the view runs:
    whatever the method or the job, nothing is read, stored or changed)."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not request.user.has_perm(IMPORT_PERMISSION):
            return import_forbidden(request)
        return view(request, *args, **kwargs)

    return wrapped


def import_forbidden(request) -> HttpResponseForbidden:
    """The 403 page, in the user's language; it says nothing about any import."""
    return HttpResponseForbidden(
        render_to_string("contacts/imports/forbidden.html", request=request)
    )


def jobs_visible_to(user):
    """Admins see every import; anyone else given the permission sees their own."""
    queryset = ImportJob.objects.select_related("created_by", "default_owner")
    return queryset if user.is_admin else queryset.filter(created_by=user)


def job_for(request, pk) -> ImportJob:
    return get_object_or_404(jobs_visible_to(request.user), pk=pk)


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Spreadsheet"),
        help_text=gettext_lazy(".xlsx, .xls or .csv; one header row with an e-mail column."),
        widget=forms.FileInput(attrs={"accept": ".xlsx,.xls,.csv"}),
    )
    default_owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        label=gettext_lazy("Default owner"),
        help_text=gettext_lazy("Owns the new contacts whose row names no owner."),
        empty_label=gettext_lazy("Nobody (the contacts stay unassigned)"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["default_owner"].queryset = users
        self.fields["default_owner"].label_from_instance = lambda user: (
            f"{user.display_name} ({user.username})"
        )


@import_permission_required
@require_http_methods(["GET", "POST"])
def import_upload(request):
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        jobs.remove_abandoned_uploads()
        try:
            job = jobs.preview_upload(
                uploaded=form.cleaned_data["file"],
                default_owner=form.cleaned_data["default_owner"],
                actor=request.user,
            )
        except ImportFileError as error:
            form.add_error("file", error.message)
        else:
            return redirect("contacts:import_preview", pk=job.pk)
    recent = (
        jobs_visible_to(request.user)
        .exclude(status=ImportStatus.PENDING, queued_at__isnull=True)
        .order_by("-created_at", "-id")[:10]
    )
    return render(request, "contacts/imports/upload.html", {"form": form, "recent": recent})


# --- preview and mapping ----------------------------------------------------------------------


def preview_context(job: ImportJob, errors=(), choice: MappingChoice | None = None) -> dict:
    """The preview page. With `choice` (a refused correction) the selects show what was posted,
    marked where it is wrong; without, the job's own mapping, checked again."""
    report = job.report
    if choice is None:
        choice = MappingChoice(mapping=None, problems=stored_mapping_problems(job))
    problems = [
        {**vars(problem), "id": f"import-mapping-problem-{number}"}
        for number, problem in enumerate(choice.problems)
    ]
    sheets = []
    for index, sheet in enumerate(report.get("sheets", [])):
        own = [problem for problem in problems if problem["sheet"] == index]
        columns = []
        for column in sheet.get("columns", []):
            name = select_name(index, column["column"])
            described_by = [p["id"] for p in own if column["column"] in p["columns"]]
            columns.append(
                {
                    **column,
                    "select_name": name,
                    "selected": choice.chosen.get(name, column["field"]),
                    "described_by": " ".join(described_by),
                }
            )
        reason = reason_text(sheet.get("reason"))
        sheets.append({**sheet, "columns": columns, "reason_text": reason, "problems": own})
    mapped = {column["field"] for sheet in sheets for column in sheet["columns"]} - {IGNORED}
    planned = report.get("preview", [])
    if any(row["values"].get("other_emails") for row in planned):
        mapped.add("other_emails")
    if job.default_owner_id:
        mapped.add("owner")
    fields = [name for name in FIELDS if name in mapped]
    rows = [
        {
            **row,
            "cells": [display_value(row["values"].get(name)) for name in fields],
        }
        for row in planned
    ]
    return {
        "job": job,
        "report": report,
        "totals": report.get("totals", {}),
        "sheets": sheets,
        "field_choices": [(IGNORED, field_label(IGNORED))]
        + [(name, field_label(name)) for name in COLUMN_FIELDS],
        "preview_fields": [field_label(name) for name in fields],
        "preview_rows": rows,
        "errors": list(errors),
        "mapping_refused": bool(problems),
        "mapping_problems": [problem for problem in problems if problem["sheet"] is None],
        "earlier": jobs.earlier_imports(job).order_by("-created_at")[:3],
        **entries_context(report, limit=20),
    }


def display_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def entries_context(report: dict, *, limit: int) -> dict:
    rejected = [
        {**entry, "shown_value": rejected_value(entry), "reason_text": rejection_text(entry)}
        for entry in report.get("rejected_rows", [])[:limit]
    ]
    warnings = [
        {
            **entry,
            "field_label": field_label(entry.get("field")),
            "reason_text": reason_text(entry.get("code")),
        }
        for entry in report.get("warnings", [])[:limit]
    ]
    return {
        "rejected_rows": rejected,
        "warnings": warnings,
        "rejected_more": max(0, len(report.get("rejected_rows", [])) - limit),
        "warnings_more": max(0, len(report.get("warnings", [])) - limit),
    }


@import_permission_required
@require_http_methods(["GET", "POST"])
def import_preview(request, pk):
    """What the import would do; POST re-reads the file with the corrected column mapping."""
    job = job_for(request, pk)
    if not jobs.is_preview(job):
        return redirect("contacts:import_result", pk=job.pk)
    errors = []
    if request.method == "POST":
        choice = mapping_from_post(request.POST, job.report)
        if choice.problems:
            return render_preview(request, job, choice=choice)
        if choice.mapping is not None:
            try:
                jobs.correct_mapping(job, choice.mapping)
            except ImportFileError as error:
                errors = [error.message]
            else:
                messages.success(request, _("The preview shows the corrected column mapping."))
                return redirect("contacts:import_preview", pk=job.pk)
    return render_preview(request, job, errors)


def render_preview(request, job: ImportJob, errors=(), choice: MappingChoice | None = None):
    """The preview with what was wrong (200, as for a form); the job was not changed."""
    return render(request, "contacts/imports/preview.html", preview_context(job, errors, choice))


def stored_mapping_problems(job: ImportJob) -> list:
    """What is wrong with the mapping a job would be imported with (normally nothing)."""
    return check_mapping(job.column_overrides or {}, job.report)


@import_permission_required
@require_POST
def import_confirm(request, pk):
    job = job_for(request, pk)
    if not jobs.is_preview(job):
        return redirect("contacts:import_result", pk=job.pk)
    choice = mapping_from_post(request.POST, job.report)
    if choice.problems:
        return render_preview(request, job, choice=choice)
    if choice.mapping is not None and choice.mapping != current_mapping(job.report):
        # Never import what was not previewed: show the new mapping's preview first.
        try:
            jobs.correct_mapping(job, choice.mapping)
        except ImportFileError as error:
            return render_preview(request, job, [error.message])
        messages.warning(
            request, _("The column mapping changed: check the new preview, then confirm again.")
        )
        return redirect("contacts:import_preview", pk=job.pk)
    if stored_mapping_problems(job):
        # Only a nonsense mapping stored some other way gets here; it is never queued.
        return render_preview(request, job)
    if not jobs.has_upload(job):
        messages.error(request, jobs.upload_gone_message())
        return redirect("contacts:import_upload")
    jobs.queue_import(job)
    return redirect("contacts:import_result", pk=job.pk)


@import_permission_required
@require_POST
def import_discard(request, pk):
    job = job_for(request, pk)
    if jobs.is_preview(job):
        jobs.discard_preview(job)
        messages.info(request, _("The upload was discarded; nothing was imported."))
    return redirect("contacts:import_upload")


# --- progress, result, report, undo -----------------------------------------------------------


def progress_context(job: ImportJob) -> dict:
    stale = jobs.is_stale(job)
    progress = jobs.progress_of(job)
    if stale:
        state, text = "stale", _("The worker running this import stopped.")
    elif job.status == ImportStatus.PENDING:
        state, text = "queued", _("Waiting for a worker…")
    elif job.status == ImportStatus.RUNNING:
        state = "running"
        text = _("Saving…") if progress.total and progress.done >= progress.total else _("Reading…")
    else:
        state, text = job.status, job.get_status_display()
    return {
        "job": job,
        "progress": progress,
        "state": state,
        "state_text": text,
        "polling": state in ("queued", "running"),
    }


@import_permission_required
@require_GET
def import_progress(request, pk):
    """The progress bar, polled by htmx; once the job ends it comes without the trigger and
    the page reloads to show the result."""
    job = job_for(request, pk)
    context = progress_context(job)
    response = render(request, "contacts/imports/_progress.html", context)
    if request.htmx and not context["polling"]:
        response["HX-Refresh"] = "true"
    return response


@import_permission_required
@require_GET
def import_result(request, pk):
    job = job_for(request, pk)
    if jobs.is_preview(job):
        return redirect("contacts:import_preview", pk=job.pk)
    context = progress_context(job)
    context.update(
        {
            "report": job.report,
            "totals": job.report.get("totals", {}) if job.status != ImportStatus.FAILED else {},
            "can_undo": job.status == ImportStatus.DONE and not job.dry_run,
            "can_run_again": context["state"] == "stale" and jobs.has_upload(job),
            "revert": revert_entry(job, request.user),
            **entries_context(job.report, limit=SHOWN_ENTRIES),
        }
    )
    return render(request, "contacts/imports/result.html", context)


def revert_entry(job: ImportJob, user):
    if job.status != ImportStatus.REVERTED:
        return None
    entry = (
        AuditEntry.objects.filter(action="revert_import", detail__job=job.pk)
        .select_related("actor")
        .first()
    )
    if entry is None:
        return None
    detail = entry.detail
    return {
        "entry": entry,
        "deleted": len(detail.get("deleted", [])),
        "emptied": len(detail.get("emptied", [])),
        "skipped": detail.get("skipped", []),
        "skipped_contacts": Contact.objects.visible_to(user).filter(
            pk__in=detail.get("skipped", [])
        )[:100],
    }


@import_permission_required
@require_GET
def import_report(request, pk):
    """The rejected rows and warnings as .xlsx, in the requesting user's language."""
    job = job_for(request, pk)
    if not job.report.get("totals"):
        raise Http404
    response = HttpResponse(report_workbook(job.report), content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.xlsx"'
    return response


@import_permission_required
@require_POST
def import_undo(request, pk):
    job = job_for(request, pk)
    try:
        result = revert_import(
            job=job, actor=request.user, ip_address=request.META.get("REMOTE_ADDR")
        )
    except RevertRefused as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _(
                "Import undone. Contacts removed: %(deleted)s; contacts whose filled fields were "
                "emptied: %(emptied)s; contacts changed since, left as they are: %(skipped)s."
            )
            % {
                "deleted": len(result.deleted),
                "emptied": len(result.emptied),
                "skipped": len(result.skipped),
            },
        )
    return redirect("contacts:import_result", pk=job.pk)


@import_permission_required
@require_POST
def import_run_again(request, pk):
    job = job_for(request, pk)
    if jobs.run_again(job):
        messages.success(request, _("The import was queued again."))
    else:
        messages.error(request, _("This import cannot be run again."))
    return redirect("contacts:import_result", pk=job.pk)
