"""Reminders that arrive exactly once, and the daily digest.

Exactly once: a sweep locks due, un-reminded follow-ups with SKIP LOCKED (so two workers take
disjoint rows), writes one Reminder per (follow-up, due time) — a unique delivery key — with its
in-app notification, and flips `reminded_for` in the same transaction. A crash before commit leaves
nothing behind; the next run picks the rows up again. E-mails go out after commit, each reminder
row marked sent in the transaction that sends it.
"""

import datetime
import logging
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .models import DigestDelivery, FollowUp, FollowUpStatus, Notification, Reminder
from .services import user_zone

logger = logging.getLogger(__name__)

DIGEST_LOCAL_TIME = datetime.time(8, 0)
DIGEST_LATEST_LOCAL_TIME = datetime.time(12, 0)  # a digest missed all morning is skipped


def due_unreminded(now):
    return FollowUp.objects.filter(status=FollowUpStatus.OPEN, due_at__lte=now).filter(
        Q(reminded_for__isnull=True) | ~Q(reminded_for=F("due_at"))
    )


def issue_due_reminders(*, now=None, batch_size=500, on_batch=None) -> list[int]:
    """Issue the reminders whose time has come; returns the new Reminder ids.

    `on_batch(reminder_ids)` runs after each batch commits (the task queues e-mails there).
    """
    now = now or timezone.now()
    issued = []
    while True:
        with transaction.atomic():
            batch = list(
                due_unreminded(now)
                .select_for_update(skip_locked=True)
                .order_by("due_at")  # walks the partial index; by pk it would scan the table
                .values_list("pk", "due_at", "assignee_id")[:batch_size]
            )
            if not batch:
                break
            already = set(
                Reminder.objects.filter(follow_up_id__in=[pk for pk, _, _ in batch]).values_list(
                    "follow_up_id", "due_at"
                )
            )
            reminders = Reminder.objects.bulk_create(
                Reminder(follow_up_id=pk, due_at=due_at, recipient_id=assignee_id)
                for pk, due_at, assignee_id in batch
                if (pk, due_at) not in already
            )
            Notification.objects.bulk_create(
                Notification(
                    user_id=r.recipient_id,
                    reminder_id=r.pk,
                    follow_up_id=r.follow_up_id,
                    text="",
                )
                for r in reminders
            )
            FollowUp.objects.filter(pk__in=[pk for pk, _, _ in batch]).update(
                reminded_for=F("due_at")
            )
            ids = [r.pk for r in reminders]
            if on_batch and ids:
                transaction.on_commit(lambda ids=ids: on_batch(ids))
        issued.extend(ids)
    return issued


def _render_reminder(reminder):
    follow_up = reminder.follow_up
    user = reminder.recipient
    with translation.override(user.language), timezone.override(user_zone(user)):
        context = {"follow_up": follow_up, "contact": follow_up.contact, "user": user}
        subject = render_to_string("followups/email/reminder_subject.txt", context).strip()
        body = render_to_string("followups/email/reminder_body.txt", context)
    # One Message-ID per reminder: a copy resent after a crash is recognisably the same message.
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    headers = {"Message-ID": f"<trade-crm.reminder.{reminder.pk}@{domain}>"}
    return EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email], headers=headers)


def _wants_email(reminder):
    """Only for an active user with an address, and a follow-up still open at that due time."""
    follow_up, user = reminder.follow_up, reminder.recipient
    return bool(
        user.email
        and user.is_active
        and follow_up.status == FollowUpStatus.OPEN
        and follow_up.due_at == reminder.due_at
    )


def email_reminders(reminder_ids) -> int:
    """Send the reminder e-mails not sent yet; each row is marked in the sending transaction.

    The rows and what the e-mails need are read in one query. Each e-mail then claims its row
    with `UPDATE ... SET email_sent_at WHERE email_sent_at IS NULL`, sends and commits: a
    concurrent sender of the same row waits for that commit and then matches nothing, and a crash
    before the commit leaves the row unsent for the next sweep. One SMTP connection serves the
    whole call. A reminder whose follow-up was closed or moved meanwhile is marked, not sent.
    """
    pending = list(
        Reminder.objects.filter(pk__in=reminder_ids, email_sent_at__isnull=True)
        .select_related("follow_up__contact__company", "recipient")
        .order_by("pk")
    )
    sent = 0
    connection = get_connection()
    try:
        for reminder in pending:
            message = _render_reminder(reminder) if _wants_email(reminder) else None
            with transaction.atomic():
                claimed = Reminder.objects.filter(
                    pk=reminder.pk, email_sent_at__isnull=True
                ).update(email_sent_at=timezone.now())
                if claimed and message is not None:
                    connection.open()  # once; send_messages closes only what it opened
                    sent += connection.send_messages([message])
    finally:
        connection.close()
    return sent


def pending_reminder_email_ids(limit=1000):
    return list(
        Reminder.objects.filter(email_sent_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def digest_items(user, local_now):
    """Open follow-ups assigned to the user due before the end of their local day."""
    end_of_day = datetime.datetime.combine(
        local_now.date() + datetime.timedelta(days=1), datetime.time.min, tzinfo=local_now.tzinfo
    )
    return list(
        FollowUp.objects.open()
        .assigned_to(user)
        .filter(due_at__lt=end_of_day)
        .select_related("contact", "contact__company")
        .order_by("due_at")
    )


def send_daily_digests(*, now=None) -> int:
    """At 08:00 in each user's own zone: one e-mail with today's and overdue follow-ups."""
    now = now or timezone.now()
    sent = 0
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    for user in users.iterator():
        local_now = now.astimezone(user_zone(user))
        if not DIGEST_LOCAL_TIME <= local_now.time() < DIGEST_LATEST_LOCAL_TIME:
            continue
        if DigestDelivery.objects.filter(user=user, local_date=local_now.date()).exists():
            continue
        try:
            with transaction.atomic():
                # The unique (user, local_date) row is the delivery key: a second beat waits
                # on it and then fails to insert, so one digest goes out.
                delivery = DigestDelivery.objects.create(user=user, local_date=local_now.date())
                items = digest_items(user, local_now)
                delivery.item_count = len(items)
                if items:
                    _digest_message(user, items, local_now).send()
                    delivery.sent_at = timezone.now()
                    sent += 1
                delivery.save(update_fields=["item_count", "sent_at"])
        except IntegrityError:
            continue
    return sent


def _digest_message(user, items, local_now):
    with translation.override(user.language), timezone.override(local_now.tzinfo):
        start_of_day = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        context = {
            "user": user,
            "overdue": [f for f in items if f.due_at < start_of_day],
            "today": [f for f in items if f.due_at >= start_of_day],
            "date": local_now.date(),
        }
        subject = render_to_string("followups/email/digest_subject.txt", context).strip()
        body = render_to_string("followups/email/digest_body.txt", context)
    return EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
