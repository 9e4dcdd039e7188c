"""The unmatched list: replies from senders the CRM does not know, for a rep to deal with.

Any signed-in user sees the list (the sender is nobody's customer yet). Attaching goes only to a
contact the user may change (`editable_by`, the scope quick logging uses), so a rep can neither
see nor write to another rep's customer from here.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from contacts.forms import ContactForm
from contacts.models import Contact
from contacts.services import save_contact

from . import services
from .effects import unmatched_replies

PAGE_SIZE = 25
SEARCH_RESULTS = 20


def _unmatched(pk):
    return get_object_or_404(unmatched_replies().select_related("mailbox"), pk=pk)


@login_required
def unmatched_list(request):
    page = Paginator(
        unmatched_replies().select_related("mailbox").order_by("-received_at", "-id"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(request, "mailbox/unmatched_list.html", {"page": page})


@login_required
def unmatched_detail(request, pk):
    incoming = _unmatched(pk)
    text = request.GET.get("q", "").replace("\x00", "")[: settings.SEARCH_MAX_LENGTH].strip()
    candidates = Contact.objects.editable_by(request.user).select_related("company")
    candidates = candidates.search(text) if text else candidates.none()
    context = {
        "incoming": incoming,
        "q": text,
        "candidates": candidates.order_by("name", "pk")[:SEARCH_RESULTS],
    }
    return render(request, "mailbox/unmatched_detail.html", context)


@login_required
@require_POST
def attach(request, pk):
    incoming = _unmatched(pk)
    contact_id = request.POST.get("contact", "")
    contact = get_object_or_404(
        Contact.objects.editable_by(request.user),
        pk=int(contact_id) if contact_id.isdigit() else None,
    )
    try:
        services.attach_to_contact(incoming=incoming, contact=contact, user=request.user)
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return redirect("mailbox:unmatched_list")
    messages.success(request, _("The e-mail was logged on %(contact)s.") % {"contact": contact})
    return redirect(contact)


@login_required
@require_http_methods(["GET", "POST"])
def create_contact(request, pk):
    """A new contact prefilled from the sender; saving it also logs the e-mail on it."""
    incoming = _unmatched(pk)
    initial = {"email": incoming.sender, "name": incoming.sender_name}
    form = ContactForm(request.POST or None, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                contact = save_contact(form=form, user=request.user)
                services.attach_to_contact(incoming=incoming, contact=contact, user=request.user)
        except ValidationError as error:
            messages.error(request, error.messages[0])
            return redirect("mailbox:unmatched_list")
        messages.success(request, _("Contact created and the e-mail logged on it."))
        return redirect(contact)
    return render(request, "mailbox/create_contact.html", {"form": form, "incoming": incoming})


@login_required
@require_POST
def dismiss(request, pk):
    incoming = _unmatched(pk)
    try:
        services.dismiss_unmatched(incoming=incoming, user=request.user)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, _("The e-mail was taken off the list."))
    return redirect("mailbox:unmatched_list")
