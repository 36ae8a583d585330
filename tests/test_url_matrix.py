"""The URL × persona matrix: every URL of the site, /manage/ and the Django admin, per persona.

NetBox-style: one table says what each kind of person gets from each URL name (a GET), and the
test walks the URL resolver so a URL without an entry in the table fails the build. The expected
outcomes follow `districts.policy` and `issues.permissions`:

- anonymous visitors are sent to log in (the Django admin sends them to its own login page);
- a disabled account is logged out by Django, so it is treated like a visitor;
- objects outside a person's scope do not exist for them (404), actions their role never takes
  are refused (403);
- /manage/ is for zone admins only (403 for other staff); admins are zone-wide;
- the Django admin lets in only `is_staff` accounts (admins and superusers); the others are sent
  to the admin's login page;
- views that only take POST answer 405 to a GET.

To add a URL: add one entry to `EXPECTED` (and, when it takes arguments, to `URL_KWARGS`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from districts.models import AuditAction, AuditEntry, Responsibility, Role
from issues.models import (
    Action,
    CaseCounter,
    Escalation,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Notification,
    Photo,
    Status,
)
from tests.factories import World, issue_in, make_staff
from tests.issues.lifecycle_support import jpeg_upload, snapshot
from tests.rounds.support import round_with_a_failed_mark

pytestmark = pytest.mark.django_db

User = get_user_model()

# --- personas -------------------------------------------------------------------------------
# Objects the URLs name live in district A and belong to organisation X, so "in" personas cover
# them and "out" personas (district B, organisation Y) do not.
PERSONAS = (
    "anonymous",
    "disabled",
    "inspector_in",
    "inspector_out",
    "supervisor_in",
    "supervisor_out",
    "handler_in",
    "handler_out",
    "leader",
    "admin",
    "superuser",
)

# --- outcomes -------------------------------------------------------------------------------
LOGIN = "login"  # 302 to the site's login page
ADMIN_LOGIN = "admin_login"  # 302 to the Django admin's login page
OK = 200
REDIRECT = "redirect"  # 302 elsewhere (the page sends the person on)
FORBIDDEN = 403
MISSING = 404
NOT_ALLOWED = 405


def everyone(outcome: Any, **overrides: Any) -> dict[str, Any]:
    """An entry: `outcome` for every logged-in persona, the login redirect for visitors."""
    row = dict.fromkeys(PERSONAS, outcome)
    row["anonymous"] = row["disabled"] = LOGIN
    row.update(overrides)
    return row


STAFF_ONLY = dict.fromkeys(PERSONAS, FORBIDDEN) | {"anonymous": LOGIN, "disabled": LOGIN}


def admin_only(outcome: Any = OK) -> dict[str, Any]:
    """/manage/: zone admins (and superusers) in, other staff 403, visitors to log in."""
    return STAFF_ONLY | {"admin": outcome, "superuser": outcome}


VIEWER = {  # the case in district A, assigned to organisation X
    "inspector_in": OK,
    "inspector_out": MISSING,
    "supervisor_in": OK,
    "supervisor_out": MISSING,
    "handler_in": OK,
    "handler_out": MISSING,
    "leader": OK,
}
REPORTER = {"handler_in": FORBIDDEN, "handler_out": FORBIDDEN, "leader": FORBIDDEN}
SUPERVISOR = REPORTER | {"inspector_in": FORBIDDEN, "inspector_out": FORBIDDEN}
ANYONE = dict.fromkeys(PERSONAS, OK)

# What a GET of each URL name gives each persona. One entry per URL name; routes without a name
# are keyed "<unnamed ROUTE>".
EXPECTED: dict[str, dict[str, Any]] = {
    # --- the site -------------------------------------------------------------------------
    "<unnamed favicon.ico>": dict.fromkeys(PERSONAS, REDIRECT),
    "login": ANYONE,
    "logout": dict.fromkeys(PERSONAS, NOT_ALLOWED),
    "set_language": dict.fromkeys(PERSONAS, NOT_ALLOWED),
    "home": everyone(OK),
    "issues:issue_report": everyone(OK, **REPORTER),
    # Without coordinates the lookup is a bad request, for those who may report at all.
    "issues:nearby_points": everyone(400, **REPORTER),
    "issues:triage": everyone(OK, **SUPERVISOR),
    "issues:bulk_dispatch": everyone(NOT_ALLOWED),
    "issues:verify_queue": everyone(OK, **REPORTER),
    "issues:issue_list": everyone(OK),
    "issues:issue_export": everyone(OK),
    "issues:notification_list": everyone(OK),
    "issues:notification_read": dict.fromkeys(PERSONAS, NOT_ALLOWED),
    "issues:notification_read_all": dict.fromkeys(PERSONAS, NOT_ALLOWED),
    "issues:photo": everyone(OK, **VIEWER),
    "issues:photo_thumb": everyone(OK, **VIEWER),
    "issues:issue_detail": everyone(OK, **VIEWER),
    "issues:issue_act": everyone(NOT_ALLOWED),
    # --- /manage/ -------------------------------------------------------------------------
    "districts:index": admin_only(),
    "districts:matrix": admin_only(),
    # Without a cell's query (?category=…) the cell does not exist.
    "districts:matrix_cell": admin_only(MISSING),
    "districts:cell_history": admin_only(MISSING),
    "districts:district_staff": admin_only(),
    "districts:responsibility_end": admin_only(NOT_ALLOWED),
    "districts:responsibility_withdraw": admin_only(NOT_ALLOWED),
    "districts:staff_list": admin_only(),
    "districts:staff_create": admin_only(),
    "districts:staff_edit": admin_only(),
    "districts:staff_disable": admin_only(NOT_ALLOWED),
    "districts:staff_enable": admin_only(NOT_ALLOWED),
    "districts:coverage": admin_only(),
    "districts:routing_check": admin_only(),
    "districts:audit": admin_only(),
    "districts:import": admin_only(),
    "districts:import_confirm": admin_only(NOT_ALLOWED),
    "districts:export": admin_only(),
    # --- queues, pickers, the offline app, the campaign figures and rounds ---------------------
    # Rounds and ledger exports are opened with ids that do not exist (the matrix makes none):
    # every door still answers in kind, visitors are sent to log in, nothing gives a 500.
    "issues:extension_queue": everyone(
        FORBIDDEN, supervisor_in=OK, supervisor_out=OK, admin=OK, superuser=OK
    ),
    "issues:offline": dict.fromkeys(PERSONAS, OK),
    "issues:offline_reference": everyone(OK),
    "issues:offline_session": dict.fromkeys(PERSONAS, OK),
    "issues:outbox": everyone(OK),
    "issues:picker": everyone(OK),
    "manifest": dict.fromkeys(PERSONAS, OK),
    "rounds:observation_file": everyone(NOT_ALLOWED),
    "rounds:observation_fix": everyone(NOT_ALLOWED),
    "rounds:observation_photo": everyone(MISSING),
    "rounds:round_clone": everyone(NOT_ALLOWED),
    "rounds:round_close": everyone(NOT_ALLOWED),
    "rounds:round_create": everyone(
        FORBIDDEN, supervisor_in=OK, supervisor_out=OK, admin=OK, superuser=OK
    ),
    "rounds:round_export": everyone(MISSING),
    "rounds:round_list": everyone(OK),
    "rounds:round_results": everyone(MISSING),
    "rounds:visit_api": everyone(MISSING),
    "rounds:visit_finish": everyone(NOT_ALLOWED),
    "rounds:visit_mark": everyone(NOT_ALLOWED),
    "rounds:visit_page": everyone(MISSING),
    "rounds:visit_start": everyone(NOT_ALLOWED),
    "rounds:worklist": everyone(MISSING),
    "service_worker": dict.fromkeys(PERSONAS, OK),
    "stats:dashboard": everyone(
        OK,
        inspector_in=FORBIDDEN,
        inspector_out=FORBIDDEN,
        handler_in=FORBIDDEN,
        handler_out=FORBIDDEN,
    ),
    "stats:ledger": everyone(OK),
    "stats:ledger_download": everyone(MISSING),
    "stats:ledger_start": dict.fromkeys(PERSONAS, NOT_ALLOWED),
    "stats:ledger_status": everyone(MISSING),
    "stats:my_organisation": everyone(FORBIDDEN, handler_in=OK, handler_out=OK),
    "stats:notice": everyone(
        OK,
        inspector_in=FORBIDDEN,
        inspector_out=FORBIDDEN,
        handler_in=FORBIDDEN,
        handler_out=FORBIDDEN,
    ),
    "stats:notice_xlsx": everyone(
        OK,
        inspector_in=FORBIDDEN,
        inspector_out=FORBIDDEN,
        handler_in=FORBIDDEN,
        handler_out=FORBIDDEN,
    ),
    "stats:ranking": everyone(
        OK,
        inspector_in=FORBIDDEN,
        inspector_out=FORBIDDEN,
        handler_in=FORBIDDEN,
        handler_out=FORBIDDEN,
    ),
    "stats:ranking_history": everyone(
        FORBIDDEN, supervisor_in=MISSING, supervisor_out=MISSING, leader=OK, admin=OK, superuser=OK
    ),
}


# --- the Django admin ---------------------------------------------------------------------
# Only is_staff accounts get in; everyone else is sent to the admin's login page. The zone admin
# keeps the app's reference data (districts.backends); accounts are managed on /manage/, so the
# auth models are the superuser's alone.
ADMIN_APP_LABELS = frozenset({"districts", "issues", "reminders", "stats", "rounds"})
NOT_STAFF = dict.fromkeys(PERSONAS, ADMIN_LOGIN)


def admin_site(admin_outcome: Any = OK, superuser_outcome: Any = OK) -> dict[str, Any]:
    return NOT_STAFF | {"admin": admin_outcome, "superuser": superuser_outcome}


EXPECTED |= {
    "admin:index": admin_site(),
    "admin:login": dict.fromkeys(PERSONAS, OK) | {"admin": REDIRECT, "superuser": REDIRECT},
    # Logging out of the admin is a POST; visitors are simply sent on.
    "admin:logout": dict.fromkeys(PERSONAS, REDIRECT)
    | {"admin": NOT_ALLOWED, "superuser": NOT_ALLOWED},
    "admin:password_change": admin_site(),
    "admin:password_change_done": admin_site(),
    "admin:jsi18n": admin_site(),
    # Without its query arguments the autocomplete refuses everyone.
    "admin:autocomplete": admin_site(FORBIDDEN, FORBIDDEN),
    "admin:app_list": admin_site(),
    "admin:view_on_site": admin_site(REDIRECT, REDIRECT),
    "<unnamed admin/(?P<url>.*)$>": admin_site(MISSING, MISSING) | {"anonymous": ADMIN_LOGIN},
}

# Per model: pages the model's admin refuses to everyone on purpose (superusers too).
READ_ONLY_RECORDS = {  # written by the services and the reminder job only
    "issues_casecounter",
    "issues_escalation",
    "issues_extensionrequest",
    "issues_issue",
    "issues_issueevent",
    "issues_notification",
    "issues_photo",
    "reminders_delivery",
    "reminders_reminder",
    "districts_auditentry",
    # Rounds are made, cloned and closed through the services on the site; their visits and
    # marks are the field's records.
    "rounds_round",
    "rounds_roundpoint",
    "rounds_visit",
    "rounds_observation",
}
# Frozen weekly rankings are published by the Monday task; settings are one row, never deleted.
FROZEN = {"stats_weeklyranking_add", "stats_weeklyranking_delete", "stats_rankingsettings_delete"}
ADMIN_REFUSALS: dict[str, Any] = {
    f"{model}_{view}": FORBIDDEN for model in READ_ONLY_RECORDS for view in ("add", "delete")
}
ADMIN_REFUSALS["districts_responsibility_delete"] = FORBIDDEN  # ended or withdrawn, never deleted
ADMIN_REFUSALS |= dict.fromkeys(FROZEN, FORBIDDEN)
# The reminder job's rows are not made here: their object pages answer "no such object" by
# sending staff back to the admin index.
NO_ROWS = frozenset({"reminders", "stats"})

for _model, _model_admin in admin.site._registry.items():
    _opts = _model._meta
    _zone_admin = OK if _opts.app_label in ADMIN_APP_LABELS else FORBIDDEN
    for _view in ("changelist", "add", "change", "delete", "history"):
        _key = f"{_opts.app_label}_{_opts.model_name}_{_view}"
        if _key in ADMIN_REFUSALS:
            EXPECTED[f"admin:{_key}"] = admin_site(ADMIN_REFUSALS[_key], ADMIN_REFUSALS[_key])
        elif _opts.app_label in NO_ROWS and _view in ("change", "delete", "history"):
            EXPECTED[f"admin:{_key}"] = admin_site(REDIRECT, REDIRECT)
        else:
            EXPECTED[f"admin:{_key}"] = admin_site(_zone_admin)
    # The old /admin/app/model/<id>/ address redirects to the change page.
    EXPECTED[f"<unnamed admin/{_opts.app_label}/{_opts.model_name}/<path:object_id>/>"] = (
        admin_site(REDIRECT, REDIRECT)
    )
EXPECTED["admin:auth_user_password_change"] = admin_site(FORBIDDEN)
# Robot webhooks reach outside the zone: only superusers add or remove them (zone admins read).
EXPECTED["admin:reminders_channelconfig_add"] = admin_site(FORBIDDEN, OK)
EXPECTED["admin:reminders_channelconfig_delete"] = admin_site(FORBIDDEN, REDIRECT)


@dataclass
class Objects:
    world: World
    issue: Issue
    photo: Photo
    notification: Notification
    responsibility: Responsibility
    staff: Any
    users: dict[str, Any]

    def first(self, model: Any) -> Any:
        return model._default_manager.order_by("pk").first()


def _admin_object_kwargs(model: Any) -> Callable[[Objects], dict[str, Any]]:
    def kwargs(objects: Objects) -> dict[str, Any]:
        row = objects.first(model)
        return {"object_id": row.pk if row is not None else 999_999}

    return kwargs


NO_SUCH_ROW = 999_999

# Arguments of each URL that takes some, built from the matrix's objects.
URL_KWARGS: dict[str, Callable[[Objects], dict[str, Any]]] = {
    "issues:issue_detail": lambda o: {"pk": o.issue.pk},
    "issues:issue_act": lambda o: {"pk": o.issue.pk, "action": Action.ACKNOWLEDGE},
    "issues:photo": lambda o: {"pk": o.photo.pk},
    "issues:photo_thumb": lambda o: {"pk": o.photo.pk},
    "issues:notification_read": lambda o: {"pk": o.notification.pk},
    "districts:matrix": lambda o: {"pk": o.world.district_a.pk},
    "districts:matrix_cell": lambda o: {"pk": o.world.district_a.pk},
    "districts:cell_history": lambda o: {"pk": o.world.district_a.pk},
    "districts:district_staff": lambda o: {"pk": o.world.district_a.pk},
    "districts:responsibility_end": lambda o: {"pk": o.responsibility.pk},
    "districts:responsibility_withdraw": lambda o: {"pk": o.responsibility.pk},
    "districts:staff_edit": lambda o: {"pk": o.staff.pk},
    "districts:staff_disable": lambda o: {"pk": o.staff.pk},
    "districts:staff_enable": lambda o: {"pk": o.staff.pk},
    "admin:app_list": lambda o: {"app_label": "districts"},
    "issues:picker": lambda o: {"kind": "point"},
    # Rounds and ledger exports the matrix does not make: every door must still answer in kind.
    **{
        f"rounds:{name}": (lambda o: {"pk": NO_SUCH_ROW})
        for name in ("worklist", "round_results", "round_export", "round_clone", "round_close")
    },
    **{
        f"rounds:{name}": (lambda o: {"pk": NO_SUCH_ROW, "point_pk": NO_SUCH_ROW})
        for name in ("visit_page", "visit_api", "visit_start", "visit_mark", "visit_finish")
    },
    **{
        f"rounds:{name}": (lambda o: {"pk": NO_SUCH_ROW, "observation_pk": NO_SUCH_ROW})
        for name in ("observation_file", "observation_fix", "observation_photo")
    },
    "stats:ledger_status": lambda o: {"pk": NO_SUCH_ROW},
    "stats:ledger_download": lambda o: {"pk": NO_SUCH_ROW},
    "stats:ranking_history": lambda o: {"kind": "organisation", "pk": o.world.org_x.pk},
    "admin:auth_user_password_change": lambda o: {"id": o.world.inspector_xincheng.pk},
    "admin:view_on_site": lambda o: {
        "content_type_id": ContentType.objects.get_for_model(Issue).pk,
        "object_id": o.issue.pk,
    },
}
# Unnamed routes, by the URL the matrix opens.
UNNAMED_URLS: dict[str, Callable[[Objects], str]] = {
    "<unnamed favicon.ico>": lambda o: "/favicon.ico",
    "<unnamed admin/(?P<url>.*)$>": lambda o: "/admin/no-such-page/",
}
for _model in admin.site._registry:
    _opts = _model._meta
    for _view in ("change", "delete", "history"):
        URL_KWARGS[f"admin:{_opts.app_label}_{_opts.model_name}_{_view}"] = _admin_object_kwargs(
            _model
        )
    UNNAMED_URLS[f"<unnamed admin/{_opts.app_label}/{_opts.model_name}/<path:object_id>/>"] = (
        lambda o, _model=_model, _opts=_opts: (
            f"/admin/{_opts.app_label}/{_opts.model_name}/"
            f"{getattr(o.first(_model), 'pk', 999_999)}/"
        )
    )


def iter_patterns(
    resolver: URLResolver | None = None, namespace: str = "", prefix: str = ""
) -> Iterator[tuple[str, str]]:
    """(namespaced name, route) of every named pattern, walking includes recursively."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from iter_patterns(entry, inner, route)
        elif isinstance(entry, URLPattern):
            name = entry.name
            if name is None:
                yield (f"<unnamed {route}>", route)
                continue
            yield (f"{namespace}:{name}" if namespace else name, route)


def all_names() -> list[str]:
    return sorted({name for name, _route in iter_patterns()})


def make_objects(world: World) -> Objects:
    """The objects the URLs name, all in district A / organisation X, and the persona accounts."""
    issue = issue_in(world, Status.ASSIGNED)
    event = IssueEvent.objects.filter(issue=issue).first() or IssueEvent.objects.create(
        issue=issue,
        actor=world.supervisor_xincheng,
        actor_role=Role.SUPERVISOR,
        action=Action.DISPATCH,
        from_status=Status.REPORTED,
        to_status=Status.ASSIGNED,
        organisation=world.org_x,
    )
    upload = jpeg_upload("matrix.jpg")
    photo = Photo(
        issue=issue,
        event=event,
        kind=Photo.Kind.BEFORE,
        width=32,
        height=24,
        size_bytes=upload.size,
        sha256="0" * 64,
        uploaded_by=world.inspector_xincheng,
    )
    photo.image.save("matrix.jpg", ContentFile(upload.read()), save=False)
    photo.thumbnail.save("matrix-thumb.jpg", ContentFile(jpeg_upload().read()), save=False)
    photo.save()
    world.admin_zone.is_staff = True  # as /manage/ makes every admin account
    world.admin_zone.save(update_fields=["is_staff"])
    disabled = make_staff("disabled_supervisor", Role.SUPERVISOR, districts=[world.district_a])
    disabled.is_active = False
    disabled.save(update_fields=["is_active"])
    superuser = User.objects.create_superuser("root", "root@example.org", "password")
    users = {
        "anonymous": None,
        "disabled": disabled,
        "inspector_in": world.inspector_xincheng,
        "inspector_out": world.inspector_binhe,
        "supervisor_in": world.supervisor_xincheng,
        "supervisor_out": world.supervisor_binhe,
        "handler_in": world.handler_xincheng,
        "handler_out": world.handler_binhe,
        "leader": world.leader_zone,
        "admin": world.admin_zone,
        "superuser": superuser,
    }
    # One row of each model the Django admin opens, so its change pages have an object.
    Group.objects.create(name="matrix")
    AuditEntry.objects.create(
        actor=world.admin_zone, action=AuditAction.choices[0][0], object_type="t", summary="t"
    )
    ExtensionRequest.objects.create(
        issue=issue,
        requested_by=world.handler_xincheng,
        reason="t",
        requested_deadline=timezone.now() + datetime.timedelta(days=1),
    )
    Escalation.objects.create(
        issue=issue,
        level=1,
        source=Escalation.Source.choices[0][0],
        actor=world.supervisor_xincheng,
    )
    CaseCounter.objects.get_or_create(zone=world.zone, year=2000)
    notification = Notification.objects.create(
        user=world.handler_xincheng, issue=issue, kind="t", title="t"
    )
    responsibility = Responsibility.objects.filter(organisation=world.org_x).get()
    # A round in district A with one failed mark, so the round admin pages have their rows.
    round_with_a_failed_mark(world)
    return Objects(
        world=world,
        issue=issue,
        photo=photo,
        notification=notification,
        responsibility=responsibility,
        staff=world.inspector_xincheng,
        users=users,
    )


def outcome_of(response) -> Any:
    if response.status_code in (301, 302):
        target = response.headers["Location"]
        if target.startswith(reverse("admin:login")):
            return ADMIN_LOGIN
        if target.startswith(reverse("login")):
            return LOGIN
        return REDIRECT
    return response.status_code


def probe(client, objects: Objects, name: str) -> dict[str, Any]:
    kwargs = URL_KWARGS[name](objects) if name in URL_KWARGS else {}
    url = UNNAMED_URLS[name](objects) if name in UNNAMED_URLS else reverse(name, kwargs=kwargs)
    found = {}
    for persona in PERSONAS:
        client.logout()
        user = objects.users[persona]
        if user is not None:
            client.force_login(user)
        found[persona] = outcome_of(client.get(url))
    return found


def test_matrix_covers_every_url_pattern():
    """A URL added without an entry in the table fails here: say what each persona gets."""
    missing = [name for name in all_names() if name not in EXPECTED]
    assert missing == [], f"add these URL names to EXPECTED in {__name__}: {missing}"
    stale = sorted(set(EXPECTED) - set(all_names()))
    assert stale == [], f"EXPECTED names URLs that no longer exist: {stale}"


@pytest.mark.parametrize("name", all_names())
def test_matrix_url_by_persona(client, world, settings, tmp_path, name):
    settings.MEDIA_ROOT = str(tmp_path)
    if name not in EXPECTED:
        pytest.fail(f"{name} has no entry in EXPECTED")
    objects = make_objects(world)
    found = probe(client, objects, name)
    assert found == EXPECTED[name]


# --- a sample of POSTs: forbidden personas change nothing ---------------------------------
def _state(objects: Objects) -> dict[str, Any]:
    inspector_xincheng = User.objects.get(pk=objects.staff.pk)
    return {
        "issue": snapshot(objects.issue),
        "responsibility": Responsibility.objects.filter(pk=objects.responsibility.pk).values()[0],
        "staff_active": inspector_xincheng.is_active,
        "notification_read": Notification.objects.get(pk=objects.notification.pk).read_at,
    }


POSTS = [  # (URL name, form data, personas who may not do it, and what they get)
    (
        "issues:issue_act",
        {"note": "matrix"},
        ["inspector_out", "supervisor_out", "handler_out"],
        404,
    ),
    ("issues:issue_act", {"note": "matrix"}, ["inspector_in", "supervisor_in", "leader"], 403),
    ("districts:staff_disable", {}, ["supervisor_in", "leader", "handler_in"], 403),
    ("districts:responsibility_end", {"valid_to": "2030-01-01"}, ["supervisor_in", "leader"], 403),
    ("issues:notification_read", {}, ["handler_out", "supervisor_in"], 404),
]


@pytest.mark.parametrize(("name", "data", "personas", "status"), POSTS)
def test_matrix_forbidden_posts_change_nothing(
    client, world, settings, tmp_path, name, data, personas, status
):
    settings.MEDIA_ROOT = str(tmp_path)
    objects = make_objects(world)
    url = reverse(name, kwargs=URL_KWARGS[name](objects))
    before = _state(objects)
    for persona in ["anonymous", "disabled", *personas]:
        client.logout()
        if objects.users[persona] is not None:
            client.force_login(objects.users[persona])
        response = client.post(url, data)
        expected = LOGIN if persona in ("anonymous", "disabled") else status
        assert (persona, outcome_of(response)) == (persona, expected)
        assert _state(objects) == before
