"""Bulk writes for the large batches (imports, their audit trail): COPY on PostgreSQL.

Django's psycopg backend binds parameters on the client, quoting every value in Python; for
tens of thousands of rows that quoting costs more than the database's own work. COPY sends the
rows as one stream, and a JSON document as one server-side parameter.
"""

from __future__ import annotations

import itertools
import json
from contextlib import contextmanager

import orjson
from django.conf import settings
from django.db import IntegrityError, connection
from django.db.models import JSONField
from django.utils import timezone

BATCH_SIZE = 1000  # rows per INSERT on databases other than PostgreSQL

# Arrays of tens of thousands of values are sent as one text that PostgreSQL splits: psycopg
# adapts a Python list element by element in Python (about 0.4 s for 50,000 addresses).
ID_ARRAY = "string_to_array(%s, ',')::bigint[]"
LINE_ARRAY = "string_to_array(%s, E'\\n')"


def postgres_sql() -> bool:
    """COPY, arrays and server-side parameters are PostgreSQL's; the embedded SQLite default
    takes the portable (slower) ORM path."""
    return connection.vendor == "postgresql"


def insert_rows(
    model,
    columns: dict,
    *,
    returning_ids=False,
    on_conflict_do_nothing=False,
    held_references=(),
):
    """Insert rows given as one list per column; return their ids (in order) if asked.

    PostgreSQL gets COPY, its fastest way in: about ten times faster than an INSERT whose
    parameters Django's client-side binding has to quote in Python. Ids are taken from the
    table's sequence first, so they come back in the rows' order. With on_conflict_do_nothing
    the rows are copied into a temporary table and inserted from there, skipping conflicts.
    Columns not given get the model's defaults (auto_now fields the time now), so a field added
    to the model later is still filled.

    Inside a transaction, foreign keys are checked once per column (see checked_references);
    held_references names the foreign keys whose rows this transaction created or already holds
    locked (they are only looked up, not locked again).
    """
    count = len(next(iter(columns.values()))) if columns else 0
    if count == 0:
        return []
    if not postgres_sql():
        return _bulk_create(model, columns, returning_ids, on_conflict_do_nothing)
    fields, arrays = _full_columns(model, columns, count)
    ids = []
    if returning_ids:
        ids = _next_ids(model, count)
        fields, arrays = [model._meta.pk, *fields], [ids, *arrays]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        if not on_conflict_do_nothing:
            with checked_references(cursor, fields, arrays, held_references):
                _copy(cursor, f"COPY {table} ({names}) FROM STDIN", arrays)
            return ids
        scratch = quote(f"import_rows_{model._meta.db_table}")
        cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
        cursor.execute(f"CREATE TEMPORARY TABLE {scratch} AS SELECT {names} FROM {table} LIMIT 0")
        try:
            _copy(cursor, f"COPY {scratch} ({names}) FROM STDIN", arrays)
            with checked_references(cursor, fields, arrays, held_references):
                cursor.execute(
                    f"INSERT INTO {table} ({names}) SELECT {names} FROM {scratch} "  # noqa: S608
                    "ON CONFLICT DO NOTHING"
                )
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
    return ids


@contextmanager
def checked_references(cursor, fields, arrays, held=()):
    """Check the rows' foreign keys per column instead of per row, when the database allows.

    PostgreSQL checks a foreign key with one query per inserted row, at commit (Django's
    constraints are deferred): for an import of 50,000 contacts with their tags, provenance
    and audit rows, some 550,000 lookups and over four seconds. Here each referenced table is
    asked once, for the distinct values of the column: every one must exist, and is locked
    FOR KEY SHARE, as PostgreSQL's own check would lock it, so it cannot be deleted before
    this transaction ends (rows named in `held` were created by this transaction or are locked
    by it already: they are only looked up). A missing one raises IntegrityError before
    anything is written. Then the insert runs with session_replication_role = replica, which
    leaves out the row triggers; no triggers but the foreign keys' are on these tables.

    Only inside a transaction (the locks must last until it ends), only if the database role
    may set that parameter (a superuser, or on PostgreSQL 15+ one granted SET on it), and only
    with settings.BULK_SET_BASED_KEY_CHECKS; otherwise PostgreSQL checks row by row as usual.
    """
    if not _may_skip_row_triggers(cursor):
        yield
        return
    for field, values in zip(fields, arrays, strict=True):
        if field.remote_field is not None and field.concrete:
            _check_reference(field, values, lock=field.name not in held)
    cursor.execute("SET LOCAL session_replication_role = replica")
    yield
    # Only after a success: a failed insert aborts the transaction (or savepoint), and rolling
    # it back undoes the SET LOCAL as well.
    cursor.execute("SET LOCAL session_replication_role = origin")


def _may_skip_row_triggers(cursor) -> bool:
    if not (settings.BULK_SET_BASED_KEY_CHECKS and connection.in_atomic_block):
        return False
    allowed = "current_setting('is_superuser') = 'on'"
    if connection.pg_version >= 150000:
        allowed += " OR has_parameter_privilege('session_replication_role', 'SET')"
    cursor.execute(f"SELECT {allowed}")  # noqa: S608 - no user input
    return cursor.fetchone()[0]


def _check_reference(field, values, *, lock: bool) -> None:
    wanted = {value for value in values if value is not None}
    if not wanted:
        return
    quote = connection.ops.quote_name
    target = field.target_field
    integers = all(type(value) is int for value in wanted)
    sql = (
        f"SELECT count(*) FROM (SELECT 1 FROM {quote(target.model._meta.db_table)} "  # noqa: S608
        f"WHERE {quote(target.column)} = ANY({ID_ARRAY if integers else '%s'})"
        + (" FOR KEY SHARE" if lock else "")
        + ") found"
    )
    with server_bound_cursor() as bound:
        bound.execute(sql, [id_array(wanted) if integers else list(wanted)])
        found = bound.fetchone()[0]
    if found != len(wanted):
        raise IntegrityError(
            f"{field.model._meta.db_table}.{field.column}: {len(wanted) - found} of "
            f"{len(wanted)} referenced rows are missing from {target.model._meta.db_table}"
        )


def _full_columns(model, columns: dict, count: int):
    """Every concrete field but the key, with its values: the given ones, else defaults.
    Defaults and JSON text are produced as COPY takes the rows (iterators, not lists)."""
    now = timezone.now()
    fields, arrays = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.name in columns:
            values = columns[field.name]
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values = itertools.repeat(now, count)
        elif field.remote_field is not None:
            values = [field.get_default()] * count  # a list: checked_references reads it too
        else:
            values = itertools.repeat(field.get_default(), count)
        if isinstance(field, JSONField):
            # Text, converted as the rows are sent (COPY would write bytes as bytea).
            values = map(_json_text(field.encoder), values)
        fields.append(field)
        arrays.append(values)
    return fields, arrays


def _next_ids(model, count: int) -> list[int]:
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(nextval(pg_get_serial_sequence(%s, %s))) FROM generate_series(1, %s)",
            [table, column, count],
        )
        return cursor.fetchone()[0]  # one array, not a result row per id


def _copy(cursor, statement: str, arrays: list) -> None:
    # Django wraps execute()'s errors (IntegrityError ...), not copy()'s: do it here.
    with connection.wrap_database_errors, cursor.copy(statement) as copy:
        for row in zip(*arrays, strict=True):
            copy.write_row(row)


def _bulk_create(model, columns: dict, returning_ids: bool, ignore_conflicts: bool):
    """insert_rows through the ORM, for databases other than PostgreSQL."""
    count = len(next(iter(columns.values())))
    objects = [
        model(**{_attname(model, name): values[index] for name, values in columns.items()})
        for index in range(count)
    ]
    model._default_manager.bulk_create(
        objects, batch_size=BATCH_SIZE, ignore_conflicts=ignore_conflicts
    )
    return [obj.pk for obj in objects] if returning_ids else []


def _attname(model, name: str) -> str:
    return model._meta.get_field(name).attname  # "company" -> "company_id": ids, not objects


def id_array(ids) -> str:
    """The parameter for ID_ARRAY."""
    return ",".join(map(str, ids))


def line_array(texts) -> str:
    """The parameter for LINE_ARRAY: texts without line breaks (e-mail addresses)."""
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1:
        raise ValueError("line_array: a text holds a line break")
    return joined


@contextmanager
def server_bound_cursor():
    """A psycopg cursor on Django's connection whose parameters travel apart from the SQL.

    Django binds parameters on the client: an array of 50,000 ids or addresses becomes SQL
    text quoted value by value in Python (slow, and the whole statement held in memory twice).
    Here the driver sends it as one parameter. Errors are Django's, as with
    connection.cursor(); PostgreSQL only."""
    from psycopg import Cursor

    connection.ensure_connection()
    with connection.wrap_database_errors, Cursor(connection.connection) as cursor:
        yield cursor


def save_json(model, pk: int, field_name: str, document) -> None:
    """Write one JSON document into a row (a report of tens of thousands of rows): as a
    server-side parameter on PostgreSQL, through the ORM elsewhere."""
    if not postgres_sql():
        model._default_manager.filter(pk=pk).update(**{field_name: document})
        return
    from psycopg.types.json import Jsonb

    field = model._meta.get_field(field_name)
    quote = connection.ops.quote_name
    with server_bound_cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} SET {quote(field.column)} = %s "  # noqa: S608
            f"WHERE {quote(model._meta.pk.column)} = %s",
            [Jsonb(document, dumps=_json_dumps(field.encoder)), pk],
        )


def _json_text(encoder):
    dumps = _json_dumps(encoder)

    def text(value):
        if value is None:
            return None
        return "[]" if value == [] else dumps(value).decode()

    return text


def _json_dumps(encoder):
    """orjson (several times faster) unless the field has an encoder of its own. Bytes either
    way: COPY and the Jsonb wrapper take them as they are."""
    if encoder is None:
        return orjson.dumps
    return lambda value: json.dumps(value, cls=encoder).encode()
