"""Bulk writes for the large batches (imports, their audit trail): COPY on PostgreSQL.

Django's psycopg backend binds parameters on the client, quoting every value in Python; for
tens of thousands of rows that quoting costs more than the database's own work. COPY sends the
rows as one stream, and a JSON document as one server-side parameter.
"""

from __future__ import annotations

import json

import orjson
from django.db import connection
from django.db.models import JSONField
from django.utils import timezone

BATCH_SIZE = 1000  # rows per INSERT on databases other than PostgreSQL


def postgres_sql() -> bool:
    """COPY, arrays and server-side parameters are PostgreSQL's; the embedded SQLite default
    takes the portable (slower) ORM path."""
    return connection.vendor == "postgresql"


def insert_rows(model, columns: dict, *, returning_ids=False, on_conflict_do_nothing=False):
    """Insert rows given as one list per column; return their ids (in order) if asked.

    PostgreSQL gets COPY, its fastest way in: about ten times faster than an INSERT whose
    parameters Django's client-side binding has to quote in Python. Ids are taken from the
    table's sequence first, so they come back in the rows' order. With on_conflict_do_nothing
    the rows are copied into a temporary table and inserted from there, skipping conflicts.
    Columns not given get the model's defaults (auto_now fields the time now), so a field added
    to the model later is still filled.
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
            _copy(cursor, f"COPY {table} ({names}) FROM STDIN", arrays)
            return ids
        scratch = quote(f"import_rows_{model._meta.db_table}")
        cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
        cursor.execute(f"CREATE TEMPORARY TABLE {scratch} AS SELECT {names} FROM {table} LIMIT 0")
        try:
            _copy(cursor, f"COPY {scratch} ({names}) FROM STDIN", arrays)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {scratch} "  # noqa: S608
                "ON CONFLICT DO NOTHING"
            )
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
    return ids


def _full_columns(model, columns: dict, count: int):
    """Every concrete field but the key, with its values: the given ones, else defaults."""
    now = timezone.now()
    fields, arrays = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.name in columns:
            values = columns[field.name]
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values = [now] * count
        else:
            values = [field.get_default()] * count
        if isinstance(field, JSONField):
            values = [None if v is None else json.dumps(v, cls=field.encoder) for v in values]
        fields.append(field)
        arrays.append(values)
    return fields, arrays


def _next_ids(model, count: int) -> list[int]:
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, column, count],
        )
        return [row[0] for row in cursor.fetchall()]


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


def save_json(model, pk: int, field_name: str, document) -> None:
    """Write one JSON document into a row (a report of tens of thousands of rows): as a
    server-side parameter on PostgreSQL, through the ORM elsewhere."""
    if not postgres_sql():
        model._default_manager.filter(pk=pk).update(**{field_name: document})
        return
    from psycopg import Cursor
    from psycopg.types.json import Jsonb

    field = model._meta.get_field(field_name)
    quote = connection.ops.quote_name
    connection.ensure_connection()
    with connection.wrap_database_errors, Cursor(connection.connection) as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} SET {quote(field.column)} = %s "  # noqa: S608
            f"WHERE {quote(model._meta.pk.column)} = %s",
            [Jsonb(document, dumps=_json_dumps(field.encoder)), pk],
        )


def _json_dumps(encoder):
    """orjson (several times faster) unless the field has an encoder of its own."""
    if encoder is None:
        return orjson.dumps
    return lambda value: json.dumps(value, cls=encoder)
