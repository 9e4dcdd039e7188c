"""The admin's import in the browser: upload → preview (mapping can be corrected) → confirm →
progress (a Celery job) → result with a downloadable report → undo.

Thin: the work is in contacts.importing (jobs, engine, undo). Every view needs the
`contacts.import_contacts` permission (the admin role has it) and answers 404 without it.
"""

from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import AuditEntry

from .importing import jobs
from .importing.labels import field_label, reason_text
from .importing.report_xlsx import CONTENT_TYPE, rejected_value, rejection_text, report_workbook
from .importing.rows import FIELDS
from .importing.safety import ImportFileError
from .importing.sheets import COLUMN_FIELDS, IGNORED
from .importing.undo import IMPORT_PERMISSION, RevertRefused, revert_import
from .models import Contact, ImportJob, ImportStatus

SHOWN_ENTRIES = 500  # rejected rows / warnings listed on a page; the .xlsx report has them all


def import_permission_required(view):
    """Signed in (else the login page) and allowed to import (else 404, like a missing page)."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


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


def sheet_key(sheet: dict) -> str:
    """How column_overrides names a sheet: its name, "" for a CSV file's one sheet."""
    return sheet["sheet"] if sheet["sheet"] is not None else ""


def current_mapping(report: dict) -> dict:
    return {
        sheet_key(sheet): {column["column"]: column["field"] for column in sheet["columns"]}
        for sheet in report.get("sheets", [])
        if sheet.get("imported")
    }


def mapping_from_post(post, report: dict) -> tuple[dict | None, list]:
    """The mapping chosen in the preview's selects, or None when none were posted."""
    allowed = {IGNORED, *COLUMN_FIELDS}
    mapping, errors, posted = {}, [], False
    for index, sheet in enumerate(report.get("sheets", [])):
        if not sheet.get("imported"):
            continue
        columns = {}
        for column in sheet["columns"]:
            value = post.get(f"map-{index}-{column['column']}")
            if value is None:
                value = column["field"]
            else:
                posted = True
            if value not in allowed:
                raise Http404  # not one of the select's options: a forged request
            columns[column["column"]] = value
        if "email" not in columns.values():
            name = sheet["sheet"] or report.get("file", "")
            errors.append(_("Choose the e-mail column of “%(sheet)s”.") % {"sheet": name})
        mapping[sheet_key(sheet)] = columns
    return (mapping if posted else None), errors


def preview_context(job: ImportJob, errors=()) -> dict:
    report = job.report
    sheets = []
    for index, sheet in enumerate(report.get("sheets", [])):
        columns = [
            {**column, "select_name": f"map-{index}-{column['column']}"}
            for column in sheet.get("columns", [])
        ]
        reason = reason_text(sheet.get("reason"))
        sheets.append({**sheet, "columns": columns, "reason_text": reason})
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
        mapping, errors = mapping_from_post(request.POST, job.report)
        if mapping is not None and not errors:
            try:
                jobs.correct_mapping(job, mapping)
            except ImportFileError as error:
                errors = [error.message]
            else:
                messages.success(request, _("The preview shows the corrected column mapping."))
                return redirect("contacts:import_preview", pk=job.pk)
    return render(request, "contacts/imports/preview.html", preview_context(job, errors))


@import_permission_required
@require_POST
def import_confirm(request, pk):
    job = job_for(request, pk)
    if not jobs.is_preview(job):
        return redirect("contacts:import_result", pk=job.pk)
    mapping, errors = mapping_from_post(request.POST, job.report)
    if errors:
        return render(request, "contacts/imports/preview.html", preview_context(job, errors))
    if mapping is not None and mapping != current_mapping(job.report):
        # Never import what was not previewed: show the new mapping's preview first.
        try:
            jobs.correct_mapping(job, mapping)
        except ImportFileError as error:
            return render(
                request, "contacts/imports/preview.html", preview_context(job, [error.message])
            )
        messages.warning(
            request, _("The column mapping changed: check the new preview, then confirm again.")
        )
        return redirect("contacts:import_preview", pk=job.pk)
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
