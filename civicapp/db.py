"""Small database helpers the domain layer uses; no domain rules here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

# Sent in the same query string as the statement: PostgreSQL runs a string of several
# statements as one implicit transaction, so the setting lasts for that statement alone. This
# needs psycopg2 (the project's driver), which sends the string whole and returns the last
# statement's rows; psycopg 3 with server-side binding would refuse two statements in one
# (`test_fast_list_reads_its_ids_then_its_rows_as_written` runs it outside a transaction).
AS_WRITTEN = "SET LOCAL join_collapse_limit = 1; "


def _planned_as_written(execute, sql: str, params: Any, many: bool, context: dict) -> Any:
    # A server-side cursor's statement becomes the body of a DECLARE: left alone.
    if not many and getattr(context["cursor"].cursor, "name", None) is None:
        sql = AS_WRITTEN + sql
    return execute(sql, params, many, context)


@contextmanager
def joins_as_written() -> Iterator[None]:
    """Let PostgreSQL join the tables of the statements inside in the order they are written.

    For rows read by their primary keys with their many-to-one tables joined by theirs (the
    case page: the case with its places, category, organisation and people; a list page's rows
    once their ids are known), the written order is the only sensible plan, yet with the
    issue table's many indexes searching the others took PostgreSQL 4-8 ms of planning for a
    query that runs in under one; `join_collapse_limit = 1` takes the plan as written (1-2 ms).

    Each statement carries the setting in its own query string, so it costs no round trip and
    nothing else is planned with it. Inside a caller's transaction, where the setting would
    outlast the statement, the statements are planned as usual.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.execute_wrapper(_planned_as_written):
        yield


def first_rows(ordered: QuerySet[M], limit: int, rows: QuerySet[M]) -> list[M]:
    """The first `limit` rows of `ordered`, in its order, read as `rows` reads them (with its
    related and prefetched rows).

    Two statements: the ids alone, from the queryset's own table (where the planner's choice
    of index is what matters, and is quick to make), then those rows by id with their
    many-to-one tables joined as written (`joins_as_written`). As one statement PostgreSQL
    planned the join of every table around the limit, weighing the issue table's indexes for
    each join order, in several times the time it took to run; with the list's conditions
    repeated it also read the rows by those conditions' indexes instead of by id.
    """
    ids = list(ordered.values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    with joins_as_written():
        found = {row.pk: row for row in rows.filter(pk__in=ids)}
    return [found[pk] for pk in ids if pk in found]
