"""One issue: its photos, status, place, responsibility and timeline, and the actions on it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from civicapp.db import Prepared, joins_as_written
from districts.geo import amap_marker_url
from districts.http import add_service_error, safe_next_url
from districts.routing import RoutingDecision, route
from issues import calendar, permissions, selectors, services, workflow
from issues.forms import REPLAYABLE_ACTIONS, IssueActionForm
from issues.models import Action, ExtensionRequest, Issue, IssueEvent, Photo, Status
from issues.templatetags import issue_actions
from issues.views.offline import offline_cacheable
from issues.workflow import Transition, TransitionError

# Actions that decide the pending extension request rather than act on the issue itself.
EXTENSION_DECISIONS = frozenset({Action.APPROVE_EXTENSION, Action.REFUSE_EXTENSION})
# Actions whose button is the page's main call to action (shown first and open).
PRIMARY_ACTIONS = frozenset(
    {
        Action.DISPATCH,
        Action.ACKNOWLEDGE,
        Action.SUBMIT_FIX,
        Action.VERIFY_PASS,
        Action.RESUME,
        Action.APPROVE_EXTENSION,
    }
)
# Actions that end or undo work: drawn as quiet or dangerous buttons.
DANGER_ACTIONS = frozenset({Action.CANCEL, Action.REJECT, Action.VERIFY_FAIL, Action.RETURN})

DETAIL_RELATED = (
    "zone",
    "district",
    "community__district",
    "point__point_type",
    "category",
    "assigned_organisation",
    "assigned_person",
    "reporter",
    "duplicate_of",
    "last_fix_by",
)


# The case with everything its page names, compiled once (`civicapp.db.Prepared`): Django
# compiling the eleven-table join cost more CPU than PostgreSQL took to plan and run it.
CASE_ROW: Prepared[Issue] = Prepared(
    lambda pk: Issue.objects.select_related(*DETAIL_RELATED).filter(pk=pk).order_by()
)


M = TypeVar("M", Photo, IssueEvent, ExtensionRequest)

# Its photos, timeline and extension requests, each compiled once as well.
CASE_PHOTOS: Prepared[Photo] = Prepared(
    # Photo's own order, within one case (its "issue" part would join the issue table).
    lambda pk: Photo.objects.filter(issue_id=pk).order_by("kind", "created_at", "id")
)
CASE_EVENTS: Prepared[IssueEvent] = Prepared(
    lambda pk: IssueEvent.objects.filter(issue_id=pk).select_related("actor", "organisation")
)
CASE_EXTENSIONS: Prepared[ExtensionRequest] = Prepared(
    lambda pk: ExtensionRequest.objects.filter(issue_id=pk).select_related(
        "requested_by", "decided_by"
    )
)


def _of_case(rows: Prepared[M], issue: Issue) -> list[M]:
    """A prepared statement's rows of `issue`, each knowing its case, as a related manager's
    rows do (no query for `row.issue`)."""
    found = rows(issue.pk)
    for row in found:
        row.issue = issue  # type: ignore[attr-defined]
    return found


def get_issue_for_user(user, pk: int) -> Issue:
    """The issue if the user may see it; 404 otherwise, the same answer as for no issue at all.

    Read by its id, then judged by `permissions.can_view`: the scope rule of
    `Issue.objects.visible_to` in Python (the two are tested to agree for every persona)."""
    with joins_as_written():
        found = CASE_ROW(pk)
    if not found or not permissions.can_view(user, found[0]):
        raise Http404
    return found[0]


def _needs_routing(transitions: list[Transition]) -> bool:
    return any("organisation" in t.requires or "organisation" in t.optional for t in transitions)


def _needs_deadline(transitions: list[Transition]) -> bool:
    return any("deadline" in t.requires or "deadline" in t.optional for t in transitions)


def _photo_groups(photos: list[Photo]) -> list[tuple[str, str, list[Photo]]]:
    by_kind: dict[str, list[Photo]] = defaultdict(list)
    for photo in photos:
        by_kind[photo.kind].append(photo)
    return [(kind.value, kind.label, by_kind.get(kind.value, [])) for kind in Photo.Kind]


def action_item(
    transition: Transition, form: IssueActionForm, *, anchor: str = ""
) -> dict[str, Any]:
    """What `{% action_form %}` (issues/templatetags/issue_actions.py) draws for one action.

    `anchor` is the panel's id (`action-<action>` by default); a page with the same action on
    several cases gives each its own.
    """
    return {
        "transition": transition,
        "form": form,
        "anchor": anchor or f"action-{transition.action}",
        "primary": transition.action in PRIMARY_ACTIONS,
        "danger": transition.action in DANGER_ACTIONS,
        "open": form.is_bound,
        "multipart": "photos" in form.fields,
        # Field actions the phone can keep in its outbox and send when back online.
        "replayable": transition.action in REPLAYABLE_ACTIONS,
    }


def shared_action_item(
    transition: Transition, issue: Issue, user, shared: dict[tuple, IssueActionForm]
) -> dict[str, Any]:
    """`action_item` for a queue that offers the same action on many cases: cases whose
    unbound forms would be alike share one, which the page draws once and gives each case
    with its own field ids, anchor and client token (`issue_actions.action_form`).

    An unbound IssueActionForm depends on its case through the inputs the case requires and
    its escalation level; `shared` maps those (and the action) to the form.
    """
    key = (transition.action, workflow.required_inputs(transition, issue), issue.escalation_level)
    form = shared.get(key)
    if form is None:
        form = shared[key] = IssueActionForm(
            transition=transition,
            issue=issue,
            user=user,
            auto_id=f"id_{issue_actions.CASE_PK}_%s",
            initial={"client_token": issue_actions.CLIENT_UUID},
        )
    item = action_item(transition, form, anchor=f"action-{transition.action}-{issue.pk}")
    item["shared"] = True
    return item


def detail_context(
    request: HttpRequest, issue: Issue, *, bound_form: IssueActionForm | None = None
) -> dict[str, Any]:
    """Everything the detail page shows, in a fixed number of queries whatever the history."""
    user = request.user
    photos = _of_case(CASE_PHOTOS, issue)
    photos_by_event: dict[int, list[Photo]] = defaultdict(list)
    for photo in photos:
        if photo.event_id:
            photos_by_event[photo.event_id].append(photo)
    events = _of_case(CASE_EVENTS, issue)
    previous_organisation_id = None
    for event in events:
        event.photo_list = photos_by_event.get(event.pk, [])
        # The timeline names the organisation when it changes, not on every line.
        event.organisation_changed = event.organisation_id != previous_organisation_id
        previous_organisation_id = event.organisation_id or previous_organisation_id
        event.role_label = event.actor_role_label
    extensions = _of_case(CASE_EXTENSIONS, issue)
    pending_extension = next(
        (e for e in extensions if e.status == ExtensionRequest.Status.PENDING), None
    )
    transitions = permissions.available_actions(
        issue, user, has_pending_extension=pending_extension is not None
    )
    returns = [event for event in reversed(events) if event.action == Action.RETURN]
    decision: RoutingDecision | None = None
    if issue.is_open or _needs_routing(transitions):
        decision = route(
            category=issue.category,
            community=issue.community,
            point=issue.point,
            exclude=selectors.returning_organisations(returns),
        )
    suggested_deadline = (
        calendar.deadline_for(issue.category, timezone.now())
        if _needs_deadline(transitions)
        else None
    )
    action_forms = []
    for transition in transitions:
        if bound_form is not None and bound_form.action == transition.action:
            form = bound_form
        else:
            form = IssueActionForm(
                transition=transition,
                issue=issue,
                user=user,
                suggested_organisation=decision.organisation if decision else None,
                suggested_deadline=suggested_deadline,
            )
        action_forms.append(action_item(transition, form))
    # "Mark as duplicate" offers likely originals (issues.selectors), still taking any number.
    duplicate_candidates: list[Issue] = []
    for item in action_forms:
        if "duplicate_of" in item["form"].fields:
            duplicate_candidates = selectors.duplicate_candidates(issue, user)
            item["form"].fields["duplicate_of"].widget.attrs["list"] = "duplicate-candidates"
    # The main action leads; the rest keep the table's order.
    action_forms.sort(key=lambda item: not item["primary"])
    if action_forms and not any(item["open"] for item in action_forms):
        action_forms[0]["open"] = action_forms[0]["primary"]
    map_url = (
        amap_marker_url(issue.latitude, issue.longitude, issue.point.name if issue.point else "")
        if issue.latitude is not None and issue.longitude is not None
        else (
            amap_marker_url(issue.point.latitude, issue.point.longitude, issue.point.name)
            if issue.point
            else ""
        )
    )
    return {
        "issue": issue,
        "duplicate_candidates": duplicate_candidates,
        "photo_groups": _photo_groups(photos),
        "photo_count": len(photos),
        "events": events,
        "extensions": extensions,
        "pending_extension": pending_extension,
        "action_forms": action_forms,
        "routing": decision,
        # The latest return (回退): while the case waits for a new owner, its reason leads.
        "last_return": returns[0] if returns and issue.status == Status.REPORTED else None,
        "timer_light": issue.timer_light(),
        "is_overdue": issue.is_overdue(),
        "map_url": map_url,
    }


@login_required
@require_GET
@offline_cacheable
def issue_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The issue page: photos, status, place, responsibility, timeline and the user's actions."""
    issue = get_issue_for_user(request.user, pk)
    return render(request, "issues/detail.html", detail_context(request, issue))


def _wants_json(request: HttpRequest) -> bool:
    # The outbox (static/js/outbox-core.js) replays phone forms and asks for JSON answers.
    return "application/json" in request.headers.get("Accept", "")


def _refusal(status: int, message: str, errors: dict | None = None) -> JsonResponse:
    """A refusal the outbox shows as it is: the phone keeps the item with this message."""
    return JsonResponse({"ok": False, "message": message, "errors": errors or {}}, status=status)


def _replayed_token(request: HttpRequest, action: str) -> uuid.UUID | None:
    if action not in REPLAYABLE_ACTIONS:
        return None
    try:
        return uuid.UUID(request.POST.get(f"{action}-client_token", ""))
    except ValueError:
        return None


@login_required
@require_POST
def issue_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Take one workflow action: 404 outside scope, 403 if not allowed, a message if stale.

    Asked for JSON (the phone's outbox), it answers `{"ok": true, "url": ...}` or a refusal with
    a message: 404, 403, 409 when the case has moved on, 422 for invalid input. A resend with
    the client token of an action already recorded answers ok and records nothing.
    """
    if not _wants_json(request):
        return _issue_act(request, pk, action)
    try:
        return _issue_act(request, pk, action)
    except Http404:
        return _refusal(404, _("This issue does not exist or is not in your area."))
    except PermissionDenied as error:
        return _refusal(403, str(error) or _("You may not take this action on this issue."))


def _issue_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    issue = get_issue_for_user(request.user, pk)
    try:
        transition = workflow.TRANSITIONS[Action(action)]
        service = services.SERVICE_FOR_ACTION[transition.action]
    except (ValueError, KeyError) as error:
        raise Http404 from error
    back = safe_next_url(request) or issue.get_absolute_url()
    wants_json = _wants_json(request)
    token = _replayed_token(request, transition.action)
    try:
        replayed = services.replayed_event(issue=issue, actor=request.user, client_token=token)
    except ValidationError as error:
        if wants_json:
            return _refusal(409, " ".join(error.messages))
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    if replayed is not None:
        # A resend from the phone of an action the first send already recorded.
        if wants_json:
            return JsonResponse({"ok": True, "url": back, "repeated": True})
        messages.info(request, _("This was already recorded."))
        return redirect(back)
    try:
        # A role that may never act is refused (403); someone who could have acted a moment ago,
        # on a page left open while someone else acted, gets a message instead.
        services.require(issue, transition.action, request.user)
    except TransitionError as error:
        if wants_json:
            return _refusal(409, " ".join(error.messages))
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    extension = None
    if transition.action in EXTENSION_DECISIONS:
        extension = issue.extension_requests.filter(status=ExtensionRequest.Status.PENDING).first()
        if extension is None:
            if wants_json:
                return _refusal(409, _("There is no pending extension request to decide."))
            messages.error(request, _("There is no pending extension request to decide."))
            return redirect(back)
    form = IssueActionForm(
        request.POST, request.FILES, transition=transition, issue=issue, user=request.user
    )
    if form.is_valid():
        target = {"extension": extension} if extension is not None else {"issue": issue}
        try:
            service(**target, actor=request.user, **form.service_kwargs())
        except TransitionError as error:  # someone else acted between our check and the lock
            if wants_json:
                return _refusal(409, " ".join(error.messages))
            messages.error(request, " ".join(error.messages))
            return redirect(back)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            done = _("%(action)s: done for %(number)s.") % {
                "action": transition.label,
                "number": issue.case_number,
            }
            if not Issue.objects.visible_to(request.user).filter(pk=issue.pk).exists():
                # A returned case is no longer the organisation's: back to the queue, not a 404.
                messages.success(request, f"{done} {_('The case has left your queue.')}")
                if wants_json:
                    return JsonResponse({"ok": True, "url": reverse("home")})
                return redirect("home")
            messages.success(request, done)
            if wants_json:
                return JsonResponse({"ok": True, "url": back})
            return redirect(back)
    if wants_json:
        return _refusal(
            422,
            _("The action was not recorded. Please check what you entered."),
            form.errors.get_json_data(),
        )
    return render(request, "issues/detail.html", detail_context(request, issue, bound_form=form))
