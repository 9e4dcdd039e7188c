"""What an incoming message does to the customer data, and the daily bounce rules.

- Hard bounce for an address the CRM wrote to: the contact's e-mail becomes hard-bounced (so
  every mailing skips it), the bounce is kept on the contact, the owner gets one "fix this
  e-mail" follow-up (one per contact while it is open).
- Soft bounce: kept and counted; the address becomes soft-bounced. A delay warning ("still
  trying") is kept but neither counted nor a failure. N counted soft bounces within D days are
  treated as a hard bounce by the daily `apply_bounce_rules`.
- A bounce for an address the CRM never wrote to is kept unmatched and changes no contact.
- A person's reply from a known contact: an "e-mail in" interaction through log_interaction and,
  unless the contact has an open follow-up, a "reply to ..." follow-up for the owner due within
  one working day. From an unknown sender: left unmatched for a rep to attach or turn into a
  contact.
- An auto-reply: the contact's "away until" when it gives a return date; nothing else.
"""

import datetime
import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from contacts.models import Contact, EmailStatus
from followups.models import FollowUp, FollowUpStatus, InteractionKind
from followups.services import aware_local, log_interaction, plan_follow_up, user_zone

from .models import Bounce, BounceKind, IncomingMessage, MessageKind, OutgoingMessage

logger = logging.getLogger(__name__)

REPLY_TEXT_LIMIT = 4000  # the "short text" of a reply kept on the interaction
DIAGNOSTIC_LIMIT = 2000
WORKDAY_START = datetime.time(9, 0)
WORKDAY_END = datetime.time(18, 0)
BATCH = 200
GONE_STATUSES = (EmailStatus.HARD_BOUNCED, EmailStatus.INVALID)


# --- working time -------------------------------------------------------------------------------


def _next_working_day(day):
    day += datetime.timedelta(days=1)
    while day.weekday() >= 5:  # Saturday, Sunday
        day += datetime.timedelta(days=1)
    return day


def one_working_day_after(moment, zone):
    """`moment` plus one working day (09:00-18:00, Monday to Friday) in `zone`.

    Friday 15:00 → Monday 15:00; Friday 20:00 or Saturday → Monday 18:00; Tuesday 07:00 →
    Tuesday 18:00. Public holidays are not known here.
    """
    local = moment.astimezone(zone)
    day, at = local.date(), local.time().replace(tzinfo=None)
    if day.weekday() >= 5 or at >= WORKDAY_END:
        day, at = _next_working_day(day), WORKDAY_START
    elif at < WORKDAY_START:
        at = WORKDAY_START
    workday = datetime.datetime.combine(day, WORKDAY_END) - datetime.datetime.combine(
        day, WORKDAY_START
    )
    left_today = datetime.datetime.combine(day, WORKDAY_END) - datetime.datetime.combine(day, at)
    if left_today >= workday:
        return aware_local(day, WORKDAY_END, zone)
    carry = workday - left_today
    due = datetime.datetime.combine(_next_working_day(day), WORKDAY_START) + carry
    return aware_local(due.date(), due.time(), zone)


def due_within_one_working_day(moment, user):
    return one_working_day_after(moment, user_zone(user))


# --- matching -----------------------------------------------------------------------------------


def contact_for_address(address):
    """The contact whose e-mail (or one of whose other addresses) this is, or None."""
    address = (address or "").strip().lower()
    if not address:
        return None
    contact = Contact.objects.filter(email=address).first()
    if contact is None:
        if connection.features.supports_json_field_contains:
            others = Q(other_emails__contains=[address])
        else:  # SQLite (the embedded default): the JSON text holds the quoted address
            others = Q(other_emails__icontains=f'"{address}"')
        contact = Contact.objects.filter(others).order_by("pk").first()
    return contact


def outgoing_for(incoming):
    """The CRM message this one refers to (reply threading, VERP, a bounce's returned copy)."""
    tokens = list(incoming.outgoing_tokens or [])
    if not tokens:
        return None
    return OutgoingMessage.objects.filter(token__in=tokens).order_by("-created_at").first()


# --- applying a verdict -------------------------------------------------------------------------


def apply_verdict(incoming: IncomingMessage, verdict, *, now=None) -> IncomingMessage:
    """Record the verdict on the message and apply its effect, atomically."""
    now = now or timezone.now()
    kind = verdict.kind if verdict.kind in MessageKind.values else MessageKind.OTHER
    if kind == MessageKind.QUARANTINED:
        kind = MessageKind.OTHER
    incoming.kind = kind
    incoming.failed_recipient = (verdict.failed_recipient or "").strip().lower()[:254]
    incoming.status_code = (verdict.status_code or "")[:16]
    incoming.diagnostic = (verdict.diagnostic or "")[:DIAGNOSTIC_LIMIT]
    incoming.return_date = verdict.return_date
    incoming.is_delay_warning = bool(verdict.is_delay_warning)
    if kind not in (MessageKind.HUMAN_REPLY, MessageKind.AUTO_REPLY):
        incoming.body_text = ""  # keep only what a person may need to read
    with transaction.atomic():
        if kind in (MessageKind.HARD_BOUNCE, MessageKind.SOFT_BOUNCE):
            _bounce(incoming, now=now)
        elif kind == MessageKind.HUMAN_REPLY:
            _human_reply(incoming)
        elif kind == MessageKind.AUTO_REPLY:
            _auto_reply(incoming, now=now)
        else:
            incoming.contact = contact_for_address(incoming.sender)
            incoming.matched = incoming.contact is not None
        incoming.processed_at = now
        incoming.save()
    return incoming


def _bounce(incoming, *, now):
    outgoing = outgoing_for(incoming)
    address = incoming.failed_recipient or (outgoing.to_email if outgoing else "")
    incoming.failed_recipient = address
    if not address:
        incoming.contact, incoming.matched = None, False
        return
    wrote_to = (outgoing is not None and outgoing.to_email == address) or (
        OutgoingMessage.objects.filter(to_email=address).exists()
    )
    contact = None
    if wrote_to:
        contact = Contact.objects.filter(email=address).first()
        if contact is None and outgoing is not None and outgoing.contact_id:
            candidate = outgoing.contact
            if address in [e.lower() for e in (candidate.other_emails or [])]:
                contact = candidate
    hard = incoming.kind == MessageKind.HARD_BOUNCE
    bounce = Bounce.objects.create(
        contact=contact,
        email=address,
        kind=BounceKind.HARD if hard else BounceKind.SOFT,
        status_code=incoming.status_code,
        diagnostic=incoming.diagnostic,
        bounced_at=incoming.received_at,
        incoming=incoming,
        outgoing=outgoing,
        counted=not hard and not incoming.is_delay_warning,
        applied=contact is None,  # an unmatched bounce has nothing to apply
    )
    incoming.contact, incoming.matched = contact, contact is not None
    if contact is not None:
        apply_bounce(bounce, now=now)


def apply_bounce(bounce, *, now=None):
    """A bounce's effect on its contact: status, and for a hard one the follow-up. Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=bounce.contact_id)
        primary = contact.email == bounce.email
        if bounce.kind == BounceKind.HARD:
            if primary:
                _treat_as_hard(contact, bounce, now=now)
        elif bounce.counted and primary and contact.email_status not in GONE_STATUSES:
            if contact.email_status != EmailStatus.SOFT_BOUNCED:
                Contact.objects.filter(pk=contact.pk).update(
                    email_status=EmailStatus.SOFT_BOUNCED, updated_at=now
                )
        Bounce.objects.filter(pk=bounce.pk).update(applied=True)
        bounce.applied = True


def _treat_as_hard(contact, bounce, *, now):
    """Hard-bounced, and the owner's "fix this e-mail" follow-up unless one is still open."""
    if contact.email_status not in GONE_STATUSES:
        Contact.objects.filter(pk=contact.pk).update(
            email_status=EmailStatus.HARD_BOUNCED, updated_at=now
        )
        contact.email_status = EmailStatus.HARD_BOUNCED
    owner = contact.owner
    if owner is None or not owner.is_active:
        return None  # a pool customer, or an owner who left: the handover decides
    if has_open_fix_follow_up(contact):
        return None
    with translation.override(owner.language or settings.LANGUAGE_CODE):
        plan = _("Fix the e-mail address of %(contact)s: %(email)s bounced (%(reason)s)") % {
            "contact": contact.name or contact.email,
            "email": bounce.email,
            "reason": bounce.status_code or _("permanent failure"),
        }
    follow_up = plan_follow_up(
        contact=contact,
        plan=plan[:500],
        due_at=due_within_one_working_day(now, owner),
        created_by=None,
        assignee=owner,
    )
    Bounce.objects.filter(pk=bounce.pk).update(follow_up=follow_up)
    bounce.follow_up = follow_up
    return follow_up


def _contact_for_reply(incoming):
    contact = contact_for_address(incoming.sender)
    if contact is None:
        outgoing = outgoing_for(incoming)
        if outgoing is not None and outgoing.contact_id and outgoing.to_email == incoming.sender:
            contact = outgoing.contact
    return contact


def _human_reply(incoming):
    contact = _contact_for_reply(incoming)
    incoming.contact, incoming.matched = contact, contact is not None
    if contact is None:
        return  # left on the unmatched list
    log_reply(incoming, contact=contact, author=None)
    owner = contact.owner
    if owner is None or not owner.is_active:
        return  # a public-pool customer, or an owner who left: nobody to ask yet
    # log_interaction locked the contact row: no other worker plans alongside this one.
    if FollowUp.objects.filter(contact=contact, status=FollowUpStatus.OPEN).exists():
        return
    with translation.override(owner.language or settings.LANGUAGE_CODE):
        plan = _("Reply to %(name)s: %(subject)s") % {
            "name": contact.name or incoming.sender or contact.email,
            "subject": incoming.subject or _("(no subject)"),
        }
    plan_follow_up(
        contact=contact,
        plan=plan[:500],
        due_at=due_within_one_working_day(incoming.received_at, owner),
        created_by=None,
        assignee=owner,
    )


def log_reply(incoming, *, contact, author):
    """The reply as an "e-mail in" interaction: subject, sender and the text without quotes."""
    sender = incoming.sender
    if incoming.sender_name:
        sender = f"{incoming.sender_name} <{incoming.sender}>"
    text = (incoming.body_text or "").strip()[:REPLY_TEXT_LIMIT]
    body = f"{sender}\n\n{text}".strip().replace("\x00", "")
    return log_interaction(
        contact=contact,
        author=author,
        kind=InteractionKind.EMAIL_IN,
        summary=(incoming.subject or _("(no subject)")).replace("\x00", "")[:500],
        body=body,
        occurred_at=min(incoming.received_at, timezone.now()),
    )


def _auto_reply(incoming, *, now):
    contact = _contact_for_reply(incoming)
    incoming.contact, incoming.matched = contact, contact is not None
    back = incoming.return_date
    if contact is not None and back and back >= incoming.received_at.date():
        Contact.objects.filter(pk=contact.pk).update(away_until=back, updated_at=now)
        contact.away_until = back


# --- the daily bounce rules ---------------------------------------------------------------------


def soft_bounce_count(contact, *, now=None):
    """Counted soft bounces of the contact's current address within MAILBOX_SOFT_BOUNCE_DAYS."""
    now = now or timezone.now()
    since = now - datetime.timedelta(days=settings.MAILBOX_SOFT_BOUNCE_DAYS)
    return Bounce.objects.filter(
        contact=contact,
        email=contact.email,
        kind=BounceKind.SOFT,
        counted=True,
        bounced_at__gte=since,
    ).count()


def _apply_pending_bounces(now):
    applied = 0
    while True:
        with transaction.atomic():
            batch = list(
                Bounce.objects.filter(applied=False, contact__isnull=False)
                .select_for_update(skip_locked=True)
                .order_by("pk")[:BATCH]
            )
            if not batch:
                return applied
            for bounce in batch:
                apply_bounce(bounce, now=now)
        applied += len(batch)


def _apply_soft_limit(now):
    """Contacts with N counted soft bounces within D days: treated as hard, once."""
    since = now - datetime.timedelta(days=settings.MAILBOX_SOFT_BOUNCE_DAYS)
    limit = settings.MAILBOX_SOFT_BOUNCE_LIMIT
    repeated = (
        Bounce.objects.filter(
            kind=BounceKind.SOFT, counted=True, bounced_at__gte=since, contact__isnull=False
        )
        .values("contact_id")
        .annotate(n=Count("id"))
        .filter(n__gte=limit)
        .values("contact_id")
    )
    changed, after = [], 0
    while True:
        with transaction.atomic():
            contacts = list(
                Contact.objects.filter(pk__in=repeated, pk__gt=after)
                .exclude(email_status__in=GONE_STATUSES)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")[:BATCH]
            )
            if not contacts:
                return changed
            for contact in contacts:
                after = contact.pk
                if soft_bounce_count(contact, now=now) < limit:
                    continue  # the bounces were for an earlier address
                latest = (
                    Bounce.objects.filter(contact=contact, email=contact.email, kind="soft")
                    .order_by("-bounced_at", "-pk")
                    .first()
                )
                _treat_as_hard(contact, latest, now=now)
                changed.append(contact.pk)


def apply_bounce_rules(*, now=None) -> dict:
    """The daily bounce cleanup: safe to run twice, or on two workers at once.

    Rows are locked with SKIP LOCKED in primary-key order and re-checked under the lock, so a
    contact is changed once and gets at most one open "fix this e-mail" follow-up.
    """
    now = now or timezone.now()
    pending = _apply_pending_bounces(now)
    hardened = _apply_soft_limit(now)
    if pending or hardened:
        logger.info("bounce rules: %s bounces applied, %s addresses hard", pending, len(hardened))
    return {"applied": pending, "treated_as_hard": hardened}


def has_open_fix_follow_up(contact):
    return Bounce.objects.filter(contact=contact, follow_up__status=FollowUpStatus.OPEN).exists()


def unmatched_replies():
    """Replies from senders the CRM does not know that nobody has dealt with yet."""
    return IncomingMessage.objects.filter(
        kind=MessageKind.HUMAN_REPLY, matched=False, resolved_at__isnull=True
    ).filter(Q(contact__isnull=True))
