"""What a rep does with a reply from an unknown sender: attach it to a contact, or dismiss it."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import record_audit
from contacts.models import Contact

from .effects import log_reply
from .models import IncomingMessage


def _lock_unresolved(incoming):
    locked = IncomingMessage.objects.select_for_update().get(pk=incoming.pk)
    if locked.resolved_at is not None or locked.matched:
        raise ValidationError(_("Someone has already dealt with this message."))
    return locked


@transaction.atomic
def attach_to_contact(*, incoming, contact, user) -> IncomingMessage:
    """Log the message on a contact the user may change, as an "e-mail in" interaction."""
    if not Contact.objects.editable_by(user).filter(pk=contact.pk).exists():
        raise PermissionDenied
    incoming = _lock_unresolved(incoming)
    log_reply(incoming, contact=contact, author=user)
    incoming.contact, incoming.matched = contact, True
    incoming.resolved_at, incoming.resolved_by = timezone.now(), user
    incoming.save(update_fields=["contact", "matched", "resolved_at", "resolved_by"])
    record_audit(actor=user, action="attach_email", object_type="contact", ids=[contact.pk])
    return incoming


@transaction.atomic
def dismiss_unmatched(*, incoming, user) -> IncomingMessage:
    """Take a message off the unmatched list without logging it anywhere."""
    incoming = _lock_unresolved(incoming)
    incoming.resolved_at, incoming.resolved_by = timezone.now(), user
    incoming.save(update_fields=["resolved_at", "resolved_by"])
    return incoming
