"""Celery entry points: thin, idempotent, ids only (never personal data)."""

from celery import shared_task

from . import reminders

# A backlog of ticks is dropped, not replayed: the next tick does the same work.
EVERY_MINUTE_EXPIRES = 55


@shared_task(acks_late=True, expires=EVERY_MINUTE_EXPIRES)
def send_due_reminders():
    """Issue due reminders (in-app at once) and queue their e-mails after each batch commits."""
    issued = reminders.issue_due_reminders(on_batch=queue_reminder_emails)
    # Reminders whose e-mail task was lost (worker killed) are picked up here.
    pending = set(reminders.pending_reminder_email_ids()) - set(issued)
    if pending:
        queue_reminder_emails(sorted(pending))
    return len(issued)


def queue_reminder_emails(reminder_ids):
    """One e-mail task per EMAIL_TASK_SIZE reminders, so every free worker takes a share."""
    size = reminders.EMAIL_TASK_SIZE
    for start in range(0, len(reminder_ids), size):
        email_reminders.delay(reminder_ids[start : start + size])


@shared_task(acks_late=True)
def email_reminders(reminder_ids):
    return reminders.email_reminders(reminder_ids)


@shared_task(acks_late=True, expires=10 * 60)
def send_daily_digests():
    return reminders.send_daily_digests()
