"""Contact and company pages. Thin: scoping lives in querysets, writes in services."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.handover import members_managed_by, reassign_contacts
from accounts.services import ACTION_LABELS, history_of
from followups.story import story_context

from . import export_jobs
from .exporting import ExportError, export_contacts
from .filters import ContactFilter
from .forms import ContactForm
from .models import Company, Contact
from .services import save_contact


def page_size(request):
    """The requested page size, capped; anything unreadable gives the default."""
    try:
        size = int(request.GET.get("per_page", settings.CONTACT_LIST_PAGE_SIZE))
    except (TypeError, ValueError):
        size = settings.CONTACT_LIST_PAGE_SIZE
    return max(1, min(size, settings.CONTACT_LIST_MAX_PAGE_SIZE))


def clean_query_params(request):
    """Search text without NUL bytes and cut to a sane length: never an error."""
    params = request.GET.copy()
    if "q" in params:
        params["q"] = params["q"].replace("\x00", "")[: settings.SEARCH_MAX_LENGTH]
    return params


@login_required
def contact_list(request):
    visible = Contact.objects.visible_to(request.user)
    params = clean_query_params(request)
    contact_filter = ContactFilter(params, queryset=visible.for_list(), user=request.user)
    queryset = contact_filter.qs
    if contact_filter.form.cleaned_data.get("sort"):
        # A unique last key: rows sharing the sorted value must not move between pages.
        queryset = queryset.order_by(*queryset.query.order_by, "-id")
    else:
        queryset = queryset.order_by("-created_at", "-id")
    page = Paginator(queryset, page_size(request)).get_page(request.GET.get("page"))
    context = {
        "filter": contact_filter,
        "page": page,
        "filter_query": query_string_without(params, "page", "sort", "per_page"),
        "reassign_targets": (
            members_managed_by(request.user).filter(is_active=True).order_by("username")
            if request.user.is_manager or request.user.is_admin
            else None
        ),
        "query_string": query_string_without(params, "page"),
        "sort_query_string": query_string_without(params, "page", "sort"),
        "current_sort": request.GET.get("sort", ""),
    }
    # htmx swaps in the results only, except when it restores a page missing from its history.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "contacts/_contact_results.html" if partial else "contacts/contact_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])  # browsers must not cache one for the other
    return response


def query_string_without(params, *names):
    params = params.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


@login_required
def contact_detail(request, pk):
    contact = get_object_or_404(
        Contact.objects.visible_to(request.user).select_related(
            "company", "owner", "referred_by", "created_by"
        ),
        pk=pk,
    )
    return render_contact_page(request, contact)


def render_contact_page(request, contact, *, quick_log_form=None):
    """The contact page: the record, and its story (timeline, follow-ups, quick log)."""
    context = story_context(
        contact,
        request.user,
        kind=request.GET.get("kind", ""),
        page_number=request.GET.get("page"),
        quick_log_form=quick_log_form,
    )
    context.update(
        tags=contact.tags.all(),
        local_time=contact.local_now(),
        history=[
            (entry, ACTION_LABELS.get(entry.action, entry.action))
            for entry in history_of("contact", contact.pk)
        ],
    )
    return render(request, "contacts/contact_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request):
    form = ContactForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        contact = save_contact(form=form, user=request.user)
        messages.success(request, _("Contact created."))
        return redirect(contact)
    return render(request, "contacts/contact_form.html", {"form": form, "creating": True})


@login_required
@require_http_methods(["GET", "POST"])
def contact_update(request, pk):
    contact = get_object_or_404(Contact.objects.editable_by(request.user), pk=pk)
    form = ContactForm(request.POST or None, instance=contact, user=request.user)
    if request.method == "POST" and form.is_valid():
        contact = save_contact(form=form, user=request.user)
        messages.success(request, _("Contact saved."))
        return redirect(contact)
    return render(
        request, "contacts/contact_form.html", {"form": form, "contact": contact, "creating": False}
    )


@login_required
def company_list(request):
    companies = Company.objects.visible_to(request.user).order_by("name")
    text = clean_query_params(request).get("q", "").strip()
    if text:
        companies = companies.filter(name__icontains=text)
    page = Paginator(companies, page_size(request)).get_page(request.GET.get("page"))
    return render(request, "contacts/company_list.html", {"page": page, "q": text})


@login_required
def company_detail(request, pk):
    company = get_object_or_404(Company.objects.visible_to(request.user), pk=pk)
    contacts = (
        Contact.objects.visible_to(request.user).filter(company=company).for_list().order_by("name")
    )
    return render(
        request, "contacts/company_detail.html", {"company": company, "contacts": contacts}
    )


@login_required
@require_POST
def bulk_reassign(request):
    """Managers move the selected (or all filtered) contacts to a member of their teams."""
    if not (request.user.is_manager or request.user.is_admin):
        raise Http404
    filter_params = QueryDict(request.POST.get("filter_query", ""))
    back = f"{reverse('contacts:contact_list')}?{filter_params.urlencode()}"
    target = (
        members_managed_by(request.user)
        .filter(pk=request.POST.get("target") if request.POST.get("target", "").isdigit() else None)
        .first()
    )
    if request.POST.get("select_all_matching"):
        contact_filter = ContactFilter(
            filter_params, queryset=Contact.objects.visible_to(request.user), user=request.user
        )
        ids = list(contact_filter.qs.values_list("pk", flat=True))
    else:
        ids = [int(v) for v in request.POST.getlist("selected") if v.isdigit()]
    if target is None or not ids:
        messages.error(request, _("Choose customers and a member of your team to move them to."))
        return redirect(back)
    try:
        result = reassign_contacts(
            actor=request.user,
            contact_ids=ids,
            target=target,
            ip_address=request.META.get("REMOTE_ADDR"),
        )
    except (PermissionDenied, ValidationError) as error:
        messages.error(request, error.messages[0] if hasattr(error, "messages") else str(error))
        return redirect(back)
    messages.success(
        request,
        _("%(count)s customers moved to %(name)s.")
        % {"count": len(result.moved), "name": target.display_name},
    )
    if result.skipped:
        messages.warning(
            request,
            _("%(count)s of the chosen customers are not yours to move and were left as they are.")
            % {"count": len(result.skipped)},
        )
    return redirect(back)


@login_required
@require_http_methods(["GET", "POST"])
def export_contacts_view(request):
    """Download what the list shows (GET: its filters) or the bulk form's selection (POST).

    Scoping and the audit entry are export_contacts' job; this only reads the request. Above
    CONTACT_EXPORT_SYNC_LIMIT contacts the export becomes a background job (export_jobs).
    """
    visible = Contact.objects.visible_to(request.user)
    if request.method == "POST":
        params = QueryDict(request.POST.get("filter_query", ""))
        fmt = request.POST.get("format", "")
    else:
        params = clean_query_params(request)
        fmt = params.get("format", "")
    filter_query = query_string_without(params, "format", "page", "per_page")
    back = f"{reverse('contacts:contact_list')}?{filter_query}"
    if request.method == "POST" and not request.POST.get("select_all_matching"):
        ids = [int(v) for v in request.POST.getlist("selected") if v.isdigit()]
        if not ids:
            messages.error(request, _("Choose the customers to export."))
            return redirect(back)
        queryset, source = visible.filter(pk__in=ids).order_by("-created_at", "-id"), "selection"
    else:
        contact_filter = ContactFilter(params, queryset=visible, user=request.user)
        queryset = contact_filter.qs
        if contact_filter.form.cleaned_data.get("sort"):
            queryset = queryset.order_by(*queryset.query.order_by, "-id")  # as the list sorts
        else:
            queryset = queryset.order_by("-created_at", "-id")
        source = "all_matching" if request.method == "POST" else "list"
    export = {
        "user": request.user,
        "queryset": queryset,
        "fmt": fmt,
        "language": get_language() or settings.LANGUAGE_CODE,
        "filter_query": filter_query,
        "source": source,
        "ip_address": request.META.get("REMOTE_ADDR"),
    }
    try:
        if export_jobs.is_large(user=request.user, queryset=queryset):
            # Too many for one request: a worker writes the file; the job page shows progress.
            return redirect(export_jobs.start_export_job(**export))
        filename, content_type, content = export_contacts(**export)
    except ExportError as error:
        messages.error(request, error.message)
        return redirect(back)
    return export_response(filename, content_type, content)


def export_response(filename, content_type, content):
    """A download streamed from the export's generator (never held whole in memory)."""
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"  # customer data: not kept by browsers or proxies
    return response
