"""The page shell drawn once per key (`civicapp.frames`, `issues.templatetags.shell`) and
statements compiled once (`civicapp.db.Prepared`): fast, and still each user's own page.

`-k fast` runs these with the other speed tests.
"""

from __future__ import annotations

import re
from typing import Any
from unittest import mock

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from civicapp.db import Prepared, first_rows, rows_by_id
from issues.models import LIST_ROWS, Issue, Notification, Photo, Status
from issues.selectors import verify_queue
from issues.templatetags import shell
from tests.factories import issue_in


def _top(html: str) -> str:
    return html[html.index("<header") : html.index('<main id="main"')]


def test_fast_shell_of_two_users_of_one_role_differs_only_by_their_own_values(client, world):
    world.supervisor_binhe.first_name = '<script>alert("x")</script>'
    world.supervisor_binhe.save()
    Notification.objects.create(user=world.supervisor_binhe, kind="x", title="t")
    pages = []
    for user in (world.supervisor_xincheng, world.supervisor_binhe):
        client.force_login(user)
        pages.append(client.get(reverse("home")).content.decode())
    first, second = (_top(page) for page in pages)
    assert first != second
    # The second user's name, escaped, and her one unread notification; not the first's.
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in second
    assert "<script>alert" not in second
    assert world.supervisor_xincheng.get_username() in first
    assert world.supervisor_xincheng.get_username() not in second
    assert '<span class="bell-count" aria-hidden="true">1</span>' in second
    assert "bell-count" not in first
    assert 'aria-current="page"' in first  # home is the current menu entry
    assert f'<meta name="civic-user" content="{world.supervisor_binhe.pk}">' in pages[1]


def test_fast_shell_marks_the_current_section_and_follows_the_role(client, world):
    client.force_login(world.handler_xincheng)
    listed = _top(client.get(reverse("issues:issue_list")).content.decode())
    current = re.findall(r'<a (?:class="[^"]*" )?href="([^"]+)" aria-current="page"', listed)
    assert current == [reverse("issues:issue_list")]
    assert reverse("issues:issue_report") not in listed  # handlers do not report
    client.force_login(world.inspector_xincheng)
    reported = _top(client.get(reverse("issues:issue_report")).content.decode())
    assert f'href="{reverse("issues:issue_report")}" aria-current="page"' in reported


def test_fast_shell_tokens_post(client, world):
    """The logout and language forms carry the request's own CSRF token."""
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.leader_zone)
    html = strict.get(reverse("home")).content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', _top(html))
    assert len(tokens) == 2
    response = strict.post(
        reverse("set_language"), {"language": "en", "next": "/", "csrfmiddlewaretoken": tokens[0]}
    )
    assert response.status_code == 302
    assert '<input type="hidden" name="next" value="/">' in html


def test_fast_shell_is_drawn_again_in_each_language_and_after_a_setting_changes(client, world):
    client.force_login(world.leader_zone)
    chinese = _top(client.get(reverse("home")).content.decode())
    client.cookies["django_language"] = "en"
    english = _top(client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert "退出" in chinese or "登出" in chinese
    assert "Log out" in english
    assert shell.TOP._drawn
    with override_settings(LANGUAGE_COOKIE_NAME="other_language"):
        assert not shell.TOP._drawn


# ---------- statements compiled once ----------


def test_fast_prepared_rows_are_the_querysets_rows_compiled_once(world):
    cases = [issue_in(world, status=Status.ASSIGNED) for _ in range(3)]
    ids = [case.pk for case in reversed(cases)]
    expected = {row.pk: row for row in Issue.objects.with_list_related().filter(pk__in=ids)}
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compiled:
        rows = rows_by_id(LIST_ROWS, ids)
        again = rows_by_id(LIST_ROWS, ids[:1] + ids[1:])  # the same shape: no compiling
    assert [row.pk for row in rows] == ids
    assert [row.pk for row in again] == ids
    for row in rows:
        want = expected[row.pk]
        assert row.case_number == want.case_number
        assert row.reported_at == want.reported_at
        assert row.status == want.status
        # The related rows came with it, as select_related gives them.
        assert row._state.fields_cache["assigned_organisation"] == want.assigned_organisation
        assert row._state.fields_cache["community"].name == want.community.name
    assert compiled.call_count <= 1


def test_fast_prepared_lists_are_padded_to_a_few_shapes(world):
    cases = [issue_in(world) for _ in range(5)]
    prepared: Prepared[Issue] = Prepared(lambda ids: Issue.objects.filter(pk__in=ids))
    for count in range(1, 6):
        ids = [case.pk for case in cases[:count]]
        assert sorted(row.pk for row in prepared(ids)) == sorted(ids)
    assert len(prepared._statements) == 4  # lengths 1, 2, 4 and 8


def test_fast_prepared_rows_bring_their_prefetched_rows(world):
    case = issue_in(world, status=Status.SUBMITTED)
    for kind in (Photo.Kind.AFTER, Photo.Kind.BEFORE):
        Photo.objects.create(
            issue=case,
            kind=kind,
            image=f"photos/x/{kind}.jpg",
            thumbnail=f"thumbs/x/{kind}.jpg",
            width=1,
            height=1,
            size_bytes=1,
            sha256="0" * 64,
            uploaded_by=world.handler_xincheng,
        )
    prefetching: Prepared[Issue] = Prepared(
        lambda ids: Issue.objects.filter(pk__in=ids).prefetch_related("photos")
    )
    (row,) = rows_by_id(prefetching, [case.pk])
    assert sorted(photo.kind for photo in row.photos.all()) == [
        Photo.Kind.AFTER,
        Photo.Kind.BEFORE,
    ]
    # The verification queue's photos, compiled once too, split by kind for the cards.
    (card,), _more = verify_queue(world.supervisor_xincheng)
    assert [photo.kind for photo in card.before_photos] == [Photo.Kind.BEFORE]
    assert [photo.kind for photo in card.after_photos] == [Photo.Kind.AFTER]


def test_fast_prepared_refuses_an_id_its_sql_does_not_take(world):
    prepared: Prepared[Issue] = Prepared(lambda pk: Issue.objects.filter(pk__gt=0))
    with pytest.raises(ValueError, match="parameter"):
        prepared(1)


def test_fast_first_rows_keeps_the_order_and_leaves_out_nothing(world):
    cases = [issue_in(world) for _ in range(4)]
    ordered = Issue.objects.order_by("-id")
    assert [row.pk for row in first_rows(ordered, 3, LIST_ROWS)] == [
        case.pk for case in reversed(cases)
    ][:3]
    assert first_rows(Issue.objects.none(), 3, LIST_ROWS) == []


def test_fast_case_page_of_an_id_beyond_any_column_is_not_found(client, world):
    client.force_login(world.admin_zone)
    assert client.get(f"/issues/{2**64}/").status_code == 404
    assert client.get(f"/issues/{2**63 - 1}/").status_code == 404


def test_fast_prepared_values_are_tuples_and_other_shapes_are_refused(world):
    cases = [issue_in(world) for _ in range(2)]
    numbers: Prepared[Issue] = Prepared(
        lambda ids: Issue.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "status")
    )
    assert numbers([case.pk for case in cases]) == [(case.pk, case.status) for case in cases]
    flat: Prepared[Issue] = Prepared(
        lambda pk: Issue.objects.filter(pk=pk).values_list("pk", flat=True)
    )
    with pytest.raises(ValueError, match="values_list"):
        flat(cases[0].pk)


on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statements are prepared on PostgreSQL only"
)


def _prepared_on_server() -> dict[str, tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements")
        return {name: (generic, custom) for name, generic, custom in cursor.fetchall()}


def _a_case_and_its_status_statement() -> tuple[Issue, Prepared[Issue]]:
    """A case outside any test transaction, and a statement reading its status by id."""
    from tests.factories import build_world

    case = issue_in(build_world())
    statuses: Prepared[Issue] = Prepared(
        lambda pk: Issue.objects.filter(pk=pk).values_list("pk", "status")
    )
    return case, statuses


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_fast_prepared_statement_is_planned_once_per_connection_on_the_server():
    case, statuses = _a_case_and_its_status_statement()
    with CaptureQueriesContext(connection) as captured:
        for _ in range(3):
            assert statuses(case.pk) == [(case.pk, case.status)]
    first, *later = [query["sql"] for query in captured.captured_queries]
    # One query string each: the first prepares and executes, the others only execute.
    name = re.search(r"PREPARE (civicapp_\w+) AS SELECT", first).group(1)
    assert first.endswith(f"EXECUTE {name} ({case.pk})")
    executed = f"SET LOCAL plan_cache_mode = force_generic_plan; EXECUTE {name} ({case.pk})"
    assert later == [executed] * 2
    # Planned once, generic; the planner setting did not outlive the statements.
    assert _prepared_on_server()[name] == (3, 0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "auto"
    # A new connection prepares it again, under a name of its own.
    connection.close()
    with CaptureQueriesContext(connection) as captured:
        assert statuses(case.pk) == [(case.pk, case.status)]
    (again,) = [query["sql"] for query in captured.captured_queries]
    assert "PREPARE civicapp_" in again
    assert f"PREPARE {name} " not in again


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_fast_prepared_statement_outlives_a_rollback_and_a_failed_prepare_is_not_kept():
    case, statuses = _a_case_and_its_status_statement()
    with pytest.raises(RuntimeError), transaction.atomic():
        assert statuses(case.pk) == [(case.pk, case.status)]
        raise RuntimeError
    with CaptureQueriesContext(connection) as captured:
        assert statuses(case.pk) == [(case.pk, case.status)]
    assert "PREPARE" not in captured.captured_queries[0]["sql"]

    # A PREPARE that fails (here: its transaction is already broken) leaves no name behind:
    # the next call prepares afresh rather than executing a statement the server lacks.
    other: Prepared[Issue] = Prepared(lambda pk: Issue.objects.filter(pk=pk).values_list("pk"))
    with transaction.atomic():
        with pytest.raises(DatabaseError, match="division"), connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
        with pytest.raises(DatabaseError, match="aborted"):
            other(case.pk)
        transaction.set_rollback(True)
    with CaptureQueriesContext(connection) as captured:
        assert other(case.pk) == [(case.pk,)]
    assert "PREPARE civicapp_" in captured.captured_queries[0]["sql"]


@on_postgresql
@override_settings(DATABASE_SERVER_PREPARE=False)
def test_fast_prepared_statement_sends_its_sql_when_preparing_is_off(world):
    case = issue_in(world)
    statuses: Prepared[Issue] = Prepared(
        lambda pk: Issue.objects.filter(pk=pk).values_list("pk", "status")
    )
    with CaptureQueriesContext(connection) as captured:
        assert statuses(case.pk) == [(case.pk, case.status)]
    (sql,) = [query["sql"] for query in captured.captured_queries]
    assert sql.startswith("SELECT ") and f'"issues_issue"."id" = {case.pk}' in sql


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_fast_prepared_statement_lost_by_the_server_is_prepared_again():
    """DISCARD ALL (a pooler's reset) or DEALLOCATE takes the server's statements: outside a
    transaction the call prepares afresh at once; inside one the error ends the transaction,
    and the next call prepares afresh."""
    case, statuses = _a_case_and_its_status_statement()
    assert statuses(case.pk) == [(case.pk, case.status)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert statuses(case.pk) == [(case.pk, case.status)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(DatabaseError, match="does not exist"), transaction.atomic():
        statuses(case.pk)
    assert statuses(case.pk) == [(case.pk, case.status)]


@on_postgresql
def test_fast_prepared_statement_names_its_ids_bigint_and_its_process(world):
    """An id beyond a 32-bit column matches nothing, as in plain SQL, rather than failing; and
    the statement's name carries this process's token (two workers never share a name)."""
    from django.contrib.auth import get_user_model

    from civicapp import db

    users: Prepared[Any] = Prepared(
        lambda pk: get_user_model().objects.filter(pk=pk).values_list("pk")
    )
    user = world.supervisor_xincheng
    assert users(3_000_000_000) == []
    assert users(user.pk) == [(user.pk,)]
    with CaptureQueriesContext(connection) as captured:
        users(user.pk)
    assert f"EXECUTE civicapp_{db._server_token}_" in captured.captured_queries[0]["sql"]
