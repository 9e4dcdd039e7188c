"""Import, 50,000 rows: our import against the floor (read + COPY) and django-import-export.

Not a test: it prints figures. One command runs every phase on the same 50,000-row legacy
workbook (var/bench/legacy_50000.xlsx, written by bench/make_legacy_workbook.py when missing):

  a   the floor: read the file, every cell as text, with fastexcel and with python-calamine
      (each in its own run), then COPY the 50,000 rows into a scratch table of text columns
      through Django's connection; a = the faster of the two (read + COPY);
  b   a plain django-import-export ModelResource for Contact, run as the admin does: a dry run,
      then the real import, into an empty CRM (--b-rows N measures the first N rows only and
      extrapolates linearly, saying so);
  c1  our import as the browser flow runs it: preview_upload (dry run) in one process, as the
      web server does, then confirm (queue_import, then run_import_job instead of a Celery
      worker) in another, as the worker does; into an empty CRM. Its seconds are the two
      added up (process start and Django set-up excluded), its peak RSS the larger of the two;
  c2  the same again on c1's database, which then holds those contacts.

Every phase runs in a child process of its own (this script with --phase), so ru_maxrss is that
phase's peak; the database of each phase is re-created, migrated and given the salespeople
first, in a separate child, so that set-up counts neither in the time nor in the peak.

    .venv/bin/python bench/import_50k.py
    .venv/bin/python bench/import_50k.py --b-rows 5000     # django-import-export on a subset
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
FIXTURES = Path(
    os.environ.get(
        "LEGACY_FIXTURES_DIR",
        Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "legacy",
    )
)
ROWS = 50_000
DEFAULT_FILE = BASE_DIR / "var" / "bench" / f"legacy_{ROWS}.xlsx"
SCRATCH_TABLE = "bench_legacy_rows"
READERS = ("fastexcel", "calamine")
BLOCK = 5_000  # (b) notes its time every BLOCK rows
# Targets from issue 4.
MAX_C_OVER_A = 4
MIN_B_OVER_C = 15
MAX_PEAK_RSS_MB = 300
# Contact fields django-import-export gets: plain text as read; choices cut to what fits.
PLAIN_FIELDS = (
    "name",
    "email",
    "phone",
    "job_title",
    "linkedin_url",
    "first_product",
    "summary",
    "notes",
    "referrer",
)
TRUNCATED_FIELDS = ("country", "stage", "grade", "channel")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(DEFAULT_FILE))
    parser.add_argument(
        "--b-rows", type=int, default=ROWS, help="rows django-import-export imports (then scaled)"
    )
    parser.add_argument("--database-prefix", default="trade_crm_import50k")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="cache (progress)")
    parser.add_argument(
        "--only", default="abc", help="the phases to run, e.g. c (ratios need all three)"
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="write each child phase's cProfile statistics to DIR"
    )
    # Internal: one phase in a child process.
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--reader", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("--job", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


ARGS = parse_args()


def say(*parts):
    print(*parts, flush=True)


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def rss_mb() -> float:
    """Resident memory now (VmRSS), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def python_cpu_seconds() -> float:
    """CPU (user + system) of this process and of its children it waited for (the import's
    second normalising process)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def backend_cpu_seconds(pid: int | None) -> float | None:
    """CPU of the PostgreSQL backend serving Django's connection, when the server runs on
    this machine (its /proc entry is readable); None otherwise."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def backend_pid() -> int | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


# --- reading the workbook, every cell as text -------------------------------------------------


def read_rows(reader: str, path: Path) -> tuple[list[str], list[tuple]]:
    """The first sheet's header and data rows, every cell as text (None when empty)."""
    return {"fastexcel": read_with_fastexcel, "calamine": read_with_calamine}[reader](path)


def read_with_calamine(path: Path):
    from python_calamine import CalamineWorkbook

    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    header = [as_text(value) for value in grid[0]]
    return header, [tuple(as_text(value) for value in row) for row in grid[1:]]


def as_text(value):
    if value.__class__ is str:
        return value or None  # calamine gives "" for an empty cell
    return None if value is None else str(value)


def read_with_fastexcel(path: Path):
    """fastexcel hands its columns out through the Arrow C data interface (PyCapsules). pyarrow
    is no dependency of the project, so the string columns are read here with ctypes."""
    import fastexcel

    sheet = fastexcel.read_excel(str(path)).load_sheet(0, dtypes="string")
    schema_capsule, array_capsule = sheet.__arrow_c_array__()  # a struct array: one per column
    schema = ArrowSchema.from_address(capsule_pointer(schema_capsule, b"arrow_schema"))
    batch = ArrowArray.from_address(capsule_pointer(array_capsule, b"arrow_array"))
    header, columns = [], []
    for index in range(schema.n_children):
        header.append(schema.children[index].contents.name.decode())
        columns.append(arrow_strings(schema.children[index].contents, batch.children[index][0]))
    return header, list(zip(*columns, strict=True))


def _arrow_structs():
    import ctypes

    class Schema(ctypes.Structure):
        pass

    class Array(ctypes.Structure):
        pass

    Schema._fields_ = [
        ("format", ctypes.c_char_p),
        ("name", ctypes.c_char_p),
        ("metadata", ctypes.c_void_p),
        ("flags", ctypes.c_int64),
        ("n_children", ctypes.c_int64),
        ("children", ctypes.POINTER(ctypes.POINTER(Schema))),
        ("dictionary", ctypes.c_void_p),
        ("release", ctypes.c_void_p),
        ("private_data", ctypes.c_void_p),
    ]
    Array._fields_ = [
        ("length", ctypes.c_int64),
        ("null_count", ctypes.c_int64),
        ("offset", ctypes.c_int64),
        ("n_buffers", ctypes.c_int64),
        ("n_children", ctypes.c_int64),
        ("buffers", ctypes.POINTER(ctypes.c_void_p)),
        ("children", ctypes.POINTER(ctypes.POINTER(Array))),
        ("dictionary", ctypes.c_void_p),
        ("release", ctypes.c_void_p),
        ("private_data", ctypes.c_void_p),
    ]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return Schema, Array, get_pointer


ArrowSchema, ArrowArray, capsule_pointer = _arrow_structs()


def arrow_strings(schema, array) -> list:
    """A utf8 / large_utf8 Arrow column as Python strings (None where null)."""
    import ctypes

    width = {b"u": 4, b"U": 8}.get(schema.format)
    if width is None:
        raise SystemExit(f"fastexcel gave an Arrow column of format {schema.format!r}, not text")
    length, offset = array.length, array.offset
    offsets = memoryview(ctypes.string_at(array.buffers[1], (offset + length + 1) * width)).cast(
        "i" if width == 4 else "q"
    )
    data = ctypes.string_at(array.buffers[2], offsets[-1]) if array.buffers[2] else b""
    valid = None
    if array.null_count and array.buffers[0]:
        valid = ctypes.string_at(array.buffers[0], (offset + length + 7) // 8)
    values = []
    for index in range(offset, offset + length):
        if valid is not None and not (valid[index >> 3] >> (index & 7)) & 1:
            values.append(None)
        else:
            values.append(data[offsets[index] : offsets[index + 1]].decode())
    return values


# --- the phases (each runs in a child process) ------------------------------------------------


def phase_setup() -> dict:
    """A fresh, migrated CRM with the salespeople of the fixtures and an administrator."""
    import io

    from benchdb import recreate_database
    from django.core.management import call_command
    from django.db import connections

    from accounts.models import Role, User

    connections.close_all()
    recreate_database(ARGS.pg, ARGS.database)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("load_users", str(FIXTURES / "salespeople.json"), stdout=io.StringIO())
    User.objects.create_user("bench_admin", role=Role.ADMIN, is_staff=True)
    return {"seconds": time.perf_counter() - started}


def phase_read_and_copy(path: Path) -> dict:
    """a: read every cell as text, then COPY all rows into a normal (logged) table."""
    from django.db import connection, transaction

    started = time.perf_counter()
    header, rows = read_rows(ARGS.reader, path)
    read_seconds = time.perf_counter() - started
    columns = ", ".join(f"col_{index + 1:02d} text" for index in range(len(header)))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {SCRATCH_TABLE} ({columns})")  # logged, like contacts
    copy_started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(f"COPY {SCRATCH_TABLE} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finished = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {SCRATCH_TABLE}")
        copied = cursor.fetchone()[0]
    assert copied == len(rows), (copied, len(rows))
    return {
        "seconds": finished - started,
        "rows": len(rows),
        "columns": len(header),
        "read_seconds": read_seconds,
        "copy_seconds": finished - copy_started,
    }


def contact_resource():
    """The plain resource an admin would write: model fields, the default key. It only notes
    the time every BLOCK rows (for the figures), which costs nothing measurable."""
    from import_export import resources

    from contacts.models import Contact

    class ContactResource(resources.ModelResource):
        class Meta:
            model = Contact
            # The default import_id_fields (["id"]): every row is a new contact, looked up by
            # nothing. Keyed by "email" instead, each row ran a sequential scan (the unique index
            # is on lower(email)) and the import grew quadratically: not django-import-export's
            # speed, and not its default. (Changed by the lead engineer.) "id" must be one of
            # the fields (else every row fails with KeyError 'id'); the dataset has no id column.
            fields = ("id", *PLAIN_FIELDS, *TRUNCATED_FIELDS)

        def before_import(self, dataset, **kwargs):
            self.marks = [time.perf_counter()]

        def after_import_row(self, row, row_result, **kwargs):
            if kwargs["row_number"] % BLOCK == 0:
                self.marks.append(time.perf_counter())

        def block_seconds(self):
            return [later - earlier for earlier, later in pairwise(self.marks)]

    return ContactResource()


def contact_dataset(header: list[str], rows: list[tuple]):
    """The rows under model field names: the template's Chinese column names are renamed."""
    import tablib

    from contacts.models import Contact
    from contacts.normalizers import COLUMN_NAMES

    positions = {name: index for index, name in enumerate(header)}
    picks = []
    for field in PLAIN_FIELDS + TRUNCATED_FIELDS:
        cut = Contact._meta.get_field(field).max_length if field in TRUNCATED_FIELDS else None
        picks.append((positions[COLUMN_NAMES[field][0]], cut))
    dataset = tablib.Dataset(headers=list(PLAIN_FIELDS + TRUNCATED_FIELDS))
    email_at = list(PLAIN_FIELDS + TRUNCATED_FIELDS).index("email")
    seen = set()
    for row in rows:
        # An empty cell is "": the resource would give the model's NOT NULL text fields None.
        values = [(row[index] or "")[:cut] for index, cut in picks]
        # A second row with an address already given would hit the unique index and roll the
        # whole import back; our import rejects those rows too, so (b) leaves them out.
        key = values[email_at].strip().lower()
        if key in seen:
            continue
        seen.add(key)
        dataset.append(values)
    return dataset


def phase_import_export(path: Path) -> dict:
    """b: the admin flow of django-import-export: dry run, then the import, into an empty CRM."""
    from collections import Counter

    from contacts.models import Contact

    started = time.perf_counter()
    header, rows = read_rows(ARGS.reader, path)
    rows = rows[: ARGS.b_rows]
    dataset = contact_dataset(header, rows)
    read_seconds = time.perf_counter() - started
    resource = contact_resource()
    dry_started, dry_cpu = time.perf_counter(), time.process_time()
    dry = resource.import_data(dataset, dry_run=True)
    dry_seconds = time.perf_counter() - dry_started
    dry_cpu = time.process_time() - dry_cpu
    dry_blocks = resource.block_seconds()
    rss_after_dry = peak_rss_mb()
    del dry  # the admin keeps the dry run's result only to render the preview page
    resource = contact_resource()
    real_started, real_cpu = time.perf_counter(), time.process_time()
    result = resource.import_data(dataset, dry_run=False)
    finished = time.perf_counter()
    real_cpu = time.process_time() - real_cpu
    contacts = Contact.objects.count()
    errors = Counter(
        f"{error.error.__class__.__name__}: {str(error.error).splitlines()[0]}"
        for row in result.error_rows
        for error in row.errors
    )
    return {
        "seconds": finished - started,
        "rows": len(rows),
        "read_seconds": read_seconds,
        "dry_run_seconds": dry_seconds,
        "dry_run_cpu_seconds": dry_cpu,
        "dry_run_blocks": dry_blocks,
        "import_seconds": finished - real_started,
        "import_cpu_seconds": real_cpu,
        "import_blocks": resource.block_seconds(),
        "peak_rss_after_dry_run_mb": rss_after_dry,
        "totals": dict(result.totals),
        "has_errors": result.has_errors(),
        "invalid_rows": len(result.invalid_rows),
        "contacts": contacts,
        "errors": errors.most_common(3),
    }


def phase_preview(path: Path) -> dict:
    """c, the web server's part: the upload and its preview (a dry run)."""
    from django.core.files.uploadedfile import UploadedFile

    from accounts.models import User
    from contacts.importing import jobs
    from contacts.models import Contact

    admin = User.objects.get(username="bench_admin")
    before = Contact.objects.count()
    started = time.perf_counter()
    # The browser's upload of an 8 MB file is a file on disk (TemporaryUploadedFile).
    with open(path, "rb") as handle:
        uploaded = UploadedFile(handle, name=path.name, size=path.stat().st_size)
        job = jobs.preview_upload(uploaded=uploaded, default_owner=None, actor=admin)
    return {
        "job": job.pk,
        "preview_seconds": time.perf_counter() - started,
        "contacts_before": before,
    }


def phase_confirm(path: Path) -> dict:
    """c, the worker's part: confirm the previewed job and run it in this process."""
    from unittest import mock

    from contacts.importing import jobs
    from contacts.models import Contact, ImportJob, ImportStatus
    from contacts.tasks import run_import

    job = ImportJob.objects.defer("report").get(pk=ARGS.job)
    started = time.perf_counter()
    # queue_import hands the job to Celery after the commit; here the worker's body runs now.
    with mock.patch.object(run_import, "delay") as delay:
        jobs.queue_import(job)
    delay.assert_called_once_with(job.pk)
    status = jobs.run_import_job(job.pk)
    finished = time.perf_counter()
    # Only the totals: loading the whole report (megabytes for 49,000 matched rows) would count
    # in this process's peak memory, and the worker never loads it.
    job = ImportJob.objects.only("status", "error").get(pk=job.pk)
    assert status == ImportStatus.DONE, (status, job.error)
    totals = ImportJob.objects.values_list("report__totals", flat=True).get(pk=job.pk)
    return {
        "rows": totals["data_rows"],
        "confirm_seconds": finished - started,
        "totals": totals,
        "contacts": Contact.objects.count(),
    }


def our_import(database: str) -> dict:
    """c: the preview in one child (the web server), the confirm in another (the worker)."""
    preview = child("c-preview", database)
    confirm = child("c-confirm", database, job=preview["job"])
    return {
        **confirm,
        "preview_seconds": preview["preview_seconds"],
        "seconds": preview["preview_seconds"] + confirm["confirm_seconds"],
        "contacts_before": preview["contacts_before"],
        "preview_peak_rss_mb": preview["peak_rss_mb"],
        "confirm_peak_rss_mb": confirm["peak_rss_mb"],
        "peak_rss_mb": max(preview["peak_rss_mb"], confirm["peak_rss_mb"]),
        "baseline_rss_mb": preview["baseline_rss_mb"],
        "preview": preview,
        "confirm": confirm,
    }


PHASES = {
    "a": phase_read_and_copy,
    "b": phase_import_export,
    "c-preview": phase_preview,
    "c-confirm": phase_confirm,
}


def run_phase() -> None:
    """Child process: set up Django on the phase's database, run the phase, write its figures."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DJANGO_DEBUG": "False",  # production-like: no query log kept
            "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
            "DATABASE_URL": f"{ARGS.pg}/{ARGS.database}",
            "REDIS_URL": ARGS.redis,
            "IMPORT_UPLOAD_DIR": str(BASE_DIR / "var" / "bench" / "uploads"),
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(BASE_DIR))
    sys.path.insert(0, str(BASE_DIR / "bench"))
    import django

    django.setup()
    baseline = rss_mb()
    figures = phase_setup() if ARGS.phase == "setup" else measured_phase()
    figures.update(baseline_rss_mb=baseline, peak_rss_mb=peak_rss_mb())
    Path(ARGS.result).write_text(json.dumps(figures))


def measured_phase() -> dict:
    """Run the phase; its figures with its CPU seconds: the process, its children and the
    database backend together (a phase's own connection only; PostgreSQL's parallel workers
    and autovacuum are not counted). Django set-up is not counted."""
    backend = backend_pid()
    python_before, backend_before = python_cpu_seconds(), backend_cpu_seconds(backend)
    if ARGS.profile:
        import cProfile

        with cProfile.Profile() as profile:
            figures = PHASES[ARGS.phase](Path(ARGS.file))
        profile.dump_stats(Path(ARGS.profile) / f"{ARGS.phase}.prof")
    else:
        figures = PHASES[ARGS.phase](Path(ARGS.file))
    backend_after = backend_cpu_seconds(backend)
    figures["python_cpu_seconds"] = python_cpu_seconds() - python_before
    figures["backend_cpu_seconds"] = (
        None
        if backend_before is None or backend_after is None or backend_pid() != backend
        else backend_after - backend_before
    )
    return figures


# --- the parent: orchestrates the children and prints the figures -----------------------------


def child(phase: str, database: str, reader: str | None = None, job: int | None = None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        command = [sys.executable, __file__, "--phase", phase, "--database", database]
        command += ["--result", result.name, "--file", ARGS.file, "--b-rows", str(ARGS.b_rows)]
        command += ["--pg", ARGS.pg, "--redis", ARGS.redis]
        if ARGS.profile:
            command += ["--profile", ARGS.profile]
        if reader:
            command += ["--reader", reader]
        if job:
            command += ["--job", str(job)]
        subprocess.run(command, check=True, cwd=BASE_DIR)
        return json.loads(Path(result.name).read_text())


def fresh_database(suffix: str) -> str:
    name = f"{ARGS.database_prefix}_{suffix}"
    child("setup", name)
    return name


def settle(seconds: float = 120) -> None:
    """Before a timed phase: wait for PostgreSQL's autovacuum to finish with what the previous
    phase wrote (it would share the two CPUs with the phase), then CHECKPOINT, so no phase
    pays for another's WAL."""
    import psycopg

    with psycopg.connect(f"{ARGS.pg}/postgres", autocommit=True) as connection:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            busy = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()[0]
            if not busy:
                break
            time.sleep(1)
        connection.execute("CHECKPOINT")


def ensure_workbook(path: Path) -> None:
    if path.exists():
        say(f"file: {path} ({path.stat().st_size:,} bytes, already there)")
        return
    sys.path.insert(0, str(BASE_DIR / "bench"))
    from make_legacy_workbook import write_workbook

    started = time.perf_counter()
    write_workbook(path, ROWS)
    seconds = time.perf_counter() - started
    say(f"file: {path} written in {seconds:.1f} s ({path.stat().st_size:,} bytes)")


def server_facts() -> str:
    import psycopg

    url = f"{ARGS.pg.replace('postgres://', 'postgresql://', 1)}/postgres"
    with psycopg.connect(url) as conn:
        facts = [
            conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
        ]
    return "PostgreSQL {} (fsync {}, synchronous_commit {}, shared_buffers {})".format(*facts)


def per_second(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}"


def line(label: str, figures: dict, seconds: float | None = None) -> str:
    seconds = figures["seconds"] if seconds is None else seconds
    rate = f"{ROWS / seconds:>9,.0f}"
    return (
        f"  {label:<44} {seconds:>8.2f} s {rate} rows/s  peak RSS {figures['peak_rss_mb']:>5.0f} MB"
    )


def cpu_seconds(*phases: dict) -> float | None:
    """Python and PostgreSQL CPU seconds of these phases; None if a backend's were unreadable."""
    if any(figures["backend_cpu_seconds"] is None for figures in phases):
        return None
    return sum(figures["python_cpu_seconds"] + figures["backend_cpu_seconds"] for figures in phases)


def cpu_text(figures: dict) -> str:
    text = f"CPU: Python {figures['python_cpu_seconds']:.2f} s"
    if figures["backend_cpu_seconds"] is not None:
        text += f" + PostgreSQL backend {figures['backend_cpu_seconds']:.2f} s"
    return text


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def orchestrate() -> None:
    path = Path(ARGS.file)
    say(f"machine: {os.cpu_count()} CPUs, load average {load_average()} at the start")
    say(server_facts())
    ensure_workbook(path)
    a = measure_floor() if "a" in ARGS.only else None
    b = measure_import_export(a["reader"] if a else "calamine") if "b" in ARGS.only else None
    ours = measure_ours() if "c" in ARGS.only else None
    summary(a, b, ours)
    say(f"\nload average {load_average()} at the end")


def measure_floor() -> dict:
    say("\n[a] read every cell as text, then COPY into a normal (logged) table of text columns")
    floor = {}
    for reader in READERS:
        database = fresh_database("a")
        settle()
        figures = floor[reader] = child("a", database, reader)
        say(
            f"  {reader}: read {figures['read_seconds']:.2f} s + COPY "
            f"{figures['copy_seconds']:.2f} s = {figures['seconds']:.2f} s for "
            f"{figures['rows']:,} rows x {figures['columns']} columns; peak RSS "
            f"{figures['peak_rss_mb']:.0f} MB (after Django set-up "
            f"{figures['baseline_rss_mb']:.0f}); {cpu_text(figures)}"
        )
    fastest = min(READERS, key=lambda reader: floor[reader]["seconds"])
    a = {**floor[fastest], "reader": fastest}
    say(f"  a = {fastest} ({a['seconds']:.2f} s); (b) reads the file with it too")
    return a


def measure_import_export(reader: str) -> dict:
    say(f"\n[b] django-import-export 4.4.3: dry run + import of {ARGS.b_rows:,} rows, empty CRM")
    database = fresh_database("b")
    settle()
    b = child("b", database, reader)
    # The whole file is read whatever --b-rows says: only the import's share is scaled.
    scale = ROWS / b["rows"]
    b["scaled_seconds"] = b["read_seconds"] + (b["dry_run_seconds"] + b["import_seconds"]) * scale
    say(
        f"  read + Dataset {b['read_seconds']:.2f} s, dry run {b['dry_run_seconds']:.2f} s, "
        f"import {b['import_seconds']:.2f} s = {b['seconds']:.2f} s for {b['rows']:,} rows "
        f"({per_second(b['rows'], b['seconds'])} rows/s)"
    )
    for step in ("dry_run", "import"):
        blocks = " ".join(f"{seconds:.1f}" for seconds in b[f"{step}_blocks"])
        say(
            f"  {step.replace('_', ' ')}: {b[f'{step}_cpu_seconds']:.1f} s CPU in this process "
            f"of {b[f'{step}_seconds']:.1f} s wall; seconds per {BLOCK:,} rows: {blocks}"
        )
    say(
        f"  rows: {b['totals']}, errors {b['has_errors']}, invalid {b['invalid_rows']}; "
        f"contacts in the CRM after: {b['contacts']:,}"
    )
    for message, count in b["errors"]:
        say(f"  {count:,} rows failed with {message[:120]}")
    if b["has_errors"]:
        say(
            "  with errors django-import-export rolls the whole import back, and its admin "
            "shows the errors instead of a confirm button; the time is that of the work done"
        )
    say(
        f"  peak RSS {b['peak_rss_mb']:.0f} MB (after the dry run "
        f"{b['peak_rss_after_dry_run_mb']:.0f}, after Django set-up {b['baseline_rss_mb']:.0f})"
    )
    if b["rows"] < ROWS:
        say(
            f"  EXTRAPOLATED: measured {b['rows']:,} rows; dry run + import scaled linearly "
            f"x{scale:.2f}, plus the read: {b['scaled_seconds']:.1f} s for {ROWS:,} rows "
            f"(peak RSS not scaled; the seconds per {BLOCK:,} rows above show whether the "
            f"cost per row stays flat)"
        )
    if not b["has_errors"]:
        assert b["contacts"] == b["totals"]["new"], "import-export: contacts != new rows"
    return b


def measure_ours() -> dict:
    say("\n[c] our import, browser flow: preview_upload (web) + run_import_job (worker)")
    database = fresh_database("c")
    ours = {}
    for label, what in (("c1", "into an empty CRM"), ("c2", "again, into c1's CRM")):
        settle()
        figures = ours[label] = our_import(database)
        totals = figures["totals"]
        say(
            f"  {label} {what}: preview {figures['preview_seconds']:.2f} s + confirm "
            f"{figures['confirm_seconds']:.2f} s = {figures['seconds']:.2f} s "
            f"({per_second(figures['rows'], figures['seconds'])} rows/s)"
        )
        say(
            f"     {totals['data_rows']:,} rows: created {totals['created']:,}, matched existing "
            f"{totals['matched_existing']:,}, rejected {totals['rejected']:,}, warnings "
            f"{totals['warnings']:,}; contacts {figures['contacts_before']:,} -> "
            f"{figures['contacts']:,}"
        )
        say(
            f"     peak RSS {figures['peak_rss_mb']:.0f} MB (preview process "
            f"{figures['preview_peak_rss_mb']:.0f}, worker process "
            f"{figures['confirm_peak_rss_mb']:.0f}, after Django set-up "
            f"{figures['baseline_rss_mb']:.0f})"
        )
        say(f"     preview {cpu_text(figures['preview'])}; confirm {cpu_text(figures['confirm'])}")
    c1, c2 = ours["c1"], ours["c2"]
    assert c1["contacts"] == c1["totals"]["created"], "c1: contacts != created"
    assert c2["totals"]["created"] == 0 and c2["contacts"] == c1["contacts"], "c2 created some"
    say("  checks: after c1 contacts == created; c2 created 0 and left the count as it was: OK")
    return ours


def summary(a: dict | None, b: dict | None, ours: dict | None) -> None:
    say(f"\nSummary ({ROWS:,} rows, wall seconds; rows/s over {ROWS:,} rows)")
    if a:
        say(line(f"a   {a['reader']} read + COPY", a))
    if b:
        b_label = "b   django-import-export" + (" (extrapolated)" if b["rows"] < ROWS else "")
        say(line(b_label, b, b["scaled_seconds"]))
    if not ours:
        return
    say(line("c1  our import, empty CRM", ours["c1"]))
    say(line("c2  our import, same contacts again", ours["c2"]))
    for label, figures in ours.items():
        if a:
            ratio = figures["seconds"] / a["seconds"]
            ok = verdict(ratio <= MAX_C_OVER_A)
            say(f"  {label}/a = {ratio:.2f} (target <= {MAX_C_OVER_A}): {ok}")
    a_work = cpu_seconds(a) if a else None
    for label, figures in ours.items():
        work = cpu_seconds(figures["preview"], figures["confirm"])
        if a_work and work:
            floor = work / os.cpu_count() / a["seconds"]  # every CPU busy from start to end
            say(
                f"  {label} is {work:.1f} CPU seconds of work, a {a_work:.1f}: "
                f"{work / a_work:.1f} x a's; on {os.cpu_count()} CPUs, kept all busy, c/a could "
                f"not go below {floor:.2f}"
            )
    if b:
        ratio = b["scaled_seconds"] / ours["c1"]["seconds"]
        say(f"  b/c1 = {ratio:.1f} (target >= {MIN_B_OVER_C}): {verdict(ratio >= MIN_B_OVER_C)}")
    for label, figures in ours.items():
        peak = figures["peak_rss_mb"]
        say(
            f"  {label} peak RSS {peak:.0f} MB (target <= {MAX_PEAK_RSS_MB} MB): "
            f"{verdict(peak <= MAX_PEAK_RSS_MB)}"
        )


if __name__ == "__main__":
    if ARGS.phase:
        run_phase()
    else:
        orchestrate()
