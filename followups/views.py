"""Interaction log, follow-up actions, My day, notifications and the calendar feed.

Thin views: every read goes through the `visible_to(user)` scopes, every write through services.
"""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from contacts.models import Contact
from contacts.views import render_contact_page

from . import calendar, services
from .forms import CompleteForm, PlanForm, QuickLogForm, RescheduleForm
from .models import CalendarFeed, FollowUp, Notification
from .story import story_context


@login_required
@require_GET
def timeline(request, contact_pk):
    contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=contact_pk)
    context = story_context(
        contact,
        request.user,
        kind=request.GET.get("kind", ""),
        page_number=request.GET.get("page"),
    )
    return render(request, "followups/_timeline.html", context)


@login_required
@require_POST
def quick_log(request, contact_pk):
    """Log an interaction and, in the same submit, optionally plan the next follow-up."""
    contact = get_object_or_404(Contact.objects.editable_by(request.user), pk=contact_pk)
    form = QuickLogForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            services.log_interaction(
                contact=contact,
                author=request.user,
                kind=data["kind"],
                summary=data["summary"],
                body=data["body"],
                occurred_at=data["occurred_at"],
            )
            next_due = form.next_due_at(request.user)
            if next_due:
                services.plan_follow_up(
                    contact=contact,
                    plan=data["next_plan"],
                    due_at=next_due,
                    all_day=form.next_all_day,
                    created_by=request.user,
                )
        messages.success(request, _("Interaction logged."))
        if not request.htmx:
            return redirect(contact)
        form = None
    context = story_context(contact, request.user, quick_log_form=form)
    if request.htmx:
        return render(request, "followups/_story.html", context)
    return render_contact_page(request, contact, quick_log_form=form)


@login_required
@require_POST
def plan(request, contact_pk):
    contact = get_object_or_404(Contact.objects.editable_by(request.user), pk=contact_pk)
    form = PlanForm(request.POST)
    if form.is_valid():
        services.plan_follow_up(
            contact=contact,
            plan=form.cleaned_data["plan"],
            due_at=services.due_moment(
                day=form.cleaned_data["due_date"],
                at=form.cleaned_data["due_time"],
                user=contact.owner or request.user,
            ),
            all_day=not form.cleaned_data["due_time"],
            created_by=request.user,
        )
        messages.success(request, _("Follow-up planned."))
    else:
        messages.error(request, _("The follow-up was not planned: give a plan and a date."))
    return redirect(contact)


# --- follow-up actions (My day, contact page) ---


def actionable_follow_up(user, pk):
    """The follow-up if the user may act on it: theirs, or on a contact they may edit; else 404."""
    editable = Contact.objects.editable_by(user).values("pk")
    queryset = FollowUp.objects.visible_to(user).filter(
        Q(assignee=user) | Q(contact_id__in=editable)
    )
    return get_object_or_404(queryset.select_related("contact", "assignee"), pk=pk)


def follow_up_response(request, follow_up, message=None, **row_context):
    """htmx: re-render the row in place; otherwise back to where the user came from."""
    if request.htmx:
        follow_up.refresh_from_db()
        context = {
            "f": follow_up,
            "now": timezone.now(),
            "flash": message,
            # My day's rows name the customer; the contact page's rows do not need to.
            "show_contact": request.POST.get("show_contact") == "1",
            **row_context,
        }
        return render(request, "followups/_follow_up_row.html", context)
    if message:
        messages.success(request, message)
    return HttpResponseRedirect(back_url(request))


def back_url(request):
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("followups:my_day")
    return next_url


def closed_error(request, error):
    if request.htmx:
        return HttpResponse(format_html('<div class="error">{}</div>', error.messages[0]))
    messages.error(request, error.messages[0])
    return redirect("followups:my_day")


@login_required
@require_POST
def complete(request, pk):
    """Done, optionally logged as an interaction and followed by the next step, in one submit."""
    follow_up = actionable_follow_up(request.user, pk)
    form = CompleteForm(request.POST)
    if not form.is_valid():
        # Nothing changes; htmx gets the row back with the entries and the errors beside them.
        if request.htmx:
            return follow_up_response(request, follow_up, complete_form=form)
        field, errors = next(iter(form.errors.items()))
        label = form.fields[field].label if field in form.fields else ""
        messages.error(request, f"{label}: {errors[0]}" if label else errors[0])
        return HttpResponseRedirect(back_url(request))
    try:
        _done, _logged, next_follow_up = services.complete_follow_up(
            follow_up=follow_up,
            user=request.user,
            note=form.cleaned_data["note"],
            log_kind=form.cleaned_data["log_kind"] or None,
            next_plan=form.cleaned_data["next_plan"],
            next_due_at=form.next_due_at(follow_up.assignee),
            next_all_day=form.next_all_day,
        )
    except ValidationError as error:
        return closed_error(request, error)
    return follow_up_response(
        request, follow_up, _("Follow-up completed."), next_follow_up=next_follow_up
    )


@login_required
@require_POST
def cancel(request, pk):
    follow_up = actionable_follow_up(request.user, pk)
    try:
        services.cancel_follow_up(follow_up=follow_up, user=request.user)
    except ValidationError as error:
        return closed_error(request, error)
    return follow_up_response(request, follow_up, _("Follow-up cancelled."))


@login_required
@require_POST
def snooze(request, pk):
    follow_up = actionable_follow_up(request.user, pk)
    option = request.POST.get("until", "")
    if option not in services.SNOOZE_OPTIONS:
        return closed_error(request, ValidationError(_("Unknown snooze option.")))
    try:
        services.snooze_follow_up(follow_up=follow_up, option=option)
    except ValidationError as error:
        return closed_error(request, error)
    return follow_up_response(request, follow_up, _("Follow-up snoozed."))


@login_required
@require_POST
def reschedule(request, pk):
    follow_up = actionable_follow_up(request.user, pk)
    form = RescheduleForm(request.POST)
    if not form.is_valid():
        return closed_error(request, ValidationError(_("Choose a valid date.")))
    try:
        services.reschedule_follow_up(
            follow_up=follow_up,
            due_at=form.due_at(follow_up.assignee),
            all_day=not form.cleaned_data.get("due_time"),
        )
    except ValidationError as error:
        return closed_error(request, error)
    return follow_up_response(request, follow_up, _("Follow-up rescheduled."))


# --- My day and the manager's team view ---


@login_required
def my_day(request):
    zone = services.user_zone(request.user)
    now = timezone.now()
    today = now.astimezone(zone).date()
    start_today = services.aware_local(today, datetime.time.min, zone)
    start_tomorrow = services.aware_local(
        today + datetime.timedelta(days=1), datetime.time.min, zone
    )
    week_end = services.aware_local(today + datetime.timedelta(days=8), datetime.time.min, zone)
    follow_ups = list(
        FollowUp.objects.visible_to(request.user)
        .open()
        .assigned_to(request.user)
        .filter(due_at__lt=week_end)
        .select_related("contact", "contact__company")
        .order_by("due_at", "id")
    )
    context = {
        "overdue": [f for f in follow_ups if f.due_at < start_today],
        "today": [f for f in follow_ups if start_today <= f.due_at < start_tomorrow],
        "upcoming": [f for f in follow_ups if f.due_at >= start_tomorrow],
        "now": now,
    }
    return render(request, "followups/my_day.html", context)


@login_required
def team_day(request):
    """Open and overdue follow-ups per rep, for the teams a manager manages (admins: all)."""
    if not (request.user.is_manager or request.user.is_admin):
        raise Http404
    now = timezone.now()
    rows = (
        FollowUp.objects.visible_to(request.user)
        .open()
        .values("assignee__username", "assignee__name_zh", "assignee__name_en")
        .annotate(open_count=Count("id"), overdue_count=Count("id", filter=Q(due_at__lt=now)))
        .order_by("-overdue_count", "assignee__username")
    )
    return render(request, "followups/team_day.html", {"rows": rows})


# --- notifications (the bell) ---


@login_required
def notifications(request):
    items = list(
        Notification.objects.filter(user=request.user)
        .select_related("follow_up__contact", "contact")
        .order_by("-created_at", "-id")[:100]
    )
    # A customer handed over or released since stays behind its scope: no name, no link.
    mentioned = {n.follow_up.contact_id if n.follow_up_id else n.contact_id for n in items}
    visible = set(
        Contact.objects.visible_to(request.user)
        .filter(pk__in=mentioned - {None})
        .values_list("pk", flat=True)
    )
    for n in items:
        n.contact_visible = (n.follow_up.contact_id if n.follow_up_id else n.contact_id) in visible
    return render(request, "followups/notifications.html", {"items": items})


@login_required
@require_GET
def notification_count(request):
    return render(request, "followups/_bell.html")


@login_required
@require_POST
def mark_read(request, pk):
    Notification.objects.filter(user=request.user, pk=pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return redirect("followups:notifications")


@login_required
@require_POST
def mark_all_read(request):
    Notification.objects.filter(user=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return redirect("followups:notifications")


# --- calendar feed ---


@login_required
def calendar_settings(request):
    """Shows the address; it is made by a POST (calendar_reset), never by looking at the page."""
    feed = CalendarFeed.objects.filter(user=request.user).first()
    url = (
        request.build_absolute_uri(reverse("followups:calendar_feed", args=[feed.token]))
        if feed
        else None
    )
    return render(request, "followups/calendar.html", {"feed_url": url})


@login_required
@require_POST
def calendar_reset(request):
    _feed, created = CalendarFeed.objects.update_or_create(
        user=request.user, defaults={"token": CalendarFeed._meta.get_field("token").default()}
    )
    if created:
        messages.success(request, _("Your calendar address was made."))
    else:
        messages.success(
            request, _("A new calendar address was made; the old one no longer works.")
        )
    return redirect("followups:calendar_settings")


@require_GET
def calendar_feed(request, token):
    """The secret URL is the credential (calendar apps cannot log in)."""
    feed = get_object_or_404(
        CalendarFeed.objects.select_related("user"), token=token, user__is_active=True
    )
    body = calendar.follow_ups_ics(feed.user, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="trade-crm.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
