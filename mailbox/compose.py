"""A one-off e-mail to a customer from their page: sent through the CRM, logged as e-mail out."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from contacts.models import Contact
from followups.services import log_interaction

from .models import Purpose
from .outgoing import HeaderInjectionError, UnmailableAddressError, send_crm_email


class OneOffEmailForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200)
    body = forms.CharField(
        label=gettext_lazy("Message"), widget=forms.Textarea(attrs={"rows": 6}), max_length=20000
    )


@login_required
@require_POST
def send_one_off(request, contact_pk):
    """Send, then log: a failed send logs nothing; a refused address says why."""
    contact = get_object_or_404(Contact.objects.editable_by(request.user), pk=contact_pk)
    form = OneOffEmailForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the e-mail a subject and a message."))
        return redirect(contact)
    subject, body = form.cleaned_data["subject"], form.cleaned_data["body"]
    try:
        send_crm_email(
            to_email=contact.email,
            to_contact=contact,
            subject=subject,
            body=body,
            purpose=Purpose.ONE_OFF,
            from_user=request.user,
        )
    except (HeaderInjectionError, UnmailableAddressError, ValueError) as error:
        messages.error(request, str(error))
        return redirect(contact)
    log_interaction(
        contact=contact, author=request.user, kind="email_out", summary=subject, body=body
    )
    messages.success(request, _("E-mail sent and logged."))
    return redirect(contact)
