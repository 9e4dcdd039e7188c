"""Reminder e-mails claimed and sent in small batches: one sender per row, none lost.

`email_reminders` claims a batch of rows (SELECT ... FOR UPDATE SKIP LOCKED, then UPDATE), sends
the batch and commits. Two senders of the same reminders, in two threads with two database
connections, must split the rows between them, never wait on each other and never both send one.
A send error keeps what went out and releases the rest; a crash leaves its whole batch unsent, to
be sent again with the same Message-IDs (at least once, never lost).
"""

import collections
import threading
from datetime import timedelta

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.utils import timezone

from followups import reminders, tasks
from followups.models import FollowUp, Reminder
from tests.factories import ContactFactory, UserFactory

BACKEND = f"{__name__}.RecordingBackend"
SENT = []  # (thread name, Message-ID) of every message a RecordingBackend accepted
SENT_LOCK = threading.Lock()
HOLD = {}  # thread name -> (held, release): that thread's first send waits for `release`


class RecordingBackend(BaseEmailBackend):
    """Accepts every message; in a thread named in HOLD, the first batch waits to be released."""

    def send_messages(self, messages):
        name = threading.current_thread().name
        with SENT_LOCK:
            SENT.extend((name, m.extra_headers["Message-ID"]) for m in messages)
        if name in HOLD:
            held, release = HOLD.pop(name)
            held.set()
            assert release.wait(10), "never released"
        return len(messages)


class Crash(BaseException):
    """Stands for the worker dying: nothing in the sender may catch it."""


class FailingBackend(BaseEmailBackend):
    """Accepts four messages; the fifth reaches the server, then `failure` is raised."""

    failure = ConnectionResetError("the SMTP server went away")

    def send_messages(self, messages):
        for message in messages:
            SENT.append(("main", message.extra_headers["Message-ID"]))
            if len(SENT) == 5:
                raise self.failure
        return len(messages)


@pytest.fixture(autouse=True)
def clean_records():
    SENT.clear()
    HOLD.clear()
    yield
    SENT.clear()
    HOLD.clear()


def issue_reminders(n):
    """n due follow-ups of n reps, reminded in app; their e-mails not sent yet."""
    due = timezone.now() - timedelta(minutes=5)
    for i in range(n):
        owner = UserFactory(email=f"rep{i}@crm.example", language="en", time_zone="UTC")
        FollowUp.objects.create(
            contact=ContactFactory(owner=owner), assignee=owner, due_at=due, plan="Call back"
        )
    return sorted(reminders.issue_due_reminders())


def message_id(pk):
    return f"<trade-crm.reminder.{pk}@{reminders.ReminderMail().domain}>"


def send_in_thread(name, ids, results, batch_size):
    def run():
        try:
            results[name] = reminders.email_reminders(ids, batch_size=batch_size)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_second_sender_skips_the_batch_the_first_holds_and_sends_the_rest(settings):
    settings.EMAIL_BACKEND = BACKEND
    ids = issue_reminders(30)
    held, release = threading.Event(), threading.Event()
    HOLD["first"] = (held, release)
    results = {}

    first = send_in_thread("first", ids, results, batch_size=10)
    assert held.wait(10), "the first sender never sent"
    # The first sender holds its claimed batch, uncommitted. The second neither waits for it nor
    # sends it: it sends the other two batches and returns.
    second = send_in_thread("second", ids, results, batch_size=10)
    second.join(10)
    assert not second.is_alive(), "the second sender waited on the first one's rows"
    assert results["second"] == 20
    release.set()
    first.join(10)
    assert results["first"] == 10

    message_ids = collections.Counter(mid for _, mid in SENT)
    assert len(SENT) == 30 and len(message_ids) == 30
    assert {mid for name, mid in SENT if name == "first"} == {message_id(pk) for pk in ids[:10]}
    assert not Reminder.objects.filter(email_sent_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_senders_of_the_same_reminders_send_each_once(settings):
    settings.EMAIL_BACKEND = BACKEND
    ids = issue_reminders(120)
    results = {}
    # Different batch sizes and one of them in reverse order: their batches overlap unevenly.
    threads = [
        send_in_thread("a", ids, results, batch_size=7),
        send_in_thread("b", ids[::-1], results, batch_size=3),
    ]
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()

    assert results["a"] + results["b"] == 120
    message_ids = collections.Counter(mid for _, mid in SENT)
    assert len(SENT) == 120 and len(message_ids) == 120
    assert not Reminder.objects.filter(email_sent_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_send_error_keeps_what_went_out_and_releases_the_rest_of_the_batch(settings):
    ids = issue_reminders(6)
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    with pytest.raises(ConnectionResetError):
        reminders.email_reminders(ids, batch_size=3)
    # The first batch and the first e-mail of the second are marked; the failed fifth and the
    # sixth are left for the next run.
    assert reminders.pending_reminder_email_ids() == ids[4:]

    settings.EMAIL_BACKEND = BACKEND
    assert reminders.email_reminders(ids, batch_size=3) == 2
    copies = collections.Counter(mid for _, mid in SENT)
    # Every reminder reached the server; only the one the error interrupted twice, same ID.
    assert set(copies) == {message_id(pk) for pk in ids}
    assert [mid for mid, n in copies.items() if n > 1] == [message_id(ids[4])]
    assert reminders.pending_reminder_email_ids() == []


@pytest.mark.django_db
def test_a_crash_inside_a_batch_leaves_the_whole_batch_to_be_sent_again(settings, monkeypatch):
    ids = issue_reminders(6)
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    monkeypatch.setattr(FailingBackend, "failure", Crash())
    with pytest.raises(Crash):
        reminders.email_reminders(ids, batch_size=3)
    # The second batch's transaction died with the "worker": none of its rows are marked.
    assert reminders.pending_reminder_email_ids() == ids[3:]

    settings.EMAIL_BACKEND = BACKEND
    assert reminders.email_reminders(ids, batch_size=3) == 3
    copies = collections.Counter(mid for _, mid in SENT)
    # At least once: the two of that batch that reached the server come again, same Message-IDs.
    assert set(copies) == {message_id(pk) for pk in ids}
    assert sorted(mid for mid, n in copies.items() if n > 1) == sorted(
        message_id(pk) for pk in ids[3:5]
    )


def test_a_sweeps_emails_are_queued_in_tasks_of_email_task_size(monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.email_reminders, "delay", queued.append)
    size = reminders.EMAIL_TASK_SIZE
    tasks.queue_reminder_emails(list(range(2 * size + 1)))
    assert [len(ids) for ids in queued] == [size, size, 1]
    assert [pk for ids in queued for pk in ids] == list(range(2 * size + 1))
