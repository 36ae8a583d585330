"""Supervisor conveniences: triage with bulk dispatch, and the verification queue."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Prefetch, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from districts.models import Organisation, Role, Severity
from districts.routing import route_many
from issues import permissions, services
from issues.models import Action, Issue, Photo, Status
from issues.workflow import TransitionError

# Roles that triage and dispatch (docs/domain.md §2).
TRIAGE_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
# Roles that may open the verification queue (docs/domain.md §4): supervisors, admins and
# inspectors. Whether one may pass or fail a given fix (never whoever submitted it, nor staff of
# the assigned organisation) is decided per issue by `permissions`, which the queue asks.
VERIFY_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.INSPECTOR})
# A queue page shows this many issues, oldest first; the rest wait for the next visit.
QUEUE_LIMIT = 60


def _require_role(user, roles: frozenset[str]) -> None:
    if permissions.role_of(user) not in roles:
        raise PermissionDenied


def _urgent_first():
    return Case(
        When(severity=Severity.URGENT, then=Value(0)),
        When(severity=Severity.MAJOR, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def _photos_of_kinds(*kinds: str) -> Prefetch:
    return Prefetch("photos", queryset=Photo.objects.filter(kind__in=kinds), to_attr="shown_photos")


@login_required
@require_GET
def triage(request: HttpRequest) -> HttpResponse:
    """Reported issues in scope awaiting dispatch, each with the routing suggestion preselected."""
    _require_role(request.user, TRIAGE_ROLES)
    rows = list(
        Issue.objects.visible_to(request.user)
        .filter(status=Status.REPORTED)
        .with_list_related()
        .prefetch_related(_photos_of_kinds(Photo.Kind.BEFORE))
        .order_by(_urgent_first(), "reported_at", "id")[: QUEUE_LIMIT + 1]
    )
    more = len(rows) > QUEUE_LIMIT
    rows = rows[:QUEUE_LIMIT]
    # One routing query for the whole queue, however many places and categories it spans.
    places = {(issue.category_id, issue.community_id, issue.point_id): issue for issue in rows}
    suggestions = route_many(
        [(issue.category, issue.community, issue.point) for issue in places.values()]
    )
    decisions = dict(zip(places, suggestions, strict=True))
    for issue in rows:
        issue.routing = decisions[(issue.category_id, issue.community_id, issue.point_id)]
    organisations = list(Organisation.objects.filter(is_active=True).order_by("kind", "name"))
    return render(
        request,
        "issues/triage.html",
        {"issues": rows, "more": more, "organisations": organisations, "limit": QUEUE_LIMIT},
    )


@login_required
@require_POST
def bulk_dispatch(request: HttpRequest) -> HttpResponse:
    """Dispatch every selected issue to its row's organisation; each issue on its own."""
    _require_role(request.user, TRIAGE_ROLES)
    selected: list[int] = []
    for value in request.POST.getlist("issue"):
        if value.isdigit() and int(value) not in selected:
            selected.append(int(value))
    if not selected:
        messages.warning(request, _("Select at least one issue to dispatch."))
        return redirect("issues:triage")
    issues = Issue.objects.visible_to(request.user).select_related("category").in_bulk(selected)
    wanted = {
        pk: request.POST.get(f"organisation-{pk}", "")
        for pk in selected
        if request.POST.get(f"organisation-{pk}", "").isdigit()
    }
    organisations = Organisation.objects.filter(is_active=True).in_bulk(
        [int(v) for v in wanted.values()]
    )
    dispatched: list[str] = []
    failures: list[str] = []
    for pk in selected:
        issue = issues.get(pk)
        if issue is None:
            failures.append(_("#%(id)s: not found.") % {"id": pk})
            continue
        organisation = organisations.get(int(wanted[pk])) if pk in wanted else None
        if organisation is None:
            failures.append(_("%(number)s: choose an organisation.") % {"number": issue})
            continue
        try:
            # Each dispatch is its own transaction: one stale or refused issue spoils no other.
            services.issue_dispatch(issue=issue, actor=request.user, organisation=organisation)
        except (TransitionError, PermissionDenied, ValidationError) as error:
            text = " ".join(getattr(error, "messages", [])) or _("You may not dispatch it.")
            failures.append(f"{issue}: {text}")
        else:
            dispatched.append(str(issue))
    if dispatched:
        messages.success(
            request,
            ngettext(
                "Dispatched %(count)d issue: %(numbers)s.",
                "Dispatched %(count)d issues: %(numbers)s.",
                len(dispatched),
            )
            % {"count": len(dispatched), "numbers": ", ".join(dispatched)},
        )
    if failures:
        messages.error(
            request,
            ngettext(
                "%(count)d issue was not dispatched: %(reasons)s",
                "%(count)d issues were not dispatched: %(reasons)s",
                len(failures),
            )
            % {"count": len(failures), "reasons": " ".join(failures)},
        )
    return redirect("issues:triage")


@login_required
@require_GET
def verify_queue(request: HttpRequest) -> HttpResponse:
    """Fixes awaiting verification in scope, before and after photos together, oldest first."""
    _require_role(request.user, VERIFY_ROLES)
    rows = list(
        Issue.objects.visible_to(request.user)
        .filter(status=Status.SUBMITTED)
        .with_list_related()
        # Not last_fix_by: the checks need only its id, and an eighth joined table tripled the
        # time PostgreSQL spent planning this query (to 20-25 ms, more than running it).
        .prefetch_related(_photos_of_kinds(Photo.Kind.BEFORE, Photo.Kind.AFTER))
        .order_by("submitted_at", "id")[: QUEUE_LIMIT + 1]
    )
    more = len(rows) > QUEUE_LIMIT
    rows = rows[:QUEUE_LIMIT]
    for issue in rows:
        issue.before_photos = [p for p in issue.shown_photos if p.kind == Photo.Kind.BEFORE]
        issue.after_photos = [p for p in issue.shown_photos if p.kind == Photo.Kind.AFTER]
        issue.may_pass = permissions.can_act(request.user, Action.VERIFY_PASS, issue)
        issue.may_fail = permissions.can_act(request.user, Action.VERIFY_FAIL, issue)
    return render(
        request,
        "issues/verify_queue.html",
        {
            "issues": rows,
            "more": more,
            "limit": QUEUE_LIMIT,
            "next_url": reverse("issues:verify_queue"),
        },
    )
