"""Reminders exactly once against real Celery workers and beats on Redis.

Each test commits its data (`transactional_db`), starts `celery worker` / `celery beat`
subprocesses on the pytest-django test database and the test Redis database (on a queue of the
test's own, see jobs_settings.py), and collects the e-mails on a loopback SMTP server (aiosmtpd)
started here. The fixture's finalizer stops the subprocesses (SIGTERM to each process group, then
SIGKILL) and prints their logs, which pytest shows when a test fails.

The e-mail leg: reminder rows are claimed, sent and marked in batches of EMAIL_BATCH_SIZE, one
transaction each. A worker killed after the SMTP server accepted some of a batch but before that
transaction committed sends them again on redelivery (no SMTP server can take part in a database
transaction). The resends carry the same Message-IDs, so the mailbox treats them as the same
messages. The kill tests therefore assert: every follow-up exactly one reminder, one notification,
at least one e-mail, one distinct Message-ID per reminder, and at most one batch of extra copies
per kill (the batch in flight at that moment).
"""

import collections
import email
import email.policy
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from contacts.models import Contact
from crm.celery import app as celery_app
from followups import reminders, tasks
from followups.models import FollowUp, Notification, Reminder

pytestmark = pytest.mark.jobs

BASE_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30
DELIVERY_TIMEOUT = 60
SETTLE_SECONDS = 2  # keep everything running this long after delivery: nothing more may arrive


# --- the loopback SMTP server -------------------------------------------------------------------


class MailSink:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self._lock = threading.Lock()
        self._messages = []
        self.on_message = None  # called with the count, before the 250 reply goes out

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self._messages.append((tuple(envelope.rcpt_tos), message))
            count = len(self._messages)
        if self.on_message:
            self.on_message(count)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        with self._lock:
            return list(self._messages)

    def __len__(self):
        with self._lock:
            return len(self._messages)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- subprocesses ---------------------------------------------------------------------------


def celery_command():
    celery = Path(sys.executable).with_name("celery")
    return [str(celery)] if celery.exists() else [sys.executable, "-m", "celery"]


class CeleryProcess:
    """A `celery worker` or `celery beat` in its own process group, logging to a file."""

    def __init__(self, name, args, env, log_dir):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed by close_log()
        self.popen = subprocess.Popen(
            [*celery_command(), "-A", "crm", *args],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a kill reaches the pool children too
        )

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle, timeout=STARTUP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}")
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: no {needle!r} in its log after {timeout} s")

    def signal_group(self, signum):
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self):
        """SIGKILL the worker and its pool children at once: a crash, no shutdown."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def close_log(self):
        self._log.close()


class Jobs:
    """Starts workers and beats against the test database, the test Redis and the mail sink."""

    def __init__(self, env, log_dir, sink):
        self.env = env
        self.log_dir = log_dir
        self.sink = sink
        self.processes = []

    def _start(self, name, args):
        process = CeleryProcess(name, args, self.env, self.log_dir)
        self.processes.append(process)
        return process

    def worker(self, name, *, wait=True):
        process = self._start(
            name,
            [
                "worker",
                "--queues",
                self.env["JOBS_TEST_QUEUE"],
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
        )
        if wait:
            process.wait_for_log("ready.")
        return process

    def beat(self, name, *, wait=True):
        process = self._start(
            name,
            [
                "beat",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--max-interval",
                "1",
                "--loglevel",
                "INFO",
            ],
        )
        if wait:
            process.wait_for_log("beat: Starting")
        return process

    def stop_all(self):
        for process in self.processes:
            process.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + 1.5  # a warm shutdown would finish its task: don't wait
        for process in self.processes:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # SIGKILL the group either way: pool children must not outlive the test database.
            process.signal_group(signal.SIGKILL)
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            process.close_log()

    def print_logs(self, tail=150):
        for process in self.processes:
            lines = process.log().splitlines()
            print(f"\n----- {process.name} (exit {process.popen.returncode}), last {tail} lines")
            print("\n".join(lines[-tail:]))


def database_url():
    db = connection.settings_dict
    user = urllib.parse.quote(db["USER"] or "")
    password = urllib.parse.quote(db["PASSWORD"] or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{auth}{host}:{port}/{db['NAME']}"


@pytest.fixture
def mail_sink():
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    sink = MailSink()
    controller = Controller(
        sink, hostname="127.0.0.1", port=free_port(), server_hostname="localhost"
    )
    controller.start()
    yield sink, controller.port
    controller.stop()


@contextmanager
def celery_workers(settings_module, queue_prefix, tmp_path, sink=None, **env):
    """A harness for real Celery processes on the test database; all stopped, logs printed and
    the queue cleaned up at the end. The workers use the broker this process uses (the test
    Redis database), on a queue named for this test alone: no earlier message leaks in, and
    another run of these tests sharing the database neither steals nor flushes ours. Tasks
    queued here go to the same queue. `env`: more variables for the worker processes."""
    queue = f"{queue_prefix}-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "JOBS_TEST_QUEUE": queue,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        **env,
        "DJANGO_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    harness = Jobs(env, tmp_path, sink)
    try:
        yield harness
    finally:
        celery_app.conf.task_default_queue = default_queue
        harness.stop_all()
        harness.print_logs()
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        broker.delete(queue, f"_kombu.binding.{queue}")
        # Messages a killed worker held stay in kombu's "unacked" hash for an hour: drop ours.
        for tag, raw in broker.hgetall("unacked").items():
            if queue.encode() in raw:
                broker.hdel("unacked", tag)
                broker.zrem("unacked_index", tag)


@pytest.fixture
def jobs(transactional_db, mail_sink, tmp_path):
    """Real Celery processes on the test database; all stopped, logs printed, at teardown."""
    sink, smtp_port = mail_sink
    with celery_workers(
        "tests.followups.jobs_settings",  # crm.test_settings + queue
        "jobs-test",
        tmp_path,
        sink,
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
    ) as harness:
        yield harness


# --- data and polling -----------------------------------------------------------------------


def make_due_follow_ups(n, tag):
    """n open follow-ups due five minutes ago, each with its own assignee and customer."""
    User = get_user_model()
    users = User.objects.bulk_create(
        User(
            username=f"{tag}-rep{i}",
            email=f"{tag}-rep{i}@crm.example",
            password="!",
            language="en",
            time_zone="UTC",
        )
        for i in range(n)
    )
    contacts = Contact.objects.bulk_create(
        Contact(name=f"Buyer {tag}-{i}", email=f"{tag}-buyer{i}@customer.example", owner=user)
        for i, user in enumerate(users)
    )
    due = timezone.now() - timedelta(minutes=5)
    return FollowUp.objects.bulk_create(
        FollowUp(contact=contact, assignee=contact.owner, due_at=due, plan=f"Call {contact.name}")
        for contact in contacts
    )


def beat_every_second():
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="send due reminders (test: every second)",
        task="followups.tasks.send_due_reminders",
        interval=interval,
        expire_seconds=5,
    )


def wait_until(condition, timeout=DELIVERY_TIMEOUT, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def emails_sent():
    return Reminder.objects.filter(email_sent_at__isnull=False).count()


def all_delivered(n, sink):
    return (
        Reminder.objects.count() >= n
        and not Reminder.objects.filter(email_sent_at__isnull=True).exists()
        and len(sink) >= n
    )


def assert_reminded_exactly_once(follow_ups):
    n = len(follow_ups)
    assert Reminder.objects.count() == n
    assert Notification.objects.count() == n
    per_follow_up = (
        Reminder.objects.values("follow_up").annotate(c=Count("id")).filter(c__gt=1).count()
    )
    assert per_follow_up == 0
    reminded = set(Reminder.objects.values_list("follow_up_id", flat=True))
    assert reminded == {f.pk for f in follow_ups}
    for follow_up in FollowUp.objects.filter(pk__in=[f.pk for f in follow_ups]):
        assert follow_up.reminded_for == follow_up.due_at
    assert set(Notification.objects.values_list("reminder__follow_up_id", flat=True)) == {
        f.pk for f in follow_ups
    }
    assert not Reminder.objects.filter(email_sent_at__isnull=True).exists()


def expected_mail(follow_ups):
    """recipient → the customer's name its one reminder e-mail must mention."""
    rows = FollowUp.objects.filter(pk__in=[f.pk for f in follow_ups]).values_list(
        "assignee__email", "contact__name"
    )
    return dict(rows)


def assert_one_email_each(messages, follow_ups):
    expected = expected_mail(follow_ups)
    recipients = [rcpt for rcpts, _ in messages for rcpt in rcpts]
    assert len(recipients) == len(messages)  # one recipient per message
    counts = collections.Counter(recipients)
    assert set(counts) == set(expected), "an assignee got no reminder e-mail, or a stranger did"
    assert [r for r, c in counts.items() if c > 1] == []
    for (recipient,), message in messages:
        assert f"Follow-up due: {expected[recipient]}" == message["Subject"]
    assert len({message["Message-ID"] for _, message in messages}) == len(follow_ups)


# --- the tests ------------------------------------------------------------------------------


def test_two_beats_and_two_workers_deliver_each_reminder_once(jobs):
    follow_ups = make_due_follow_ups(200, "a")
    beat_every_second()
    processes = [
        jobs.beat("beat1", wait=False),
        jobs.beat("beat2", wait=False),
        jobs.worker("worker1", wait=False),
        jobs.worker("worker2", wait=False),
    ]
    for process in processes:
        process.wait_for_log("beat: Starting" if "beat" in process.name else "ready.")

    wait_until(lambda: all_delivered(200, jobs.sink), what="200 reminders and 200 e-mails")
    time.sleep(SETTLE_SECONDS)  # beats keep ticking, workers keep sweeping: nothing more comes

    assert_reminded_exactly_once(follow_ups)
    messages = jobs.sink.messages
    assert len(messages) == 200
    assert_one_email_each(messages, follow_ups)
    # Both beats ticked and both workers ran the sweep during the test.
    for process in processes:
        needle = "Sending due task" if "beat" in process.name else "send_due_reminders"
        assert needle in process.log(), f"{process.name} took no part"


def test_worker_killed_mid_batch_leaves_nothing_lost_or_doubled(jobs):
    n = 600  # two batches to issue (500 + 100), then 600 e-mails in tasks of 100, batches of 20
    follow_ups = make_due_follow_ups(n, "b")
    beat_every_second()
    jobs.beat("beat")

    # Kill 1: as soon as the first batch of reminders has committed (issuing, or just after).
    first = jobs.worker("worker1")
    wait_until(Reminder.objects.exists, interval=0.01, what="the first batch to commit")
    first.kill()
    issued_at_kill = Reminder.objects.count()

    # Kill 2: in the middle of the e-mails, picked up again by the beat's sweep.
    second = jobs.worker("worker2")
    start = emails_sent()
    wait_until(
        lambda: emails_sent() >= min(start + 150, n // 2), interval=0.01, what="e-mails flowing"
    )
    sent_at_second_kill = emails_sent()
    second.kill()
    assert sent_at_second_kill < n, "the kill came too late to be mid-batch"

    jobs.worker("worker3")
    wait_until(lambda: all_delivered(n, jobs.sink), what=f"{n} reminders and e-mails")
    time.sleep(SETTLE_SECONDS)

    print(f"issued at kill 1: {issued_at_kill}, e-mails sent at kill 2: {sent_at_second_kill}")
    assert_reminded_exactly_once(follow_ups)
    messages = jobs.sink.messages
    expected = expected_mail(follow_ups)
    recipients = collections.Counter(rcpt for rcpts, _ in messages for rcpt in rcpts)
    assert set(recipients) == set(expected), "a reminder e-mail was lost"
    # One Message-ID per reminder: a copy resent after a kill is the same message.
    by_id = collections.defaultdict(set)
    for (recipient,), message in messages:
        by_id[message["Message-ID"]].add(recipient)
    assert len(by_id) == n and all(len(r) == 1 for r in by_id.values())
    extra = len(messages) - n
    print(f"copies resent after a kill: {extra}")
    assert extra <= 2 * reminders.EMAIL_BATCH_SIZE  # at most the batch in flight at each kill


def test_a_crash_after_the_smtp_server_accepted_resends_that_batch_once(jobs):
    """The one window no database transaction can close, made to happen on purpose.

    The worker is frozen (SIGSTOP) the moment the SMTP server has the 5th message of the second
    batch, so it never reads the 250 reply, and then killed: its transaction marking that batch
    sent dies with it. The next sweep sends those five messages again, once each, with the same
    Message-IDs; the first batch, committed, is not resent.
    """
    batch = reminders.EMAIL_BATCH_SIZE
    n = batch + 10
    follow_ups = make_due_follow_ups(n, "d")
    worker = jobs.worker("worker1")
    frozen = threading.Event()

    def freeze_in_the_second_batch(count):
        if count == batch + 5 and not frozen.is_set():
            worker.signal_group(signal.SIGSTOP)
            frozen.set()

    jobs.sink.on_message = freeze_in_the_second_batch
    tasks.send_due_reminders.delay()
    assert frozen.wait(DELIVERY_TIMEOUT), "the worker never reached the second batch"
    worker.kill()
    jobs.sink.on_message = None
    # The first batch committed; of the second, five were accepted and none marked.
    assert emails_sent() == batch

    jobs.worker("worker2")
    tasks.send_due_reminders.delay()  # the sweep re-queues the reminders still unsent
    wait_until(lambda: all_delivered(n, jobs.sink) and len(jobs.sink) >= n + 5, what="the resend")
    time.sleep(SETTLE_SECONDS)

    assert_reminded_exactly_once(follow_ups)
    messages = jobs.sink.messages
    assert len(messages) == n + 5
    copies = collections.Counter(message["Message-ID"] for _, message in messages)
    assert len(copies) == n
    in_flight = [message["Message-ID"] for _, message in messages[batch : batch + 5]]
    assert sorted(mid for mid, c in copies.items() if c > 1) == sorted(in_flight)
    assert all(copies[mid] == 2 for mid in in_flight)
    assert set(rcpt for rcpts, _ in messages for rcpt in rcpts) == set(expected_mail(follow_ups))


def test_duplicate_and_retried_runs_in_process_and_on_workers_are_harmless(jobs, settings):
    # This process sends through the same SMTP server as the workers.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = int(jobs.env["EMAIL_PORT"])
    n = 300
    follow_ups = make_due_follow_ups(n, "c")
    jobs.worker("worker1", wait=False)
    jobs.worker("worker2")
    jobs.processes[0].wait_for_log("ready.")

    # The sweep queued twice on the workers and run twice here, all at once.
    queued = [tasks.send_due_reminders.delay().id, tasks.send_due_reminders.delay().id]
    issued_here = tasks.send_due_reminders.apply().get() + tasks.send_due_reminders.apply().get()
    wait_until(lambda: Reminder.objects.count() >= n, what="all reminders issued")
    ids = list(Reminder.objects.values_list("pk", flat=True))
    # The e-mail task for the same ids, redelivered twice to the workers and retried here twice.
    tasks.email_reminders.delay(ids)
    tasks.email_reminders.delay(ids)
    sent_here = tasks.email_reminders.apply(args=[ids]).get()
    sent_here += tasks.email_reminders.apply(args=[ids]).get()
    wait_until(lambda: all_delivered(n, jobs.sink), what=f"{n} reminders and e-mails")
    time.sleep(SETTLE_SECONDS)

    print(f"issued in process: {issued_here}, e-mails sent in process: {sent_here}")
    logs = "".join(process.log() for process in jobs.processes)
    assert all(f"[{task_id}] succeeded" in logs for task_id in queued), "the workers missed one"
    assert_reminded_exactly_once(follow_ups)
    messages = jobs.sink.messages
    assert len(messages) == n
    assert_one_email_each(messages, follow_ups)
    # A retry after the fact finds nothing to do.
    assert tasks.send_due_reminders.apply().get() == 0
    assert tasks.email_reminders.apply(args=[ids]).get() == 0
    assert len(jobs.sink) == n
