"""Contact export throughput: 50,000 contacts as .xlsx and .csv (and .json), seconds and memory.

Not a test. It drops and recreates its own PostgreSQL database (trade_crm_export_bench),
migrates it, creates the salespeople and an admin, inserts N contacts with companies, tags,
other e-mails and texts of realistic length, then exports all of them through the real service
(contacts.exporting.export_contacts, what the view and the admin action call), writing the
streamed bytes to a temporary file as a browser download would:

  1. timed run per format (wall and CPU seconds, rows/s, file size),
  2. the same export again under tracemalloc for the peak of Python allocations (tracemalloc
     slows Python down, so that run is not timed); ru_maxrss is the process peak overall.

    .venv/bin/python bench/export_throughput.py
    .venv/bin/python bench/export_throughput.py --contacts 20000 --formats csv
"""

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
FIXTURES = Path(
    os.environ.get(
        "LEGACY_FIXTURES_DIR",
        Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "legacy",
    )
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--formats", default="xlsx,csv,json")
    parser.add_argument("--database", default="trade_crm_export_bench")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL")
    return parser.parse_args()


ARGS = parse_args()
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DJANGO_DEBUG": "False",  # production-like: no query log kept
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
        "DATABASE_URL": f"{ARGS.pg}/{ARGS.database}",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
)
sys.path.insert(0, str(BASE_DIR))


def say(*parts):
    print(*parts, flush=True)


def recreate_database():
    from benchdb import recreate_database as recreate

    recreate(ARGS.pg, ARGS.database)


def fill_crm(count):
    """An empty CRM with the fixtures' salespeople and `count` contacts (bulk inserts)."""
    import datetime
    import io

    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from accounts.models import Role
    from accounts.services import upsert_user
    from contacts.importing.saving import insert_rows
    from contacts.models import Company, Contact, Tag

    connections.close_all()
    recreate_database()
    call_command("migrate", verbosity=0)
    call_command("load_users", str(FIXTURES / "salespeople.json"), stdout=io.StringIO())
    admin, _created, _changed = upsert_user(username="bench_admin", role=Role.ADMIN)
    users = ["zhangwei", "lina", "kevinli", "chenjing"]
    from django.contrib.auth import get_user_model

    user_ids = [get_user_model().objects.get(username=name).pk for name in users]
    companies = insert_rows(
        Company,
        {"name": [f"Company {n} Trading Co., Ltd." for n in range(count // 5)]},
        returning_ids=True,
    )
    tags = insert_rows(
        Tag, {"name": ["分销商", "VIP", "Canton Fair 2024", "=1+1", "OEM"]}, returning_ids=True
    )
    now = timezone.now()
    summary = "2025-03-05 客户询问 MOQ 和交期；Sent quotation for 2x40HQ, waiting for feedback. "
    ids = insert_rows(
        Contact,
        {
            "email": [f"buyer{n}@customer{n % 997}.example" for n in range(count)],
            "other_emails": [
                [f"info{n}@customer.example"] if n % 7 == 0 else [] for n in range(count)
            ],
            "name": [f"Buyer {n}" if n % 50 else f'=HYPERLINK("x","{n}")' for n in range(count)],
            "company": [companies[n % len(companies)] for n in range(count)],
            "country": [("US", "DE", "PL", "VN", "SA")[n % 5] for n in range(count)],
            "phone": [f"+48225{n:06d}" for n in range(count)],
            "job_title": ["Purchasing Manager"] * count,
            "linkedin_url": [f"https://www.linkedin.com/in/buyer-{n}" for n in range(count)],
            "channel": [("trade_fair", "alibaba", "website")[n % 3] for n in range(count)],
            "first_contact_date": [
                datetime.date(2024, 1 + n % 12, 1 + n % 28) for n in range(count)
            ],
            "first_product": ["Bamboo Cutting Board"] * count,
            "stage": [("prospect", "inquiry", "sample", "deal")[n % 4] for n in range(count)],
            "grade": [("A", "B", "C")[n % 3] for n in range(count)],
            "purchase_cycle": ["Q1 2026"] * count,
            "last_contacted_at": [now - datetime.timedelta(days=n % 400) for n in range(count)],
            "summary": [summary * (1 + n % 6) for n in range(count)],
            "next_follow_up_plan": ["节后再联系"] * count,
            "notes": ["-" if n % 11 == 0 else "" for n in range(count)],
            "owner": [user_ids[n % len(user_ids)] for n in range(count)],
        },
        returning_ids=True,
    )
    insert_rows(
        Contact.tags.through,
        {
            "contact": [pk for pk in ids for _ in range(2)],
            "tag": [tags[(i + k) % len(tags)] for i, _pk in enumerate(ids) for k in range(2)],
        },
    )
    return admin


def export_to_disk(admin, fmt, *, trace=False):
    """One export of everything, the streamed bytes written to a temporary file.

    With trace, returns the peak of Python allocations during the call (ids, audit entry, and
    for .xlsx the workbook build) and during the streaming, separately.
    """
    from contacts.exporting import export_contacts
    from contacts.models import Contact

    if trace:
        tracemalloc.start()
    _name, _type, content = export_contacts(
        user=admin, queryset=Contact.objects.all(), fmt=fmt, language="zh-hans"
    )
    call_peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.reset_peak()
    size = 0
    with tempfile.TemporaryFile() as sink:
        for block in content:
            sink.write(block)
            size += len(block)
    if trace:
        stream_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return call_peak, stream_peak
    return size


def main():
    import django

    django.setup()
    from accounts.models import AuditEntry

    formats = [fmt.strip() for fmt in ARGS.formats.split(",") if fmt.strip()]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    say(f"machine: {os.cpu_count()} CPUs, load average {load} (other work slows the wall time)")
    started = time.perf_counter()
    admin = fill_crm(ARGS.contacts)
    say(f"{ARGS.contacts:,} contacts inserted in {time.perf_counter() - started:.1f} s")
    for fmt in formats:
        wall, cpu = time.perf_counter(), time.process_time()
        size = export_to_disk(admin, fmt)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        say(
            f"{fmt:>4}: {ARGS.contacts:,} contacts in {wall:.2f} s wall ({cpu:.2f} s CPU) = "
            f"{ARGS.contacts / wall:,.0f} contacts/s, {size / 1e6:.1f} MB"
        )
    for fmt in formats:
        call_peak, stream_peak = export_to_disk(admin, fmt, trace=True)
        say(
            f"{fmt:>4}: peak Python allocations (tracemalloc): {call_peak / 1e6:.1f} MB in the "
            f"call (ids, audit entry{', workbook to disk' if fmt == 'xlsx' else ''}), "
            f"{stream_peak / 1e6:.1f} MB while streaming"
        )
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    say(f"process peak resident memory: {max_rss:.0f} MB (ru_maxrss, Django and setup included)")
    say(f"audit entries written: {AuditEntry.objects.filter(action='export').count()}")


if __name__ == "__main__":
    main()
