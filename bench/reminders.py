"""Reminder delivery benchmark: 1,000,000 follow-ups, 10,000 due, real Celery workers on Redis.

Not a test. It drops and recreates its own PostgreSQL database (trade_crm_bench), migrates it,
inserts the follow-ups (timed separately), then for each e-mail backend (a loopback SMTP sink,
Django's dummy backend) and each worker count (1, 2) resets the due set, starts that many
`celery worker` processes (--concurrency 1 unless told) on Redis DB 14, queues
`send_due_reminders` once and measures the seconds until every due follow-up has its in-app
reminder and its e-mail. Each run is verified exactly once. Finally it counts the queries per
reminder of an in-process sweep.

    .venv/bin/python bench/reminders.py                 # the full run (several minutes)
    .venv/bin/python bench/reminders.py --total 100000 --due 1000 --backends dummy   # quick

See bench/README.md.
"""

import argparse
import collections
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
STALL_SECONDS = 60  # a run without any progress this long has failed (see the worker logs)
TARGET_SECONDS = 30  # from the issue: 10,000 due reminders delivered within 30 s on two workers


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=1_000_000, help="follow-ups in all")
    parser.add_argument("--due", type=int, default=10_000, help="of which due and un-reminded")
    parser.add_argument("--users", type=int, default=200, help="assignees (reps)")
    parser.add_argument("--contacts", type=int, default=20_000, help="customers")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure")
    parser.add_argument("--backends", default="smtp,dummy", help="e-mail backends: smtp, dummy")
    parser.add_argument("--database", default="trade_crm_bench")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run at most")
    parser.add_argument("--concurrency", type=int, default=1, help="processes per worker")
    parser.add_argument("--email-sample", type=int, default=1000, help="e-mails query-counted")
    parser.add_argument(
        "--reuse-db", action="store_true", help="keep the database of an earlier run as it is"
    )
    parser.add_argument("--keep-logs", action="store_true", help="print worker logs after runs")
    return parser.parse_args()


ARGS = parse_args()
SMTP_PORT = None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(*parts):
    print(*parts, flush=True)


# --- environment: this process and the workers use the same settings --------------------------

SMTP_PORT = free_port()
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "crm.settings",
    "DJANGO_DEBUG": "False",  # production-like: no query log kept in the workers
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "DATABASE_URL": f"{ARGS.pg}/{ARGS.database}",
    "REDIS_URL": ARGS.redis,
    "EMAIL_HOST": "127.0.0.1",
    "EMAIL_PORT": str(SMTP_PORT),
    "DJANGO_EMAIL_BACKEND": BACKENDS["dummy"],
    "DJANGO_LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}
os.environ.update({k: ENV[k] for k in ENV if k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))})
os.environ.update(EMAIL_HOST=ENV["EMAIL_HOST"], EMAIL_PORT=ENV["EMAIL_PORT"])
sys.path.insert(0, str(BASE_DIR))


def recreate_database():
    import psycopg

    with psycopg.connect(f"{ARGS.pg.replace('postgres://', 'postgresql://', 1)}/postgres") as conn:
        conn.autocommit = True
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [ARGS.database],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{ARGS.database}"')
        conn.execute(f'CREATE DATABASE "{ARGS.database}"')


# --- the mail sink ----------------------------------------------------------------------------


class Sink:
    """bench/smtp_sink.py in a process of its own; what it accepted, read back from its file."""

    def __init__(self, port, path):
        self.path = path
        path.write_text("")
        self.popen = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "bench" / "smtp_sink.py"), str(port), str(path)],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        if self.popen.stdout.readline().strip() != b"sink ready":
            raise RuntimeError("the SMTP sink did not start")

    def messages(self):
        """(Message-ID, recipients) per accepted message."""
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [(mid, tuple(rcpts.split(","))) for mid, rcpts in (ln.split("\t") for ln in lines)]

    def count(self):
        return self.path.read_bytes().count(b"\n")

    def reset(self):
        self.path.write_text("")  # the sink appends (O_APPEND): it continues at the new end

    def stop(self):
        self.popen.terminate()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


# --- workers --------------------------------------------------------------------------------


def celery_command():
    celery = Path(sys.executable).with_name("celery")
    return [str(celery)] if celery.exists() else [sys.executable, "-m", "celery"]


class Worker:
    def __init__(self, name, backend, log_dir):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed by stop()
        env = {**ENV, "DJANGO_EMAIL_BACKEND": BACKENDS[backend]}
        self.popen = subprocess.Popen(
            [
                *celery_command(),
                "-A",
                "crm",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(ARGS.concurrency),
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log_path.read_text(errors="replace"):
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self):
        for signum, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        self.log.close()


# --- data -----------------------------------------------------------------------------------


FOLLOW_UP_INSERT = """
INSERT INTO followups_followup (contact_id, assignee_id, due_at, all_day, plan, status,
                                completed_at, completion_note, reminded_for, created_by_id,
                                created_at)
SELECT c.id, c.owner_id, s.due_at, false, s.kind || ' ' || s.g || ': send the quotation',
       CASE s.kind WHEN 'done' THEN 'done' WHEN 'cancelled' THEN 'cancelled' ELSE 'open' END,
       CASE WHEN s.kind IN ('done', 'cancelled') THEN s.due_at + interval '1 hour' END,
       '',
       CASE WHEN s.kind IN ('done', 'reminded') THEN s.due_at END,
       c.owner_id, s.due_at - interval '1 day'
FROM (
    SELECT k.g, k.kind,
           CASE k.kind
               WHEN 'due' THEN now() - interval '1 second' - random() * interval '1 hour'
               WHEN 'future' THEN now() + interval '1 day' + random() * interval '90 days'
               ELSE now() - interval '1 hour' - random() * interval '365 days'
           END AS due_at,
           1 + floor(random() * %(contacts)s)::int AS pick
    FROM (
        SELECT g, CASE WHEN g <= %(due)s THEN 'due'
                       WHEN g <= %(due)s + %(done)s THEN 'done'
                       WHEN g <= %(due)s + %(done)s + %(cancelled)s THEN 'cancelled'
                       WHEN g <= %(due)s + %(done)s + %(cancelled)s + %(reminded)s
                           THEN 'reminded'
                       ELSE 'future' END AS kind
        FROM generate_series(1, %(total)s) AS g
    ) AS k
) AS s
JOIN bench_contacts AS c ON c.n = s.pick
"""


def insert_data():
    """Users, customers and ARGS.total follow-ups (ARGS.due of them due); returns timings.

    The follow-ups are generated inside PostgreSQL (INSERT ... SELECT over generate_series):
    faster than COPY fed row by row from Python. Of the rest, as a live system has them: 65 %
    done, 10 % cancelled, 15 % open and already reminded, 10 % open and due from tomorrow on.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection

    from contacts.models import Contact

    timings = {}
    started = time.perf_counter()
    User = get_user_model()
    zones = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"]
    users = User.objects.bulk_create(
        User(
            username=f"rep{i}",
            email=f"rep{i}@bench.example",
            password="!",
            language="en" if i % 2 else "zh-hans",
            time_zone=zones[i % len(zones)],
        )
        for i in range(ARGS.users)
    )
    Contact.objects.bulk_create(
        (
            Contact(
                name=f"Buyer {i}",
                email=f"buyer{i}@customer.example",
                owner_id=users[i % len(users)].pk,
                country="US",
            )
            for i in range(ARGS.contacts)
        ),
        batch_size=5000,
    )
    timings["users and customers"] = time.perf_counter() - started

    rest = ARGS.total - ARGS.due
    counts = {"done": rest * 65 // 100, "cancelled": rest // 10, "reminded": rest * 15 // 100}
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.2026)")
        cursor.execute(
            "CREATE TEMP TABLE bench_contacts AS "
            "SELECT row_number() OVER (ORDER BY id) AS n, id, owner_id FROM contacts_contact"
        )
        cursor.execute(
            FOLLOW_UP_INSERT,
            {"total": ARGS.total, "due": ARGS.due, "contacts": ARGS.contacts, **counts},
        )
        cursor.execute("DROP TABLE bench_contacts")
    timings["follow-ups (INSERT ... SELECT generate_series)"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE followups_followup")
    timings["VACUUM ANALYZE"] = time.perf_counter() - started
    return timings


def due_ids():
    from django.utils import timezone

    from followups.reminders import due_unreminded

    return list(due_unreminded(timezone.now()).values_list("pk", flat=True))


def reset_due_set(ids):
    """Forget every reminder and notification; the due set is un-reminded again."""
    from django.db import connection, transaction

    from followups.models import FollowUp, Notification, Reminder

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {Notification._meta.db_table}, {Reminder._meta.db_table} RESTART IDENTITY"
        )
        FollowUp.objects.filter(pk__in=ids).update(reminded_for=None)
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute(f"VACUUM ANALYZE {FollowUp._meta.db_table}")


def flush_redis():
    import redis

    redis.Redis.from_url(ARGS.redis).flushdb()


# --- one measured run -----------------------------------------------------------------------


def measure(backend, workers, ids, sink, log_dir):
    from django.db.models import Count, F

    from followups.models import FollowUp, Notification, Reminder
    from followups.tasks import send_due_reminders

    due = len(ids)
    reset_due_set(ids)
    flush_redis()
    sink.reset()
    load_before = os.getloadavg()[0]  # the machine is shared: say how busy it was
    procs = [Worker(f"{backend}-{workers}w-{i + 1}", backend, log_dir) for i in range(workers)]
    try:
        for proc in procs:
            proc.wait_ready()
        started = time.perf_counter()
        send_due_reminders.delay()
        issued_after = None
        deadline = started + ARGS.timeout
        progress, progress_at = None, started
        while True:
            issued = Reminder.objects.count()
            sent = Reminder.objects.filter(email_sent_at__isnull=False).count()
            now = time.perf_counter()
            if (issued, sent) != progress:
                progress, progress_at = (issued, sent), now
            elif now - progress_at > STALL_SECONDS:
                tails = "\n".join(p.log_path.read_text(errors="replace")[-2000:] for p in procs)
                raise RuntimeError(
                    f"no progress for {STALL_SECONDS} s ({issued}, {sent}):\n{tails}"
                )
            if issued_after is None and issued >= due:
                issued_after = now - started
            if issued >= due and sent >= due and (backend != "smtp" or sink.count() >= due):
                delivered_after = now - started
                break
            if now > deadline:
                raise RuntimeError(f"timed out: {issued} issued, {sent} e-mailed of {due}")
            time.sleep(0.05)
        time.sleep(1)  # anything late (a duplicate) would arrive now
    finally:
        for proc in procs:
            proc.stop()
        if ARGS.keep_logs:
            for proc in procs:
                say(f"--- {proc.name}\n{proc.log_path.read_text(errors='replace')[-4000:]}")

    # Exactly once: one reminder, one notification and (SMTP) one message per due follow-up.
    problems = []
    if Reminder.objects.count() != due:
        problems.append(f"{Reminder.objects.count()} reminders for {due} due follow-ups")
    if Notification.objects.count() != due:
        problems.append(f"{Notification.objects.count()} notifications")
    if set(Reminder.objects.values_list("follow_up_id", flat=True)) != set(ids):
        problems.append("reminders not exactly for the due set")
    if Reminder.objects.values("follow_up", "due_at").annotate(c=Count("id")).filter(c__gt=1):
        problems.append("a follow-up reminded twice")
    if FollowUp.objects.filter(pk__in=ids).exclude(reminded_for=F("due_at")).exists():
        problems.append("a due follow-up not marked reminded")
    if Reminder.objects.filter(email_sent_at__isnull=True).exists():
        problems.append("an e-mail not sent")
    emails = "n/a"
    if backend == "smtp":
        messages = sink.messages()
        message_ids = collections.Counter(mid for mid, _ in messages)
        expected = collections.Counter(Reminder.objects.values_list("recipient__email", flat=True))
        received = collections.Counter(r for _, rcpts in messages for r in rcpts)
        if len(messages) != due or len(message_ids) != due:
            problems.append(f"{len(messages)} messages, {len(message_ids)} distinct, for {due}")
        if received != expected:
            problems.append("messages per recipient differ from reminders per recipient")
        emails = len(messages)
    return {
        "backend": backend,
        "workers": workers,
        "issued_s": issued_after,
        "delivered_s": delivered_after,
        "emails": emails,
        "exactly_once": not problems,
        "problems": problems,
        "load": load_before,
    }


def queries_per_reminder(ids):
    """An in-process sweep on a fresh due set, then e-mails for a sample, every query captured.

    CaptureQueriesContext keeps at most 9,000 queries: the e-mails are counted on a sample.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from followups import reminders

    reset_due_set(ids)
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as issuing:
        issued = reminders.issue_due_reminders()
    issue_seconds = time.perf_counter() - started
    sample = issued[: ARGS.email_sample]
    started = time.perf_counter()
    with (
        override_settings(EMAIL_BACKEND=BACKENDS["dummy"]),
        CaptureQueriesContext(connection) as mailing,
    ):
        reminders.email_reminders(sample)
    mail_seconds = time.perf_counter() - started
    return {
        "reminders": len(issued),
        "issue_queries": len(issuing.captured_queries),
        "issue_seconds": issue_seconds,
        "emails": len(sample),
        "email_queries": len(mailing.captured_queries),
        "email_seconds": mail_seconds,
    }


def main():
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the workers and the sink are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not ARGS.reuse_db:
        say(f"database {ARGS.database}: drop, create, migrate")
        recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    timings = {}
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    timings["migrate"] = time.perf_counter() - started
    if ARGS.reuse_db:
        say(f"database {ARGS.database}: reused (migrated, data kept)")
        from followups.models import FollowUp

        # The due set of the earlier run: every follow-up generated as due.
        ids = list(FollowUp.objects.filter(plan__startswith="due ").values_list("pk", flat=True))
        ARGS.due = len(ids)
        ARGS.total = FollowUp.objects.count()
    else:
        say(f"inserting {ARGS.total:,} follow-ups, {ARGS.due:,} due")
        timings.update(insert_data())
        for name, seconds in timings.items():
            say(f"  {name}: {seconds:.1f} s")
        ids = due_ids()
    assert len(ids) == ARGS.due, f"{len(ids)} due, expected {ARGS.due}"

    log_dir = BASE_DIR / "var" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    sink = Sink(SMTP_PORT, log_dir / "smtp-sink.txt")
    results = []
    try:
        for backend in ARGS.backends.split(","):
            for workers in (int(w) for w in ARGS.workers.split(",")):
                say(f"run: {backend} e-mail, {workers} worker(s) ...")
                result = measure(backend, workers, ids, sink, log_dir)
                results.append(result)
                say(
                    f"  in-app reminders issued after {result['issued_s']:.1f} s, all delivered "
                    f"after {result['delivered_s']:.1f} s; exactly once: {result['exactly_once']}"
                    + (f" {result['problems']}" if result["problems"] else "")
                )
    finally:
        sink.stop()
    q = queries_per_reminder(ids)

    load = os.getloadavg()
    say("\n=== reminder benchmark ===")
    say(
        f"follow-ups {ARGS.total:,}, due {ARGS.due:,}, assignees {ARGS.users}, "
        f"CPUs {os.cpu_count()}"
    )
    say(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if not ARGS.reuse_db:
        say(
            "insertion (not part of the measurement): "
            + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        )
    say(f"worker processes: celery worker --pool prefork --concurrency {ARGS.concurrency}")
    say(
        f"{'e-mail':<8}{'workers':>8}{'issued (s)':>12}{'delivered (s)':>15}{'e-mails':>9}"
        f"{'load':>7}  once"
    )
    for r in results:
        say(
            f"{r['backend']:<8}{r['workers']:>8}{r['issued_s']:>12.1f}{r['delivered_s']:>15.1f}"
            f"{str(r['emails']):>9}{r['load']:>7.2f}  "
            f"{'yes' if r['exactly_once'] else 'NO ' + str(r['problems'])}"
        )
    say("load: the 1-minute load average as the run started")
    say(
        f"queries per reminder, in-process sweep: {q['issue_queries']} / {q['reminders']} = "
        f"{q['issue_queries'] / q['reminders']:.4f} ({q['issue_seconds']:.1f} s)"
    )
    say(
        f"queries per e-mail, in-process (dummy backend): {q['email_queries']} / {q['emails']}"
        f" = {q['email_queries'] / q['emails']:.2f} ({q['email_seconds']:.1f} s for the sample)"
        ": one SELECT for all, then per batch of e-mails BEGIN, a locking SELECT, UPDATE, COMMIT"
    )
    two = [r for r in results if r["workers"] == 2]
    for r in two:
        verdict = "meets" if r["delivered_s"] <= TARGET_SECONDS else "misses"
        say(f"target <= {TARGET_SECONDS} s with two workers ({r['backend']}): {verdict}")
    if not all(r["exactly_once"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
