"""The cleaning worklist page and its one-click fixes. Thin: reads and writes in contacts.cleaning,
contacts.merging and contacts.pool; anything outside the user's scope answers 404."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import cleaning, pool
from .merging import merge_contacts
from .models import Contact


def section_limit() -> int:
    return int(getattr(settings, "CLEANING_SECTION_LIMIT", 50))


def _chosen_member(user, value):
    """The member whose worklist is asked for, if `user` may choose them; else None (all)."""
    if not value or not str(value).isdigit():
        return None
    return cleaning.cleaning_members(user).filter(pk=value).first()


def _back(request):
    member = request.POST.get("member", "")
    url = reverse("contacts:cleaning")
    return redirect(f"{url}?{urlencode({'member': member})}" if member.isdigit() else url)


@login_required
def worklist(request):
    user = request.user
    member = _chosen_member(user, request.GET.get("member"))
    scope = cleaning.cleaning_scope(user, member)
    limit = section_limit()
    related = ("company", "owner")
    bounced = cleaning.bounced_or_invalid(scope)
    silent = cleaning.silent_for(scope)
    incomplete = cleaning.incomplete(scope)
    context = {
        "members": cleaning.cleaning_members(user),
        "member": member,
        "limit": limit,
        "silent_days": cleaning.silent_days(),
        "bounced": bounced.select_related(*related)[:limit],
        "bounced_count": bounced.count(),
        "silent": silent.select_related(*related)[:limit],
        "silent_count": silent.count(),
        "incomplete": incomplete.select_related(*related)[:limit],
        "incomplete_count": incomplete.count(),
        "duplicates": cleaning.duplicates(scope, limit=limit),
    }
    return render(request, "contacts/cleaning.html", context)


@login_required
@require_POST
def fix_email(request, pk):
    try:
        contact = cleaning.fix_email(
            actor=request.user,
            contact_id=pk,
            new_email=request.POST.get("email", ""),
            ip_address=request.META.get("REMOTE_ADDR"),
        )
    except Contact.DoesNotExist as error:
        raise Http404 from error
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return _back(request)
    messages.success(
        request,
        _("The address of %(name)s is now %(email)s.")
        % {"name": contact.name or contact.email, "email": contact.email},
    )
    return _back(request)


@login_required
@require_POST
def move_to_dormant(request, pk):
    contact = get_object_or_404(Contact.objects.editable_by(request.user), pk=pk)
    if pool.move_to_dormant(
        actor=request.user, contact_id=contact.pk, ip_address=request.META.get("REMOTE_ADDR")
    ):
        messages.success(
            request,
            _("%(name)s moved to the dormant pool.") % {"name": contact.name or contact.email},
        )
    else:
        messages.error(request, _("This customer is no longer active."))
    return _back(request)


@login_required
@require_POST
def merge(request):
    ids = [request.POST.get("keep", ""), request.POST.get("merge", "")]
    if not all(value.isdigit() for value in ids):
        raise Http404
    editable = Contact.objects.editable_by(request.user)
    keep = get_object_or_404(editable, pk=ids[0])
    other = get_object_or_404(editable, pk=ids[1])
    try:
        kept = merge_contacts(
            actor=request.user, keep=keep, merge=other, ip_address=request.META.get("REMOTE_ADDR")
        )
    except PermissionDenied as error:
        raise Http404 from error
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return _back(request)
    messages.success(
        request,
        _("%(merged)s merged into %(kept)s.")
        % {"merged": other.name or other.email, "kept": kept.name or kept.email},
    )
    return _back(request)
