"""Contact import throughput: customer_master_5000.xlsx into a fresh database, rows/s and memory.

Not a test. It drops and recreates its own PostgreSQL database (trade_crm_import_bench),
migrates it, creates the salespeople, then imports the file through the real engine
(contacts.importing.import_contacts) in one transaction, as the CLI and the later Celery job do:

  1. timed run into the empty CRM (wall and CPU seconds, split into reading + normalising and
     planning + writing),
  2. the same file again (every row matches an existing contact: nothing new is written),
  3. a run into a re-created database under tracemalloc, for the peak of Python allocations
     (tracemalloc slows Python down, so this run is not timed); ru_maxrss is the process peak.

    .venv/bin/python bench/import_throughput.py
    .venv/bin/python bench/import_throughput.py --file other.xlsx --runs 3
"""

import argparse
import os
import resource
import sys
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
TARGET_SECONDS = 5  # "a few seconds" for the 5,000-row workbook


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(FIXTURES / "customer_master_5000.xlsx"))
    parser.add_argument("--runs", type=int, default=1, help="timed runs into an empty CRM")
    parser.add_argument("--database", default="trade_crm_import_bench")
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


def fresh_crm():
    """An empty, migrated CRM with the salespeople of the fixtures."""
    import io

    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    recreate_database()
    call_command("migrate", verbosity=0)
    call_command("load_users", str(FIXTURES / "salespeople.json"), stdout=io.StringIO())


class Phases:
    """Wall and CPU time per phase, from the engine's progress callback: the last
    progress(total, total) call ends reading and normalising; the rest is planning + writing."""

    def __init__(self):
        self.start_wall = time.perf_counter()
        self.start_cpu = time.process_time()
        self.read = None

    def progress(self, done, total):
        if done == total:
            self.read = (
                time.perf_counter() - self.start_wall,
                time.process_time() - self.start_cpu,
            )

    def finish(self):
        return time.perf_counter() - self.start_wall, time.process_time() - self.start_cpu


def timed_import(path):
    from contacts.importing import import_contacts

    phases = Phases()
    result = import_contacts(path, progress=phases.progress)
    wall, cpu = phases.finish()
    return result.report["totals"], wall, cpu, phases.read


def main():
    import django

    django.setup()
    from contacts.importing import import_contacts
    from contacts.models import Contact

    path = Path(ARGS.file)
    say(f"file: {path.name} ({path.stat().st_size / 1e6:.2f} MB)")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    say(f"machine: {os.cpu_count()} CPUs, load average {load} (other work slows the wall time)")
    best = None
    for run in range(1, ARGS.runs + 1):
        fresh_crm()
        totals, wall, cpu, (read_wall, read_cpu) = timed_import(path)
        rows = totals["data_rows"]
        say(
            f"run {run}: {rows} rows, {totals['created']} created in {wall:.2f} s wall "
            f"({cpu:.2f} s CPU in this process) = {rows / wall:,.0f} rows/s; "
            f"reading+normalising {read_wall:.2f} s, planning+writing {wall - read_wall:.2f} s"
        )
        assert Contact.objects.count() == totals["created"]
        best = wall if best is None else min(best, wall)

    totals, wall, cpu, _ = timed_import(path)
    say(
        f"again into the same CRM: {totals['created']} created, "
        f"{totals['matched_existing']} matched existing in {wall:.2f} s"
    )

    fresh_crm()
    tracemalloc.start()
    import_contacts(path)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    say(f"peak Python allocations during the import: {peak / 1e6:.1f} MB (tracemalloc)")
    say(f"process peak resident memory: {max_rss:.0f} MB (ru_maxrss, Django included)")
    verdict = "OK" if best <= TARGET_SECONDS else "SLOWER THAN TARGET"
    say(f"best: {best:.2f} s for the file, target {TARGET_SECONDS} s: {verdict}")


if __name__ == "__main__":
    main()
