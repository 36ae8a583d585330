"""Supervisor conveniences: triage with bulk dispatch, and the verification queue."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from districts import policy
from districts.inputs import parse_ids
from districts.models import Organisation
from districts.routing import route_many
from issues import permissions, pickers, selectors, services, workflow
from issues.forms import IssueActionForm
from issues.models import Action, Issue
from issues.selectors import QUEUE_LIMIT
from issues.views.detail import shared_action_item
from issues.workflow import TransitionError

# The queue's actions, in the order its cards show them.
VERIFY_ACTIONS = (Action.VERIFY_PASS, Action.VERIFY_FAIL)


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


@login_required
@require_GET
def triage(request: HttpRequest) -> HttpResponse:
    """Reported issues in scope awaiting dispatch, each with the routing suggestion preselected."""
    _require(policy.may_supervise(request.user))
    # The returned queue: cases an organisation handed back, waiting for a new owner.
    only_returned = request.GET.get("returned") == "true"
    rows, more = selectors.triage_queue(
        request.user, limit=QUEUE_LIMIT, only_returned=only_returned
    )
    # One query for the returns (their reasons are shown, and routing skips whoever returned a
    # case), one routing query for the whole queue, however many places and categories it spans.
    returns = selectors.returns_by_issue(issue.pk for issue in rows)
    places = {}
    for issue in rows:
        issue.returns = returns.get(issue.pk, [])
        skip = selectors.returning_organisations(issue.returns)
        places.setdefault((issue.category_id, issue.community_id, issue.point_id, skip), issue)
    suggestions = route_many(
        [(issue.category, issue.community, issue.point) for issue in places.values()],
        exclude=[key[3] for key in places],
    )
    decisions = dict(zip(places, suggestions, strict=True))
    for issue in rows:
        skip = selectors.returning_organisations(issue.returns)
        issue.routing = decisions[(issue.category_id, issue.community_id, issue.point_id, skip)]
        # The row's picker shows the suggestion as "name [code]"; no list of organisations is
        # rendered, so the queue weighs the same for 60 organisations and for 600.
        organisation = issue.routing.organisation
        issue.organisation_label = (
            pickers.label_of(organisation, pickers.KINDS["organisation"]) if organisation else ""
        )
    return render(
        request,
        "issues/triage.html",
        {
            "issues": rows,
            "more": more,
            "limit": QUEUE_LIMIT,
            "only_returned": only_returned,
        },
    )


@login_required
@require_GET
def extension_queue(request: HttpRequest) -> HttpResponse:
    """Extension requests waiting for a decision in scope, oldest first, with their cases."""
    _require(policy.may_supervise(request.user))
    requests, more = selectors.extension_queue(request.user, limit=QUEUE_LIMIT)
    return render(
        request,
        "issues/extension_queue.html",
        {"requests": requests, "more": more, "limit": QUEUE_LIMIT},
    )


@login_required
@require_POST
def bulk_dispatch(request: HttpRequest) -> HttpResponse:
    """Dispatch every selected issue to its row's organisation; each issue on its own."""
    _require(policy.may_supervise(request.user))
    selected = parse_ids(request.POST.getlist("issue"))
    if not selected:
        messages.warning(request, _("Select at least one issue to dispatch."))
        return redirect("issues:triage")
    issues = Issue.objects.visible_to(request.user).select_related("category").in_bulk(selected)
    # Each row's picker sends what it shows ("name [code]"), a typed name or code, or an id.
    chosen = {pk: request.POST.get(f"organisation-{pk}", "") for pk in selected}
    named = pickers.resolve_many(
        "organisation", Organisation.objects.filter(is_active=True), list(chosen.values())
    )
    dispatched: list[str] = []
    failures: list[str] = []
    for pk in selected:
        issue = issues.get(pk)
        if issue is None:
            failures.append(_("#%(id)s: not found.") % {"id": pk})
            continue
        organisation = named.get(chosen[pk].strip())
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
    _require(policy.may_verify(request.user))
    rows, more = selectors.verify_queue(request.user, limit=QUEUE_LIMIT)
    transitions = [workflow.transition_for(action) for action in VERIFY_ACTIONS]
    # The same forms as on the case's page, drawn once for the cases they are alike on.
    shared: dict[tuple, IssueActionForm] = {}
    for issue in rows:
        issue.action_forms = [
            shared_action_item(transition, issue, request.user, shared)
            for transition in transitions
            if permissions.can_act(request.user, transition.action, issue)
        ]
        allowed = {item["transition"].action for item in issue.action_forms}
        issue.may_pass = Action.VERIFY_PASS in allowed
        issue.may_fail = Action.VERIFY_FAIL in allowed
        for item in issue.action_forms:
            item["open"] = item["primary"]  # passing stays one tap: its panel is open
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
