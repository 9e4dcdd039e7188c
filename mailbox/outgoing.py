"""Mail the CRM sends to customers: recognisable when it bounces or is answered.

Every message gets a Message-ID `<crm.{purpose}.{token}@{domain}>` and, with MAILBOX_VERP, the
envelope sender `{local}+{token}@{domain}`; a bounce that quotes the original, a reply's
In-Reply-To/References or a bounce sent to the VERP address all carry the token, which finds the
OutgoingMessage and so the address and contact the CRM wrote to.
"""

import re
import uuid
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from contacts.models import Contact, EmailStatus

from .models import OutgoingMessage, Purpose

UNMAILABLE_STATUSES = (EmailStatus.HARD_BOUNCED, EmailStatus.INVALID)
_TOKEN_IN_MESSAGE_ID = re.compile(rb"crm\.[a-z_]{1,16}\.([0-9a-f]{32})@", re.IGNORECASE)
_CONTROL = re.compile(r"[\r\n\x00]")


class HeaderInjectionError(ValueError):
    """A name, subject or address would have started a new header line."""


class UnmailableAddressError(ValueError):
    """The address hard-bounced, is invalid, or its owner unsubscribed."""


def check_header_value(value, *, label):
    """Refuse CR, LF and NUL: in a header they would start a header of the sender's choosing."""
    if value and _CONTROL.search(str(value)):
        raise HeaderInjectionError(_("%(field)s may not contain line breaks.") % {"field": label})


def mailable(contacts):
    """The contacts any mailing may go to: not bounced for good, not invalid, not unsubscribed."""
    return contacts.exclude(email_status__in=UNMAILABLE_STATUSES).filter(
        unsubscribed_at__isnull=True
    )


def is_unmailable(email, contact=None) -> bool:
    blocked = Q(email_status__in=UNMAILABLE_STATUSES) | Q(unsubscribed_at__isnull=False)
    if contact is not None and (
        contact.email_status in UNMAILABLE_STATUSES or contact.unsubscribed_at
    ):
        return True
    return Contact.objects.filter(blocked, email=email.strip().lower()).exists()


def _domain():
    if settings.MAILBOX_MESSAGE_ID_DOMAIN:
        return settings.MAILBOX_MESSAGE_ID_DOMAIN
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"


def envelope_sender(token):
    """The return path bounces go to: MAILBOX_RETURN_PATH (or the From address), VERP-tagged."""
    address = settings.MAILBOX_RETURN_PATH or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    if not settings.MAILBOX_VERP or "@" not in address:
        return address
    local, _at, domain = address.rpartition("@")
    return f"{local}+{token}@{domain}"


def tokens_in(raw: bytes, limit=20) -> list[str]:
    """Tokens of CRM messages named anywhere in a message (headers, a returned original)."""
    found = [m.group(1).decode().lower() for m in _TOKEN_IN_MESSAGE_ID.finditer(raw)]
    address = settings.MAILBOX_RETURN_PATH or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    local = address.rpartition("@")[0]
    if local:
        verp = re.compile(re.escape(local.encode()) + rb"\+([0-9a-f]{32})@", re.IGNORECASE)
        found += [m.group(1).decode().lower() for m in verp.finditer(raw)]
    return list(dict.fromkeys(found))[:limit]


def send_crm_email(
    *,
    to_email,
    subject,
    body,
    purpose,
    to_contact=None,
    to_name="",
    from_user=None,
    connection=None,
) -> OutgoingMessage:
    """Send one e-mail to a customer and record it, so a bounce or reply can be matched to it.

    Raises HeaderInjectionError for CR/LF in the subject, a name or the address, ValueError for
    an address that is not one, and UnmailableAddressError for a suppressed address. The record
    is written before the message goes out: a bounce can never arrive for an unknown message.
    Call it outside a transaction that might roll back after the send.
    """
    if purpose not in Purpose.values:
        raise ValueError(f"unknown purpose {purpose!r}")
    subject = str(subject)
    to_name = str(to_name or (to_contact.name if to_contact else "") or "")
    from_name = from_user.display_name if from_user else ""
    check_header_value(subject, label=_("The subject"))
    check_header_value(to_name, label=_("The recipient's name"))
    check_header_value(from_name, label=_("The sender's name"))
    check_header_value(to_email, label=_("The e-mail address"))
    to_email = (to_email or "").strip().lower()
    try:
        validate_email(to_email)
    except ValidationError:
        raise ValueError(_("Enter a valid e-mail address.")) from None
    if is_unmailable(to_email, to_contact):
        raise UnmailableAddressError(
            _("%(email)s bounced for good, is invalid or unsubscribed: nothing was sent.")
            % {"email": to_email}
        )

    token = uuid.uuid4().hex
    message_id = f"<crm.{purpose}.{token}@{_domain()}>"
    from_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    from_header = settings.DEFAULT_FROM_EMAIL
    if from_name:
        from_header = formataddr((from_name, from_address))
    headers = {"From": from_header, "Message-ID": message_id}
    if settings.MAILBOX_REPLY_TO:
        headers["Reply-To"] = settings.MAILBOX_REPLY_TO
    sender = envelope_sender(token)
    outgoing = OutgoingMessage.objects.create(
        token=token,
        message_id=message_id,
        purpose=purpose,
        contact=to_contact,
        to_email=to_email,
        subject=subject[:500],
        envelope_sender=sender,
        sent_by=from_user,
    )
    message = EmailMessage(
        subject,
        body,
        sender,  # the envelope sender (Return-Path); the From header is set above
        [formataddr((to_name, to_email)) if to_name else to_email],
        headers=headers,
        connection=connection or get_connection(),
    )
    try:
        message.send()
    except Exception as error:
        OutgoingMessage.objects.filter(pk=outgoing.pk).update(error=str(error)[:2000])
        raise
    outgoing.sent_at = timezone.now()
    OutgoingMessage.objects.filter(pk=outgoing.pk).update(sent_at=outgoing.sent_at)
    return outgoing
