"""Small database helpers the domain layer uses; no domain rules here."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError, connection, connections
from django.db.models import Model, QuerySet
from django.db.models.query import (
    ModelIterable,
    ValuesListIterable,
    get_related_populators,
    prefetch_related_objects,
)

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


def first_rows(ordered: QuerySet[M], limit: int, rows: Prepared[M]) -> list[M]:
    """The first `limit` rows of `ordered`, in its order, read by `rows` (`rows_by_id`).

    Two statements: the ids alone, from the queryset's own table (where the planner's choice
    of index is what matters, and is quick to make), then those rows by id with their
    many-to-one tables joined as written. As one statement PostgreSQL planned the join of
    every table around the limit, weighing the issue table's indexes for each join order, in
    several times the time it took to run; with the list's conditions repeated it also read
    the rows by those conditions' indexes instead of by id.
    """
    return rows_by_id(rows, list(ordered.values_list("pk", flat=True)[:limit]))


def rows_by_id(rows: Prepared[M], ids: list[int]) -> list[M]:
    """The rows of `ids`, in that order, read by the prepared statement `rows` (which takes a
    list of ids) with its tables joined as written (`joins_as_written`); an id whose row is
    gone is left out."""
    if not ids:
        return []
    with joins_as_written():
        found = {row.pk: row for row in rows(ids)}
    return [found[pk] for pk in ids if pk in found]


# Stand-ins for a prepared statement's ids while it compiles: negative, so no id a table hands
# out is one (a statement's own integer constants must not fall in this range either); inside
# a 32-bit column's range, where Django compiles a value beyond it to "no row"
# (EmptyResultSet) instead of a parameter. A column that refuses negative values (a positive
# integer field) cannot take a stand-in: compiling such a statement fails at once.
_MARKERS = itertools.count(-2_000_000_000)
_marker_lock = threading.Lock()


class _Statement:
    """One compiled shape of a `Prepared` statement: its SQL, its parameters with the places
    of the call's ids, and what builds the instances from its rows.

    It keeps no compiler nor connection: the rows' converters (SQLite's dates, decimals) are
    run with the connection of the thread that runs the statement."""

    def __init__(self, queryset: QuerySet, markers: dict[int, tuple[int, int | None]]) -> None:
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        if compiler.has_extra_select or queryset.query.distinct:
            # Django trims such rows of the columns it added; these are read whole.
            raise ValueError("a prepared statement reads no DISTINCT nor extra columns")
        self.sql = sql
        self.params = list(params)
        # Where each argument goes: parameter index → (argument, element of a list or None).
        self.slots = [
            (index, markers[value])
            for index, value in enumerate(params)
            if isinstance(value, int) and value in markers
        ]
        if {place for _index, place in self.slots} != set(markers.values()):
            raise ValueError("a prepared statement's ids must each be a parameter of its SQL")
        self.db = queryset.db
        prepare = getattr(settings, "DATABASE_SERVER_PREPARE", False)
        self.on_server = (
            _OnServer(sql, len(self.params), ids={index for index, _place in self.slots})
            if prepare and connections[self.db].vendor == "postgresql"
            else None
        )
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        self.converters = list(compiler.get_converters(columns).items())
        # A `values_list()` queryset gives its rows as tuples; any other, model instances.
        self.instances = queryset._iterable_class is ModelIterable
        if not self.instances and queryset._iterable_class is not ValuesListIterable:
            raise ValueError("a prepared statement reads instances or values_list() tuples")
        if not self.instances:
            return
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        self.model = klass_info["model"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [column[0].target.attname for column in select[self.start : self.end]]
        self.populators = get_related_populators(klass_info, select, queryset.db)
        self.annotations = dict(compiler.annotation_col_map or {})
        self.prefetch = queryset._prefetch_related_lookups

    def _rows(self, args: Sequence[int | Sequence[int]]) -> list[Any]:
        params = list(self.params)
        for index, (argument, element) in self.slots:
            value = args[argument]
            params[index] = value if element is None else value[element]  # type: ignore[index]
        connection = connections[self.db]
        with connection.cursor() as cursor:
            if self.on_server is None:
                cursor.execute(self.sql, params)
            else:
                self.on_server.execute(connection, cursor, params)
            rows = cursor.fetchall()
        if not self.converters:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for position, (functions, expression) in self.converters:
                value = values[position]
                for function in functions:
                    value = function(value, expression, connection)
                values[position] = value
            converted.append(values)
        return converted

    def run(self, args: Sequence[int | Sequence[int]]) -> list[Any]:
        rows = self._rows(args)
        if not self.instances:
            return [tuple(row) for row in rows]
        instances = []
        for row in rows:
            instance = self.model.from_db(self.db, self.init_list, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, instance)
            for name, position in self.annotations.items():
                setattr(instance, name, row[position])
            instances.append(instance)
        if self.prefetch:
            prefetch_related_objects(instances, *self.prefetch)
        return instances


# Names of the statements prepared on the server: unique to the process (a token drawn again
# in every forked worker, then a counter), so that no two processes, nor two statements of
# one, ever send the same name: behind a pooler that mixed connections, a name from another
# process fails ("does not exist") instead of running someone else's statement.
_PLACEHOLDER = re.compile("%[s%]")
# As `AS_WRITTEN`: for this statement alone, outside a transaction.
_GENERIC_PLAN = "SET LOCAL plan_cache_mode = force_generic_plan; "
# What the server answers when it lacks a statement it had (DISCARD ALL, a pooler), holds one
# of that name already, or cannot keep a plan after a migration changed a column's type.
_STALE_STATEMENT = frozenset({"26000", "42P05", "0A000"})


def _new_names() -> None:
    global _server_names, _server_token
    _server_token = secrets.token_hex(4)
    _server_names = itertools.count(1)


_server_token: str
_server_names: Iterator[int]
_new_names()
os.register_at_fork(after_in_child=_new_names)


class _OnServer:
    """A `_Statement` prepared on the PostgreSQL server, once per connection.

    The statements of `Prepared` read rows by their ids, whose plan does not depend on the ids;
    yet PostgreSQL planned each anew on every call, and for the case page's row (twelve tables)
    or a list's rows that took longer than running it. Prepared on the server (`PREPARE`), a
    statement is planned once per connection and each call sends `EXECUTE` with its
    parameters. Outside a transaction (the pages) its plan is the generic one from the first
    call (`plan_cache_mode`); inside one, PostgreSQL plans the first five calls on the
    connection for their values before it settles on one. The first call on a connection sends
    PREPARE and EXECUTE in one query string: no round trip more, ever.

    The ids are typed `bigint` in the statement (a 32-bit column compares with them as with a
    literal); the other parameters take the type of what they are compared with, so a
    prepared statement binds values only where a column says what they are (no `SELECT %s`,
    no `%s IS NULL`: `Prepared` builds lookups by ids and constants compared with columns).

    Which statements a connection holds is kept with the connection itself: a new connection
    (a reconnection, `CONN_MAX_AGE`) prepares them again. A transaction's rollback keeps them
    (`PREPARE` is not transactional). When the server has lost one all the same, the call
    prepares them afresh (outside a transaction it tries again at once; inside, the error
    ends the transaction as any other). A pooler that hands one server connection to several
    clients (PgBouncer in transaction mode) would lose them on every transaction: there,
    `DATABASE_SERVER_PREPARE=false` sends the SQL whole.
    """

    def __init__(self, sql: str, count: int, *, ids: set[int]) -> None:
        numbers = itertools.count(1)

        def placeholder(match: re.Match) -> str:
            # Django writes a parameter as %s and a literal percent sign as %%; psycopg2 reads
            # the whole string, so the %% stays for it to turn into one sign.
            if match.group() == "%%":
                return "%%"
            number = next(numbers)
            return f"${number}::bigint" if number - 1 in ids else f"${number}"

        self.body = _PLACEHOLDER.sub(placeholder, sql)
        if next(numbers) != count + 1:
            raise ValueError("a prepared statement's parameters must all be written %s")
        self.arguments = f" ({', '.join(['%s'] * count)})" if count else ""

    def execute(self, connection: Any, cursor: Any, params: list[Any]) -> None:
        try:
            self._execute(connection, cursor, params)
        except DatabaseError as error:
            if getattr(error.__cause__, "pgcode", None) not in _STALE_STATEMENT:
                raise
            _held_statements(connection).clear()
            if connection.in_atomic_block:
                raise
            self._execute(connection, cursor, params)

    def _execute(self, connection: Any, cursor: Any, params: list[Any]) -> None:
        held = _held_statements(connection)
        # By the statement's text: a statement compiled again (after a setting changed) is
        # the one the connection holds.
        name = held.get(self.body)
        if name is not None:
            sql = f"EXECUTE {name}{self.arguments}"
        else:
            name = f"civicapp_{_server_token}_{next(_server_names)}"
            sql = f"PREPARE {name} AS {self.body}; EXECUTE {name}{self.arguments}"
        if not connection.in_atomic_block:
            sql = _GENERIC_PLAN + sql
        cursor.execute(sql, params)
        # Only once it ran: after a failed PREPARE the next call prepares under a new name.
        held[self.body] = name


def _held_statements(connection: Any) -> dict[str, str]:
    """The statements prepared on this database connection (the driver's connection: Django
    opens a new one after closing it), by their text, and their names."""
    raw = connection.connection
    held = getattr(connection, "_civicapp_prepared", None)
    if held is None or held[0] is not raw:
        held = connection._civicapp_prepared = (raw, {})
    return held[1]


class Prepared(Generic[M]):
    """A queryset compiled to SQL once per process and shape, run with each call's ids.

    Django compiles a queryset anew on every evaluation: for the case page's row, joined to
    eleven tables, that cost more CPU than PostgreSQL took to plan and run it, and a list's
    rows by id cost as much again. `Prepared(build)` calls `build(*ids, **shape)` once per
    shape with stand-in ids, compiles it and remembers where each id stands among the
    parameters; a call with the same shape runs that SQL with its own ids. The instances are
    built as Django builds them (the same columns, `select_related` and prefetches included),
    or, for a `values_list()` queryset (not flat), the rows are tuples.

    Each positional argument is an id or a list of ids; a list's length (padded to a power of
    two) and the keyword arguments (hashable: an order, a flag) are the shape. The queryset
    `build` returns must depend on nothing else: not on the time (`timezone.now()`), the active
    time zone or language, nor a router's choice of database, all of which would be frozen
    into the SQL of the first call. It cannot be a `.none()`: build the empty case before
    calling.
    """

    def __init__(self, build: Callable[..., QuerySet[M]]) -> None:
        self.build = build
        self._statements: dict[Hashable, _Statement] = {}
        _prepared.append(self)

    def __call__(self, *args: int | Sequence[int], **shape: Hashable) -> list[M]:
        # A list is padded with its last id to a power of two: at most eight shapes for the
        # hundred lengths of a page (an id twice in `IN (…)` changes no result).
        args = tuple(arg if isinstance(arg, int) else _padded(arg) for arg in args)
        if not all(_storable(arg) for arg in args):
            # As Django's lookups: an id no 64-bit column can hold matches nothing (a URL's
            # id can be any number), where the database would refuse the statement.
            return []
        lengths = tuple(None if isinstance(arg, int) else len(arg) for arg in args)
        key = (lengths, tuple(sorted(shape.items())))
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = self._compile(lengths, shape)
        return statement.run(args)

    def _compile(self, lengths: tuple[int | None, ...], shape: dict[str, Hashable]) -> _Statement:
        markers: dict[int, tuple[int, int | None]] = {}
        stand_ins: list[int | list[int]] = []
        with _marker_lock:
            for argument, length in enumerate(lengths):
                if length is None:
                    marker = next(_MARKERS)
                    markers[marker] = (argument, None)
                    stand_ins.append(marker)
                else:
                    batch = [next(_MARKERS) for _ in range(length)]
                    markers.update(
                        {marker: (argument, element) for element, marker in enumerate(batch)}
                    )
                    stand_ins.append(batch)
        return _Statement(self.build(*stand_ins, **shape), markers)

    def forget(self) -> None:
        self._statements.clear()


_prepared: list[Prepared] = []


_BIGINT = range(-(2**63), 2**63)


def _storable(arg: int | Sequence[int]) -> bool:
    return arg in _BIGINT if isinstance(arg, int) else all(value in _BIGINT for value in arg)


def _padded(ids: Sequence[int]) -> Sequence[int]:
    if not ids:
        raise ValueError("a prepared statement needs at least one id in each list")
    size = 1 << (len(ids) - 1).bit_length()
    return ids if size == len(ids) else [*ids, *[ids[-1]] * (size - len(ids))]


def _forget_prepared(**_kwargs: object) -> None:
    for prepared in _prepared:
        prepared.forget()


setting_changed.connect(_forget_prepared)
