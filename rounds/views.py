"""Round pages: the list, a new round, the phone's worklist and visit, the results and export.

Access: a round outside the user's scope is 404 (`permissions.rounds_visible_to`); a visible
round whose page or action the role may not use is 403. Every change is a POST with CSRF.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from districts.inputs import parse_id
from issues.views.offline import offline_cacheable
from rounds import exports, permissions, selectors, services
from rounds.forms import FixForm, MarkForm, RoundForm, VisitForm
from rounds.models import Observation, Round, RoundPoint


def get_round_for_user(user: Any, pk: int) -> Round:
    """The round if the user may open it at all; 404 otherwise, as for no round."""
    return get_object_or_404(permissions.rounds_visible_to(user), pk=pk)


def get_round_point_for_walker(user: Any, round_pk: int, pk: int) -> RoundPoint:
    """The round point if assigned to the user (open or closed round; writes then say 409).

    A point the user may see but not mark (a supervisor reading the round) is 403; a point
    outside their rounds, or of someone else, is 404.
    """
    round_point = (
        RoundPoint.objects.filter(round_id=round_pk, pk=pk)
        .select_related("round", "point__point_type", "point__community")
        .first()
    )
    if round_point is None:
        raise Http404
    if permissions.may_walk(user, round_point):
        return round_point
    if permissions.rounds_visible_to(user).filter(pk=round_pk).exists() and (
        permissions.may_read_results(user, round_point.round)
    ):
        raise PermissionDenied
    raise Http404


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "") or (
        request.content_type == "application/json"
    )


def _payload(request: HttpRequest) -> dict[str, Any] | None:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None
    return request.POST.dict()


def _errors(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in error.message_dict.items()}
    return {"__all__": [str(m) for m in error.messages]}


def _json_error(status: int, **body: Any) -> JsonResponse:
    return JsonResponse({"ok": False, **body}, status=status)


def _json_refusals(view: Any) -> Any:
    """A phone's replayed write gets its 404 / 403 as JSON with a message the outbox shows."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404:
            if not _wants_json(request):
                raise
            return _json_error(404, message=_("This point is not in your rounds."))
        except PermissionDenied:
            if not _wants_json(request):
                raise
            return _json_error(403, message=_("You may not mark this point."))

    return wrapper


# --- list and management --------------------------------------------------------------------


@login_required
@require_GET
def round_list(request: HttpRequest) -> HttpResponse:
    """The rounds the user may open: to walk, to manage or to read."""
    rounds = list(selectors.rounds_for_list(request.user)[:100])
    return render(
        request,
        "rounds/list.html",
        {"rounds": rounds, "may_create": permissions.may_create_rounds(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def round_create(request: HttpRequest) -> HttpResponse:
    """A supervisor or admin starts a round in the districts they supervise."""
    if not permissions.may_create_rounds(request.user):
        raise PermissionDenied
    form = RoundForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            round_ = services.round_create(
                actor=request.user,
                name=data["name"],
                kind=data["kind"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                districts=list(data["districts"]),
                selection=data["selection"],
                draw_per_type=data["draw_per_type"],
                seed=data["seed"],
                inspectors=list(data["inspectors"]),
                groups=list(data["groups"]),
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("The round was created."))
            return redirect("rounds:round_results", pk=round_.pk)
    return render(request, "rounds/create.html", {"form": form})


def _add_errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _manage(request: HttpRequest, pk: int, act: Any, done: str) -> HttpResponse:
    """Clone or close: a manager of the round only (403), the result page after (or why not)."""
    round_ = get_round_for_user(request.user, pk)
    if not permissions.may_manage_round(request.user, round_):
        raise PermissionDenied
    try:
        target = act(round_=round_, actor=request.user)
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
        return redirect("rounds:round_results", pk=round_.pk)
    messages.success(request, done)
    return redirect("rounds:round_results", pk=target.pk)


@login_required
@require_POST
def round_clone(request: HttpRequest, pk: int) -> HttpResponse:
    """A copy of the round for next week (its page is the copy's)."""
    return _manage(request, pk, services.round_clone, _("The round was copied for next week."))


@login_required
@require_POST
def round_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Close the round: read-only from now on."""
    return _manage(
        request, pk, services.round_close, _("The round is closed; its results no longer change.")
    )


def _round_for_reader(user: Any, pk: int) -> Round:
    """The round if the user reads its results: 404 out of scope, 403 for a walker only."""
    round_ = get_round_for_user(user, pk)
    if not permissions.may_read_results(user, round_):
        raise PermissionDenied
    return round_


@login_required
@require_GET
def round_results(request: HttpRequest, pk: int) -> HttpResponse:
    """Scores per point, type, community, district and round; findings and cases. Fixed queries."""
    round_ = _round_for_reader(request.user, pk)
    if round_.is_preparing:
        # Drawn and assigned by a task: this page refreshes itself until the round is open.
        return render(request, "rounds/preparing.html", {"round": round_})
    page = parse_id(request.GET.get("page")) or 1
    return render(
        request,
        "rounds/results.html",
        {
            "round": round_,
            "results": selectors.results(round_, page=page),
            "round_can": permissions.capabilities(request.user, round_),
            "issue_list_url": reverse("issues:issue_list"),
        },
    )


@login_required
@require_GET
def round_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The results as an XLSX workbook."""
    round_ = _round_for_reader(request.user, pk)
    if round_.is_preparing:
        return redirect("rounds:round_results", pk=round_.pk)
    content = exports.results_workbook(selectors.results(round_, with_lists=None))
    response = HttpResponse(
        content,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="round-{round_.pk}.xlsx"'
    return response


# --- the phone -------------------------------------------------------------------------------


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    if number is None or number != number or abs(number) > 180:
        return None
    return number


@login_required
@require_GET
@offline_cacheable
def worklist(request: HttpRequest, pk: int) -> HttpResponse:
    """The inspector's points of an open round, nearest first from `?lat=&lng=` (set by JS)."""
    round_ = get_round_for_user(request.user, pk)
    if (
        not round_.is_open
        or not RoundPoint.objects.filter(
            permissions.assigned_to(request.user), round=round_
        ).exists()
    ):
        if permissions.may_read_results(request.user, round_):
            return redirect("rounds:round_results", pk=round_.pk)
        raise Http404
    latitude, longitude = _float(request.GET.get("lat")), _float(request.GET.get("lng"))
    if latitude is None or longitude is None:
        latitude = longitude = None
    items, visited, total = selectors.worklist(
        round_, request.user, latitude=latitude, longitude=longitude
    )
    return render(
        request,
        "rounds/worklist.html",
        {
            "round": round_,
            "items": items,
            "visited": visited,
            "total": total,
            "located": latitude is not None,
            "percent": round(100 * visited / total) if total else 0,
        },
    )


@login_required
@require_GET
@offline_cacheable
def visit_page(request: HttpRequest, pk: int, point_pk: int) -> HttpResponse:
    """A point's standards as big yes / no / n.a. buttons (forms without JavaScript)."""
    round_point = get_round_point_for_walker(request.user, pk, point_pk)
    if not round_point.round.is_open:
        raise Http404
    state = selectors.visit_state(round_point)
    for standard in state["standards"]:
        # A fresh token per rendered form: resubmitting the same form cannot record twice.
        standard["form_token"] = uuid.uuid4()
    return render(
        request,
        "rounds/visit.html",
        {
            "round": round_point.round,
            "round_point": round_point,
            "state": state,
            "standards": state["standards"],
            "far_radius_m": int(services.far_radius_m()),
            "start_token": uuid.uuid4(),
            "results": Observation.Result,
        },
    )


@login_required
@require_GET
def visit_api(request: HttpRequest, pk: int, point_pk: int) -> JsonResponse:
    """The visit's state as one JSON document: what the phone shows and replays against.

    GET  /rounds/<round>/points/<round_point>/state/ → 200
      {"round": int, "round_open": bool, "round_point": int,
       "point": {"id", "name", "address", "latitude", "longitude"},
       "visit": null | {"started_at": iso, "finished_at": iso|null, "latitude", "longitude",
                        "accuracy_m", "distance_m", "is_far": bool},
       "standards": [{"check_item": int, "text", "weight", "category": int|null,
                      "category_name", "on_spot_fix_allowed": bool, "photo_required": bool,
                      "result": "yes"|"no"|"na"|null, "note", "has_photo": bool,
                      "observed_at": iso|null, "client_token": uuid|null,
                      "observation": int|null,
                      "issue": null | {"id", "case_number", "status", "closed": bool}}]}

    Writes (POST, CSRF header `X-CSRFToken`; body `application/json`, or form fields of the
    same names, `multipart/form-data` when a photo rides along; send `Accept:
    application/json` to get JSON back, otherwise the page redirects):
      …/start/   {client_token: uuid, at?: iso, latitude?, longitude?, accuracy_m?}
      …/mark/    {check_item: int, result: "yes"|"no"|"na", client_token: uuid,
                  observed_at?: iso (capture time), note?: str ≤200, file_case?: bool,
                  latitude?, longitude?, accuracy_m?, photo?: file (multipart)}
      …/finish/  {at?: iso, latitude?, longitude?, accuracy_m?}
      /rounds/<round>/observations/<observation>/file/  {}   (file a failed standard as a case)
      /rounds/<round>/observations/<observation>/fix/   {note?, photo: file} (fixed on the spot)
    Every write answers 200 {"ok": true, "applied": bool, "state": <the document above>}.
    Idempotent: the same client_token again is 200 with "applied": false and changes nothing; a
    mark whose observed_at is older than the stored one is ignored ("applied": false); the
    observation's case is filed once whatever the retries. The server records its own receive
    time apart from observed_at. A visit beyond ROUNDS_FAR_VISIT_RADIUS_M (default 200 m) is
    stored with "is_far": true, never refused. Errors: 400 {"ok": false, "errors": {field:
    [message]}}; 403 not yours to mark; 404 unknown or out of scope; 409 {"ok": false,
    "error": "closed"} once the round is closed (drop the queued writes).
    """
    round_point = get_round_point_for_walker(request.user, pk, point_pk)
    return JsonResponse(selectors.visit_state(round_point))


def _answer(
    request: HttpRequest, round_point: RoundPoint, *, applied: bool, message: str = ""
) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(
            {"ok": True, "applied": applied, "state": selectors.visit_state(round_point)}
        )
    if message:
        messages.success(request, message)
    return redirect("rounds:visit_page", pk=round_point.round_id, point_pk=round_point.pk)


def _refuse(request: HttpRequest, round_point: RoundPoint, error: ValidationError) -> HttpResponse:
    if isinstance(error, services.RoundClosed):
        if _wants_json(request):
            # The message too: a queued mark refused later shows it in the outbox.
            return _json_error(409, error="closed", message=str(error.messages[0]))
        raise Http404
    if _wants_json(request):
        return _json_error(400, errors=_errors(error))
    for text in error.messages:
        messages.error(request, text)
    return redirect("rounds:visit_page", pk=round_point.round_id, point_pk=round_point.pk)


def _form_errors(request: HttpRequest, round_point: RoundPoint, form: Any) -> HttpResponse:
    if _wants_json(request):
        return _json_error(400, errors={k: list(v) for k, v in form.errors.items()})
    messages.error(request, _("The mark could not be saved; try again."))
    return redirect("rounds:visit_page", pk=round_point.round_id, point_pk=round_point.pk)


def _visit_write(
    request: HttpRequest,
    pk: int,
    point_pk: int,
    write: Callable[..., Any],
    done: Callable[[RoundPoint], HttpResponse],
) -> HttpResponse:
    """Read the visit form (JSON or fields), call the service, answer as `visit_api` says."""
    round_point = get_round_point_for_walker(request.user, pk, point_pk)
    data = _payload(request)
    form = VisitForm(data)
    if data is None or not form.is_valid():
        return _form_errors(request, round_point, form)
    cleaned = form.cleaned_data
    try:
        write(
            round_point=round_point,
            actor=request.user,
            at=cleaned["at"],
            token=cleaned["client_token"],
            latitude=cleaned["latitude"],
            longitude=cleaned["longitude"],
            accuracy_m=cleaned["accuracy_m"],
        )
    except ValidationError as error:
        return _refuse(request, round_point, error)
    return done(round_point)


@login_required
@require_POST
@_json_refusals
def visit_start(request: HttpRequest, pk: int, point_pk: int) -> HttpResponse:
    """Open the visit with the phone's GPS (see `visit_api` for the JSON contract)."""

    def start(*, at: Any, token: Any, **fields: Any) -> None:
        services.visit_start(client_token=token or uuid.uuid4(), started_at=at, **fields)

    return _visit_write(request, pk, point_pk, start, lambda rp: _answer(request, rp, applied=True))


@login_required
@require_POST
@_json_refusals
def visit_finish(request: HttpRequest, pk: int, point_pk: int) -> HttpResponse:
    """Finish the visit (see `visit_api` for the JSON contract); the form goes back to the list."""

    def finish(*, at: Any, token: Any, **fields: Any) -> None:
        services.visit_finish(finished_at=at, **fields)

    def done(round_point: RoundPoint) -> HttpResponse:
        if _wants_json(request):
            return _answer(request, round_point, applied=True)
        messages.success(request, _("Visit finished."))
        return redirect("rounds:worklist", pk=round_point.round_id)

    return _visit_write(request, pk, point_pk, finish, done)


@login_required
@require_POST
@_json_refusals
def visit_mark(request: HttpRequest, pk: int, point_pk: int) -> HttpResponse:
    """Save one tap on a standard; with `file_case` a "no" is filed as a case in the same tap.

    See `visit_api` for the JSON contract.
    """
    round_point = get_round_point_for_walker(request.user, pk, point_pk)
    data = _payload(request)
    form = MarkForm(data)
    if data is None or not form.is_valid():
        return _form_errors(request, round_point, form)
    cleaned = form.cleaned_data
    check_item = round_point.point.point_type.check_items.filter(pk=cleaned["check_item"]).first()
    if check_item is None:
        return _refuse(
            request,
            round_point,
            ValidationError({"check_item": _("This standard is not one of this point's.")}),
        )
    try:
        photos = services.prepare_upload(request.FILES.getlist("photo")[:1])
        outcome = services.observation_record(
            round_point=round_point,
            actor=request.user,
            check_item=check_item,
            result=cleaned["result"],
            client_token=cleaned["client_token"],
            observed_at=cleaned["observed_at"],
            note=cleaned["note"],
            photos=photos,
            latitude=cleaned["latitude"],
            longitude=cleaned["longitude"],
            accuracy_m=cleaned["accuracy_m"],
        )
        if cleaned["file_case"] and outcome.observation.result == Observation.Result.FAILED:
            services.observation_file_case(observation=outcome.observation, actor=request.user)
    except ValidationError as error:
        return _refuse(request, round_point, error)
    return _answer(request, round_point, applied=outcome.applied, message=_("Saved."))


def _observation_for_walker(user: Any, round_pk: int, pk: int) -> tuple[Observation, RoundPoint]:
    observation = Observation.objects.filter(pk=pk, round_point__round_id=round_pk).first()
    if observation is None:
        raise Http404
    return observation, get_round_point_for_walker(user, round_pk, observation.round_point_id)


@login_required
@require_POST
def observation_file(request: HttpRequest, pk: int, observation_pk: int) -> HttpResponse:
    """File a failed standard as a case, once (see `visit_api`)."""
    observation, round_point = _observation_for_walker(request.user, pk, observation_pk)
    had_case = observation.issue_id is not None
    try:
        services.observation_file_case(observation=observation, actor=request.user)
    except ValidationError as error:
        return _refuse(request, round_point, error)
    return _answer(request, round_point, applied=not had_case, message=_("The case was filed."))


@login_required
@require_POST
def observation_fix(request: HttpRequest, pk: int, observation_pk: int) -> HttpResponse:
    """Fixed on the spot (自处置) with an after-photo, where the category allows it."""
    observation, round_point = _observation_for_walker(request.user, pk, observation_pk)
    form = FixForm(request.POST)
    form.is_valid()
    try:
        photos = services.prepare_upload(request.FILES.getlist("photo")[:3])
        if not photos:
            raise ValidationError({"photo": _("Add a photo of the fixed place.")})
        services.observation_fix_on_spot(
            observation=observation,
            actor=request.user,
            photos=photos,
            note=form.cleaned_data.get("note", ""),
        )
    except ValidationError as error:
        return _refuse(request, round_point, error)
    except PermissionDenied as error:
        return _refuse(request, round_point, ValidationError(str(error)))
    return _answer(request, round_point, applied=True, message=_("Fixed on the spot."))


@login_required
@require_GET
def observation_photo(request: HttpRequest, pk: int, observation_pk: int) -> FileResponse:
    """A failed standard's photo, for the walker and for readers of the round's results."""
    round_ = get_round_for_user(request.user, pk)
    observation = get_object_or_404(
        Observation.objects.select_related("round_point"),
        pk=observation_pk,
        round_point__round=round_,
    )
    if not (
        permissions.may_walk(request.user, observation.round_point)
        or permissions.may_read_results(request.user, round_)
    ):
        raise Http404
    if not observation.photo:
        raise Http404
    try:
        handle = observation.photo.open("rb")
    except (FileNotFoundError, ValueError) as error:
        raise Http404 from error
    return FileResponse(handle, content_type="image/jpeg")
