"""Set-based statements the reminder job and its sender run on plain rows, not model instances.

At the sizes a run meets (tens of thousands of rows) building a model instance per row, or
Django's `bulk_update` with a CASE WHEN per row and column, cost more than the database's own
work. Both PostgreSQL and SQLite (3.33 or later, else `bulk_update`) run these statements.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, models
from django.db.models import Q
from django.db.models.expressions import RawSQL

# Both PostgreSQL (65,535) and SQLite (32,766) cap the parameters of one statement.
MAX_PARAMETERS = 30_000


def adapter(field: models.Field) -> Callable[[Any], Any]:
    """How a value of this field goes into a statement: as it is, where the driver takes it."""
    if isinstance(field, models.DateTimeField):
        if connection.vendor == "postgresql":
            return lambda value: value  # psycopg adapts aware datetimes itself
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, models.DateField | models.UUIDField | models.JSONField):
        return lambda value: field.get_db_prep_value(value, connection)
    return lambda value: value


def adapt_datetime(value: datetime.datetime | None) -> Any:
    """A datetime as the statements here pass it to the database."""
    if connection.vendor == "postgresql":
        return value
    return connection.ops.adapt_datetimefield_value(value)


def insert_ignoring_conflicts(model, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """INSERT … ON CONFLICT DO NOTHING of plain tuples of database-ready values, in chunks."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    chunk = max(1, MAX_PARAMETERS // len(columns))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([placeholders] * len(part))} "  # noqa: S608
                "ON CONFLICT DO NOTHING",
                [value for row in part for value in row],
            )


def update_from_values(model, columns: Sequence[str], rows: Sequence[tuple]) -> int:
    """Set `columns` of many rows, each to its own values, in one statement per chunk.

    `rows` are (pk, value, value, …) in the order of `columns`, as Python values. One
    `WITH v AS (VALUES …) UPDATE … FROM v WHERE id = v.pk` per chunk.
    """
    if not rows:
        return 0
    meta = model._meta
    fields = [meta.get_field(column) for column in columns]
    if connection.vendor == "sqlite" and connection.Database.sqlite_version_info < (3, 33):
        objects = []
        for pk, *values in rows:
            instance = model(pk=pk)
            for model_field, value in zip(fields, values, strict=True):
                setattr(instance, model_field.attname, value)
            objects.append(instance)
        return model.objects.bulk_update(objects, [f.name for f in fields], batch_size=500)
    quote = connection.ops.quote_name
    names = ", ".join(quote(name) for name in ["pk", *(f.column for f in fields)])
    if connection.vendor == "postgresql":
        # A VALUES column of NULLs only is text: cast each back to the column's own type.
        assignments = ", ".join(
            f"{quote(f.column)} = v.{quote(f.column)}::{f.db_type(connection)}" for f in fields
        )
        pk_cast = f"::{meta.pk.db_type(connection)}"
    else:
        assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
        pk_cast = ""
    table = quote(meta.db_table)
    adapters = [adapter(f) for f in fields]
    placeholders = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    chunk = max(1, MAX_PARAMETERS // (len(fields) + 1))
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            params: list[Any] = []
            for pk, *values in part:
                params.append(pk)
                params.extend(adapt(value) for adapt, value in zip(adapters, values, strict=True))
            cursor.execute(
                f"WITH v ({names}) AS (VALUES {', '.join([placeholders] * len(part))}) "  # noqa: S608
                f"UPDATE {table} SET {assignments} FROM v "
                f"WHERE {table}.{quote(meta.pk.column)} = v.{quote('pk')}{pk_cast}",
                params,
            )
            updated += cursor.rowcount
    return updated


def one_of(model, field_name: str, values: Iterable[Any]) -> Q | RawSQL:
    """A filter `field IN values` that passes a long list as one array on PostgreSQL.

    Django prepares each element of an `__in` list on its own; at thousands of ids per
    statement that cost more than the query. `= ANY(%s)` hands psycopg one list instead.
    """
    values = list(values)
    if connection.vendor != "postgresql":
        return Q(**{f"{field_name}__in": values})
    field = model._meta.get_field(field_name)
    quote = connection.ops.quote_name
    column = f"{quote(model._meta.db_table)}.{quote(field.column)}"
    # The column comes from the model, the values go as a parameter.
    return RawSQL(f"{column} = ANY(%s)", [values], output_field=models.BooleanField())  # noqa: S611
