"""Reminders that arrive exactly once, and the daily digest.

Exactly once: a sweep locks due, un-reminded follow-ups with SKIP LOCKED (so two workers take
disjoint rows), writes one Reminder per (follow-up, due time) — a unique delivery key — with its
in-app notification, and flips `reminded_for` in the same transaction. A crash before commit leaves
nothing behind; the next run picks the rows up again. E-mails go out after commit, at least once:
reminder rows are marked sent in small batches, each in the transaction that sends the batch, and
every e-mail carries a Message-ID of its reminder, so a copy resent after a crash is recognisable.
"""

import datetime
import logging
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import get_template, render_to_string
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


# Reminders claimed, sent and marked per transaction. A crash after the SMTP server accepted some
# of a batch but before COMMIT resends at most this many e-mails, with their same Message-IDs;
# larger batches save little more (the commit and the claim are already shared by 20).
EMAIL_BATCH_SIZE = 20
# Reminder ids per queued e-mail task: small enough that the workers share a sweep's e-mails (or
# a backlog it re-queues) evenly, large enough that the per-task overhead is noise.
EMAIL_TASK_SIZE = 100


class ReminderMail:
    """Builds reminder e-mails; the templates and the Message-ID domain are looked up once."""

    def __init__(self):
        self.subject = get_template("followups/email/reminder_subject.txt")
        self.body = get_template("followups/email/reminder_body.txt")
        self.domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"

    def message(self, reminder):
        follow_up = reminder.follow_up
        user = reminder.recipient
        with translation.override(user.language), timezone.override(user_zone(user)):
            context = {"follow_up": follow_up, "contact": follow_up.contact, "user": user}
            subject = self.subject.render(context).strip()
            body = self.body.render(context)
        # One Message-ID per reminder: a copy resent after a crash is the same message to a client.
        headers = {"Message-ID": f"<trade-crm.reminder.{reminder.pk}@{self.domain}>"}
        return EmailMessage(
            subject, body, settings.DEFAULT_FROM_EMAIL, [user.email], headers=headers
        )


def _wants_email(reminder):
    """Only for an active user with an address, and a follow-up still open at that due time."""
    follow_up, user = reminder.follow_up, reminder.recipient
    return bool(
        user.email
        and user.is_active
        and follow_up.status == FollowUpStatus.OPEN
        and follow_up.due_at == reminder.due_at
    )


def claim_unsent_emails(reminder_ids) -> set[int]:
    """Mark the reminders of `reminder_ids` still unsent as sent; returns the ids claimed.

    Call inside the transaction that sends them. SKIP LOCKED: a row another sender has claimed
    but not committed yet is theirs (it is sent by them, or left unsent for the next sweep if
    they fail), so two senders never wait on each other, never deadlock, never both send a row.
    """
    claimed = set(
        Reminder.objects.filter(pk__in=reminder_ids, email_sent_at__isnull=True)
        .select_for_update(skip_locked=True)
        .values_list("pk", flat=True)
    )
    if claimed:
        Reminder.objects.filter(pk__in=claimed).update(email_sent_at=timezone.now())
    return claimed


def email_reminders(reminder_ids, *, batch_size=EMAIL_BATCH_SIZE) -> int:
    """Send the reminder e-mails not sent yet; the rows are marked in the transaction sending them.

    The rows and what the e-mails need are read in one query. Then, per batch of `batch_size`,
    one transaction claims the rows still unsent (`claim_unsent_emails`), sends their e-mails and
    commits: a concurrent sender never sends the same row, and a crash before the commit leaves
    the whole batch unsent for the next sweep, which resends what the SMTP server had already
    accepted, with the same Message-ID. An error while sending (a refused recipient, a dropped
    connection) is not a crash: what went out stays marked, the failed e-mail and the rest of
    the batch are released for the next sweep, and the error is raised after the commit. A
    reminder whose follow-up was closed or moved meanwhile is marked, not sent. One SMTP
    connection serves the whole call.
    """
    pending = list(
        Reminder.objects.filter(pk__in=reminder_ids, email_sent_at__isnull=True)
        .select_related("follow_up__contact__company", "recipient")
        .order_by("pk")
    )
    mail = ReminderMail()
    sent = 0
    connection = get_connection()
    try:
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            failure = None
            with transaction.atomic():
                claimed = claim_unsent_emails([r.pk for r in batch])
                outgoing = [r for r in batch if r.pk in claimed and _wants_email(r)]
                for position, reminder in enumerate(outgoing):
                    try:
                        connection.open()  # once; send_messages closes only what it opened
                        sent += connection.send_messages([mail.message(reminder)])
                    except Exception as error:  # noqa: BLE001 - raised again after the commit
                        failure = error
                        Reminder.objects.filter(pk__in=[r.pk for r in outgoing[position:]]).update(
                            email_sent_at=None
                        )
                        break
            if failure is not None:
                raise failure
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
