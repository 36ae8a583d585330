"""Every write of the rounds app: create, clone and close rounds; visits and their observations.

Writes to a visit are idempotent on the client's token and carry the capture time the phone
recorded (`observed_at`) apart from the time the server received them, so a phone that lost its
connection may replay its queue in any order: a replayed token changes nothing, and an older mark
never overwrites a newer one of the same standard. Cases go through `issues.services`, so routing,
deadlines and reminders apply as to any report.
"""

from __future__ import annotations

import datetime
import logging
import math
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from districts import policy
from districts.geo import distance_m
from districts.models import CheckItem, District, InspectionPoint, Organisation, Role
from issues import services as issue_services
from issues.models import Status as IssueStatus
from issues.photos import PreparedPhoto, prepare_photos
from rounds import permissions
from rounds.models import Observation, Round, RoundPoint, Visit

logger = logging.getLogger(__name__)

# A token namespace for the case an observation files: one observation, one case, ever.
CASE_TOKEN_NAMESPACE = uuid.UUID("6f1c2a4e-4b1d-4f0e-9a57-0c1d7e3b5a10")
# The balanced assignment: k-means passes, and how many nearest centres each point bids for.
PASSES = 5
NEAREST_CENTRES = 8
# How far ahead of the server's clock a phone's capture time may be before it is not believed.
CLOCK_SKEW = datetime.timedelta(minutes=5)


class RoundClosed(ValidationError):
    """A write to a round that was closed: it is read-only."""

    def __init__(self) -> None:
        super().__init__(_("This round is closed; nothing can be changed."), code="closed")


def far_radius_m() -> float:
    """The distance beyond which a visit is flagged as far from its point (setting)."""
    return float(getattr(settings, "ROUNDS_FAR_VISIT_RADIUS_M", 200))


# --- drawing and assigning points (pure, reproducible) ----------------------------------------


def draw_points(points: Iterable[InspectionPoint], *, per_type: int, seed: int) -> list:
    """N points of each point type at random, the same for the same seed and the same points."""
    by_type: dict[int, list[InspectionPoint]] = {}
    for point in sorted(points, key=lambda p: p.pk):
        by_type.setdefault(point.point_type_id, []).append(point)
    rng = random.Random(seed)  # noqa: S311 - a reproducible draw, not a secret
    drawn: list[InspectionPoint] = []
    for type_id in sorted(by_type):
        candidates = by_type[type_id]
        drawn.extend(rng.sample(candidates, min(per_type, len(candidates))))
    return sorted(drawn, key=lambda p: p.pk)


@dataclass(frozen=True)
class Assignee:
    """Someone a point can go to: an inspector or a supervision group, and where they work."""

    key: tuple[str, int]
    district_ids: frozenset[int] | None  # None: every district


def _xy(point: InspectionPoint) -> tuple[float, float]:
    # Local flat coordinates in metres; a zone is small enough for this to rank distances.
    lat, lng = float(point.latitude), float(point.longitude)
    return lat * 111_320.0, lng * 111_320.0 * math.cos(math.radians(lat))


def assign_balanced(
    points: Sequence[InspectionPoint],
    assignees: Sequence[Assignee],
    *,
    seed: int,
    district_of: dict[int, int],
) -> dict[int, tuple[str, int]]:
    """Give each point to one assignee: near each other, and at most ceil(n / k) each.

    A few rounds of capacity-bounded k-means: centres start at seeded points, each pass gives
    every point (closest pairs first) to the nearest centre that still has room and covers the
    point's district, then moves each centre to the middle of its points. Returns point id →
    assignee key. Raises ValidationError if some point has nobody who covers its district.
    """
    if not points:
        return {}
    if not assignees:
        raise ValidationError({"inspectors": _("Choose at least one inspector or group.")})
    ordered = sorted(points, key=lambda p: p.pk)
    coords = {p.pk: _xy(p) for p in ordered}
    rng = random.Random(seed)  # noqa: S311
    starts = rng.sample(ordered, min(len(assignees), len(ordered)))
    centres = [coords[p.pk] for p in starts]
    centres += [centres[i % len(centres)] for i in range(len(assignees) - len(centres))]
    capacity = math.ceil(len(ordered) / len(assignees))

    every = list(range(len(assignees)))
    eligible: dict[int, list[int]] = {}
    for point in ordered:
        district = district_of[point.pk]
        allowed = [
            index
            for index in every
            if assignees[index].district_ids is None or district in assignees[index].district_ids
        ]
        if not allowed:
            raise ValidationError(
                {
                    "inspectors": _("Nobody chosen works in the district of “%(point)s”.")
                    % {"point": point.name}
                }
            )
        eligible[point.pk] = allowed

    result: dict[int, int] = {}
    for _pass in range(PASSES):
        # Each point bids for its few nearest centres only; the rest is a fallback below.
        pairs = []
        ranked: dict[int, list[tuple[float, int]]] = {}
        for point in ordered:
            x, y = coords[point.pk]
            distances = sorted(
                ((x - centres[i][0]) ** 2 + (y - centres[i][1]) ** 2, i) for i in eligible[point.pk]
            )
            ranked[point.pk] = distances
            pairs.extend((d, point.pk, i) for d, i in distances[:NEAREST_CENTRES])
        pairs.sort()
        load = [0] * len(assignees)
        result = {}
        for _distance, point_pk, index in pairs:
            if point_pk in result or load[index] >= capacity:
                continue
            result[point_pk] = index
            load[index] += 1
        for point in ordered:  # its nearest were full: the nearest with room, else the nearest
            if point.pk not in result:
                choices = ranked[point.pk]
                index = next((i for _d, i in choices if load[i] < capacity), choices[0][1])
                result[point.pk] = index
                load[index] += 1
        members: dict[int, list[tuple[float, float]]] = {}
        for point_pk, index in result.items():
            members.setdefault(index, []).append(coords[point_pk])
        moved = False
        for index, mine in members.items():
            centre = (sum(x for x, _ in mine) / len(mine), sum(y for _, y in mine) / len(mine))
            moved |= centre != centres[index]
            centres[index] = centre
        if not moved:
            break
    return {pk: assignees[index].key for pk, index in result.items()}


# --- rounds ------------------------------------------------------------------------------------


def _check_districts(actor: Any, districts: Sequence[District]) -> None:
    if not permissions.may_create_rounds(actor):
        raise PermissionDenied(_("Only supervisors and admins manage rounds."))
    if not districts:
        raise ValidationError({"districts": _("Choose at least one district.")})
    allowed = set(policy.supervised_districts(actor).values_list("pk", flat=True))
    if any(district.pk not in allowed for district in districts):
        raise PermissionDenied(_("You may manage rounds only in the districts you supervise."))


def _assignees(inspectors: Sequence[Any], groups: Sequence[Organisation]) -> list[Assignee]:
    found: list[Assignee] = []
    for user in sorted(inspectors, key=lambda u: u.pk):
        if policy.role_of(user) != Role.INSPECTOR:
            raise ValidationError(
                {"inspectors": _("“%(name)s” is not an inspector.") % {"name": user.get_username()}}
            )
        if policy.covers_all_districts(user):
            districts = None
        else:
            districts = frozenset(policy.districts_in_scope(user).values_list("pk", flat=True))
        found.append(Assignee(key=("inspector", user.pk), district_ids=districts))
    for group in sorted(groups, key=lambda g: g.pk):
        if group.kind != Organisation.Kind.SUPERVISION_GROUP:
            raise ValidationError(
                {"groups": _("“%(name)s” is not a supervision group.") % {"name": group.name}}
            )
        districts = frozenset({group.district_id}) if group.district_id else None
        found.append(Assignee(key=("group", group.pk), district_ids=districts))
    return found


def _write_round_points(round_: Round, assignment: dict[int, tuple[str, int]]) -> None:
    RoundPoint.objects.bulk_create(
        [
            RoundPoint(
                round=round_,
                point_id=point_pk,
                inspector_id=pk if kind == "inspector" else None,
                group_id=pk if kind == "group" else None,
            )
            for point_pk, (kind, pk) in sorted(assignment.items())
        ],
        batch_size=1000,
    )


def inline_max_points() -> int:
    """Rounds of up to this many points are prepared in the request; larger ones in a task."""
    return int(getattr(settings, "ROUNDS_INLINE_MAX_POINTS", 300))


def _in_background(size: int) -> bool:
    # In the embedded mode (no broker) tasks run eagerly anyway: prepare in the request then,
    # inside its transaction, rather than after the commit.
    eager = bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))
    return size > inline_max_points() and not eager


def _queue_prepare(round_: Round) -> None:
    from rounds.tasks import prepare_round_task

    round_id = round_.pk

    def send() -> None:
        try:
            prepare_round_task.delay(round_id=round_id)
        except Exception:  # the broker is down: `manage.py prepare_rounds` picks it up
            logger.exception("Could not queue the preparation of round %s", round_id)

    transaction.on_commit(send)


def _active_points(districts: Sequence[Any]) -> Any:
    return InspectionPoint.objects.active().filter(community__district__in=districts)


def _expected_size(districts: Sequence[District], selection: str, per_type: int | None) -> int:
    """How many points the round will have, from one grouped count (no point is loaded)."""
    counts = _active_points(districts).values("point_type_id").annotate(n=Count("pk")).order_by()
    if selection == Round.Selection.DRAW:
        return sum(min(per_type or 0, row["n"]) for row in counts)
    return sum(row["n"] for row in counts)


def _check_coverage(districts: Sequence[District], assignees: Sequence[Assignee]) -> None:
    """Refuse now what the assignment would refuse later: a district nobody chosen works in."""
    if not assignees:
        raise ValidationError({"inspectors": _("Choose at least one inspector or group.")})
    used = set(
        _active_points(districts).values_list("community__district_id", flat=True).distinct()
    )
    names = {district.pk: district.name for district in districts}
    for district_id in sorted(used):
        if not any(a.district_ids is None or district_id in a.district_ids for a in assignees):
            raise ValidationError(
                {
                    "inspectors": _("Nobody chosen works in the district “%(district)s”.")
                    % {"district": names.get(district_id, district_id)}
                }
            )


@transaction.atomic
def round_create(
    *,
    actor: Any,
    name: str,
    kind: str,
    starts_on: datetime.date,
    ends_on: datetime.date,
    districts: Sequence[District],
    selection: str = Round.Selection.ALL,
    draw_per_type: int | None = None,
    seed: int | None = None,
    inspectors: Sequence[Any] = (),
    groups: Sequence[Organisation] = (),
) -> Round:
    """Start a round: pick its points (all or a seeded draw) and assign each to one assignee.

    The round and its choices are recorded at once. A round of more than
    `ROUNDS_INLINE_MAX_POINTS` points is "being prepared" until `prepare_round_task` has drawn
    and assigned its points (the same from the stored seed, wherever it runs); a smaller one,
    or any in the embedded mode, is prepared before this returns.
    """
    _check_districts(actor, districts)
    errors: dict[str, Any] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Give the round a name.")
    if kind not in Round.Kind.values:
        errors["kind"] = _("Choose a kind of round.")
    if ends_on < starts_on:
        errors["ends_on"] = _("The end date is before the start date.")
    if selection not in Round.Selection.values:
        errors["selection"] = _("Choose which points to inspect.")
    if selection == Round.Selection.DRAW:
        if not draw_per_type or draw_per_type < 1:
            errors["draw_per_type"] = _("Say how many points to draw per point type.")
        if seed is None:
            seed = random.SystemRandom().randrange(1, 2**31)
    else:
        draw_per_type = None
        seed = None
    if errors:
        raise ValidationError(errors)
    size = _expected_size(districts, selection, draw_per_type)
    if not size:
        raise ValidationError({"districts": _("These districts have no active points.")})
    _check_coverage(districts, _assignees(inspectors, groups))
    round_ = Round.objects.create(
        name=name,
        kind=kind,
        starts_on=starts_on,
        ends_on=ends_on,
        selection=selection,
        draw_per_type=draw_per_type,
        seed=seed,
        status=Round.Status.PREPARING,
        created_by=actor,
    )
    round_.districts.set(districts)
    round_.inspectors.set(inspectors)
    round_.groups.set(groups)
    return _prepare_or_queue(round_, size)


def _prepare_or_queue(round_: Round, size: int) -> Round:
    if _in_background(size):
        _queue_prepare(round_)
        return round_
    return round_prepare(round_id=round_.pk) or round_


def _draw_and_assign(round_: Round) -> dict[int, tuple[str, int]]:
    """The round's points and who walks each, from its stored choices and seed."""
    districts = list(round_.districts.all())
    points = list(_active_points(districts).select_related("community").order_by("pk"))
    if round_.selection == Round.Selection.DRAW:
        points = draw_points(points, per_type=round_.draw_per_type or 0, seed=round_.seed or 0)
    if not points:
        raise ValidationError({"districts": _("These districts have no active points.")})
    assignees = _assignees(list(round_.inspectors.all()), list(round_.groups.all()))
    return assign_balanced(
        points,
        assignees,
        seed=round_.seed if round_.seed is not None else 0,
        district_of={p.pk: p.community.district_id for p in points},
    )


@transaction.atomic
def round_prepare(*, round_id: int) -> Round | None:
    """Draw and assign a round's points and open it; a round already prepared is left alone.

    A clone copies its source's points and assignees. The round row is locked, so two
    workers given the same round prepare it once. A refusal (the districts lost their points,
    an inspector left) is recorded on the round, which stays "being prepared".
    """
    round_ = Round.objects.select_for_update().filter(pk=round_id).first()
    if round_ is None or round_.status != Round.Status.PREPARING:
        return round_
    try:
        with transaction.atomic():
            if round_.cloned_from_id is not None:
                _copy_round_points(round_.cloned_from_id, round_)
            else:
                _write_round_points(round_, _draw_and_assign(round_))
    except ValidationError as error:
        round_.prepare_error = "; ".join(str(m) for m in error.messages)[:2000]
        round_.save(update_fields=["prepare_error"])
        return round_
    round_.status = Round.Status.OPEN
    round_.prepare_error = ""
    round_.save(update_fields=["status", "prepare_error"])
    return round_


def _copy_round_points(source_id: int, round_: Round) -> None:
    rows = RoundPoint.objects.filter(round_id=source_id).order_by("pk")
    RoundPoint.objects.bulk_create(
        [
            RoundPoint(round=round_, point_id=point, inspector_id=inspector, group_id=group)
            for point, inspector, group in rows.values_list("point_id", "inspector_id", "group_id")
        ],
        batch_size=1000,
    )


def _require_prepared(round_: Round) -> None:
    if round_.status == Round.Status.PREPARING:
        raise ValidationError(_("The round is still being prepared; try again in a moment."))


@transaction.atomic
def round_clone(*, round_: Round, actor: Any, name: str = "") -> Round:
    """A copy for next week: same kind, districts, points and assignees, dates a week later."""
    if not permissions.may_manage_round(actor, round_):
        raise PermissionDenied(_("You may not manage this round."))
    _require_prepared(round_)
    districts = list(round_.districts.all())
    _check_districts(actor, districts)
    week = datetime.timedelta(days=7)
    clone = Round.objects.create(
        name=(name or "").strip() or _("%(name)s (next week)") % {"name": round_.name},
        kind=round_.kind,
        starts_on=round_.starts_on + week,
        ends_on=round_.ends_on + week,
        selection=round_.selection,
        draw_per_type=round_.draw_per_type,
        seed=round_.seed,
        status=Round.Status.PREPARING,
        cloned_from=round_,
        created_by=actor,
    )
    clone.districts.set(districts)
    clone.inspectors.set(round_.inspectors.all())
    clone.groups.set(round_.groups.all())
    return _prepare_or_queue(clone, round_.round_points.count())


@transaction.atomic
def round_close(*, round_: Round, actor: Any) -> Round:
    """Close the round: from now on it is read-only. Closing twice changes nothing."""
    if not permissions.may_manage_round(actor, round_):
        raise PermissionDenied(_("You may not manage this round."))
    round_ = Round.objects.select_for_update().get(pk=round_.pk)
    if round_.status == Round.Status.CLOSED:
        return round_
    _require_prepared(round_)
    round_.status = Round.Status.CLOSED
    round_.closed_at = timezone.now()
    round_.closed_by = actor
    round_.save(update_fields=["status", "closed_at", "closed_by"])
    return round_


@transaction.atomic
def round_update(
    *, round_: Round, actor: Any, name: str, starts_on: datetime.date, ends_on: datetime.date
) -> Round:
    """Rename or move an open round's dates; a closed round is read-only."""
    if not permissions.may_manage_round(actor, round_):
        raise PermissionDenied(_("You may not manage this round."))
    round_ = Round.objects.select_for_update().get(pk=round_.pk)
    if round_.status == Round.Status.CLOSED:
        raise RoundClosed()
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the round a name.")})
    if ends_on < starts_on:
        raise ValidationError({"ends_on": _("The end date is before the start date.")})
    round_.name, round_.starts_on, round_.ends_on = name, starts_on, ends_on
    round_.save(update_fields=["name", "starts_on", "ends_on"])
    return round_


def validate_reassignment(*, round_point: RoundPoint, inspector: Any, group: Any) -> None:
    """Why the point may not go to this inspector or group (ValidationError), if it may not."""
    if not round_point.round.is_open:
        raise RoundClosed()
    if (inspector is None) == (group is None):
        raise ValidationError(_("Choose one inspector or one supervision group."))
    if Visit.objects.filter(round_point=round_point).exists():
        raise ValidationError(_("This point was already visited; it stays with its walker."))
    (assignee,) = _assignees([inspector] if inspector else [], [group] if group else [])
    district = round_point.point.community.district_id
    if assignee.district_ids is not None and district not in assignee.district_ids:
        raise ValidationError(
            _("Nobody chosen works in the district of “%(point)s”.")
            % {"point": round_point.point.name}
        )


@transaction.atomic
def round_point_reassign(
    *,
    round_point: RoundPoint,
    actor: Any,
    inspector: Any = None,
    group: Organisation | None = None,
) -> RoundPoint:
    """Give a point of an open round to another inspector or group, before anyone walks it."""
    round_point = (
        RoundPoint.objects.select_for_update(of=("self",))
        .select_related("round", "point__community")
        .get(pk=round_point.pk)
    )
    if not permissions.may_manage_round(actor, round_point.round):
        raise PermissionDenied(_("You may not manage this round."))
    validate_reassignment(round_point=round_point, inspector=inspector, group=group)
    round_point.inspector = inspector
    round_point.group = group
    round_point.save(update_fields=["inspector", "group"])
    return round_point


# --- visits and observations -------------------------------------------------------------------


def _token(value: Any, field: str = "client_token") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError) as error:
        raise ValidationError({field: _("A client token (UUID) is required.")}) from error


def _capture_time(value: datetime.datetime | None, now: datetime.datetime) -> datetime.datetime:
    if value is None:
        return now
    if timezone.is_naive(value):
        raise ValidationError({"observed_at": _("Give the time with its time zone.")})
    # A phone whose clock runs ahead is not believed beyond the skew; the server's time stands.
    return min(value, now + CLOCK_SKEW)


def _lock_round_point(round_point: RoundPoint, actor: Any) -> RoundPoint:
    locked = (
        RoundPoint.objects.select_for_update(of=("self",))
        .select_related("round", "point")
        .get(pk=round_point.pk)
    )
    if not permissions.may_walk(actor, locked):
        raise PermissionDenied(_("This point is not assigned to you."))
    if not locked.round.is_open:
        raise RoundClosed()
    return locked


def _coordinates(
    latitude: Any, longitude: Any, accuracy_m: Any
) -> tuple[Decimal | None, Decimal | None, float | None]:
    if latitude in (None, "") or longitude in (None, ""):
        return None, None, None
    try:
        lat = Decimal(str(latitude)).quantize(Decimal("0.000001"))
        lng = Decimal(str(longitude)).quantize(Decimal("0.000001"))
        accuracy = float(accuracy_m) if accuracy_m not in (None, "") else None
    except (ArithmeticError, ValueError) as error:
        raise ValidationError({"latitude": _("Not a valid coordinate.")}) from error
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (accuracy is not None and accuracy < 0):
        raise ValidationError({"latitude": _("Not a valid coordinate.")})
    if accuracy is not None and not math.isfinite(accuracy):
        raise ValidationError({"accuracy_m": _("Not a valid accuracy.")})
    return lat, lng, accuracy


def _ensure_visit(
    round_point: RoundPoint,
    actor: Any,
    *,
    started_at: datetime.datetime,
    now: datetime.datetime,
    latitude: Any = None,
    longitude: Any = None,
    accuracy_m: Any = None,
    client_token: uuid.UUID | None = None,
) -> Visit:
    lat, lng, accuracy = _coordinates(latitude, longitude, accuracy_m)
    visit = Visit.objects.filter(round_point=round_point).first()
    changed = visit is None
    if visit is None:
        visit = Visit(
            round_point=round_point,
            inspector=actor,
            started_at=started_at,
            received_at=now,
            client_token=client_token,
        )
    elif started_at < visit.started_at:
        visit.started_at = started_at  # a replayed earlier start is the true one
        changed = True
    if lat is not None and visit.latitude is None:
        changed = True
        distance = distance_m(
            float(lat),
            float(lng),
            float(round_point.point.latitude),
            float(round_point.point.longitude),
        )
        visit.latitude, visit.longitude, visit.accuracy_m = lat, lng, accuracy
        visit.distance_m = round(distance, 1)
        # Recorded and flagged, never refused: the supervisor judges the far visits.
        visit.is_far = distance > far_radius_m()
    if changed:
        visit.save()
    return visit


@transaction.atomic
def visit_start(
    *,
    round_point: RoundPoint,
    actor: Any,
    client_token: Any,
    started_at: datetime.datetime | None = None,
    latitude: Any = None,
    longitude: Any = None,
    accuracy_m: Any = None,
) -> Visit:
    """Open the visit with the phone's position; a visit far from the point is flagged."""
    token = _token(client_token)
    round_point = _lock_round_point(round_point, actor)
    now = timezone.now()
    existing = Visit.objects.filter(client_token=token).first()
    if existing is not None:
        if existing.round_point_id != round_point.pk:
            raise ValidationError({"client_token": _("This token was used for another visit.")})
        return existing
    return _ensure_visit(
        round_point,
        actor,
        started_at=_capture_time(started_at, now),
        now=now,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy_m,
        client_token=token,
    )


def missing_photos(round_point: RoundPoint) -> list[Observation]:
    """Failed observations whose standard asks for a photo that is not there yet."""
    required = set(
        CheckItem.objects.filter(
            pk__in=round_point.observations.values("check_item"), photo_required_on_fail=True
        ).values_list("pk", flat=True)
    )
    return [
        obs
        for obs in round_point.observations.filter(result=Observation.Result.FAILED, photo="")
        if obs.check_item_id in required
    ]


@transaction.atomic
def visit_finish(
    *,
    round_point: RoundPoint,
    actor: Any,
    finished_at: datetime.datetime | None = None,
    latitude: Any = None,
    longitude: Any = None,
    accuracy_m: Any = None,
) -> Visit:
    """Finish the visit; refused while a failed standard still needs its photo. Idempotent."""
    round_point = _lock_round_point(round_point, actor)
    now = timezone.now()
    finished_at = _capture_time(finished_at, now)
    visit = _ensure_visit(
        round_point,
        actor,
        started_at=finished_at,
        now=now,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy_m,
    )
    if visit.finished_at is not None:
        return visit
    if missing_photos(round_point):
        raise ValidationError(_("Add the photos of the failed standards before finishing."))
    visit.finished_at = max(finished_at, visit.started_at)
    visit.save(update_fields=["finished_at"])
    return visit


def prepare_upload(uploads: Sequence[Any]) -> list[PreparedPhoto]:
    """The issues app's photo checks and re-encoding, for a failed standard's photo."""
    return prepare_photos(list(uploads)) if uploads else []


@dataclass
class ObservationOutcome:
    """What a recorded mark did: the row, whether this request changed it, the case if any."""

    observation: Observation
    applied: bool


@transaction.atomic
def observation_record(
    *,
    round_point: RoundPoint,
    actor: Any,
    check_item: CheckItem,
    result: str,
    client_token: Any,
    observed_at: datetime.datetime | None = None,
    note: str = "",
    photos: Sequence[PreparedPhoto] = (),
    latitude: Any = None,
    longitude: Any = None,
    accuracy_m: Any = None,
) -> ObservationOutcome:
    """Mark one standard yes / no / n.a. at the point, copying its text and weight as they are.

    The same token twice changes nothing. A mark captured before the one stored is ignored
    (the later capture wins, whatever order they arrive in). A "yes" or "n.a." keeps a case
    already filed from an earlier "no".
    """
    token = _token(client_token)
    if result not in Observation.Result.values:
        raise ValidationError({"result": _("Choose yes, no or not applicable.")})
    round_point = _lock_round_point(round_point, actor)
    if check_item.point_type_id != round_point.point.point_type_id:
        raise ValidationError({"check_item": _("This standard is not one of this point's.")})
    replay = Observation.objects.filter(client_token=token).first()
    if replay is not None:
        if replay.round_point_id != round_point.pk or replay.check_item_id != check_item.pk:
            raise ValidationError({"client_token": _("This token was used for another mark.")})
        return ObservationOutcome(replay, applied=False)
    now = timezone.now()
    observed_at = _capture_time(observed_at, now)
    _ensure_visit(
        round_point,
        actor,
        started_at=observed_at,
        now=now,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy_m,
    )
    observation = (
        Observation.objects.select_for_update()
        .filter(round_point=round_point, check_item=check_item)
        .first()
    )
    if observation is None:
        if not check_item.is_active:
            raise ValidationError({"check_item": _("This standard is no longer checked.")})
        observation = Observation(
            round_point=round_point,
            check_item=check_item,
            text=check_item.text,
            weight=check_item.weight,
            category_id=check_item.category_id,
        )
    elif observed_at < observation.observed_at:
        return ObservationOutcome(observation, applied=False)
    observation.result = result
    observation.note = (note or "").strip()[:200]
    observation.inspector = actor
    observation.observed_at = observed_at
    observation.received_at = now
    observation.client_token = token
    if photos:
        observation.photo.save(f"{token.hex}.jpg", ContentFile(photos[0].content), save=False)
    observation.save()
    round_point_recount(round_point=round_point)
    return ObservationOutcome(observation, applied=True)


def _recount(round_points: Any) -> None:
    """Refresh the rows' weighted sums from their observations in one UPDATE."""
    points = Observation.objects.filter(round_point=OuterRef("pk")).order_by().values("round_point")
    met = points.annotate(total=Sum("weight", filter=Q(result=Observation.Result.MET))).values(
        "total"
    )
    applicable = points.annotate(
        total=Sum(
            "weight", filter=Q(result__in=[Observation.Result.MET, Observation.Result.FAILED])
        )
    ).values("total")
    marked = points.annotate(total=Count("pk")).values("total")
    round_points.update(
        met_weight=Coalesce(Subquery(met), 0),
        applicable_weight=Coalesce(Subquery(applicable), 0),
        marked=Coalesce(Subquery(marked), 0),
    )


def round_point_recount(*, round_point: RoundPoint) -> None:
    """Refresh the point's weighted sums from its observations (inside the caller's lock)."""
    _recount(RoundPoint.objects.filter(pk=round_point.pk))


@transaction.atomic
def round_recount(*, round_: Round) -> None:
    """Refresh every point's sums of a round in one statement (after a bulk load or a repair)."""
    _recount(RoundPoint.objects.filter(round=round_))


def _photo_of(observation: Observation) -> list[PreparedPhoto]:
    if not observation.photo:
        return []
    with observation.photo.open("rb") as handle:
        content = handle.read()
    return prepare_photos([SimpleUploadedFile("observation.jpg", content, "image/jpeg")])


def case_token(observation: Observation) -> uuid.UUID:
    """The client token of the case an observation files: the same for every retry."""
    return uuid.uuid5(CASE_TOKEN_NAMESPACE, f"observation-{observation.pk}")


@transaction.atomic
def observation_file_case(*, observation: Observation, actor: Any) -> Observation:
    """File the failed standard as a case through the report service, once only.

    Prefilled with the point, the standard's linked category, its photo and text. Retrying
    returns the case already filed (the observation row lock and the case token both ensure it).
    """
    observation = (
        Observation.objects.select_for_update(of=("self",))
        .select_related("round_point__round", "round_point__point", "category", "issue")
        .get(pk=observation.pk)
    )
    round_point = _lock_round_point(observation.round_point, actor)
    if observation.issue_id is not None:
        return observation
    if observation.result != Observation.Result.FAILED:
        raise ValidationError(_("Only a failed standard can be filed as a case."))
    if observation.category is None:
        raise ValidationError(_("This standard has no linked category; report it by hand."))
    photos = _photo_of(observation)
    check_item = CheckItem.objects.filter(pk=observation.check_item_id).first()
    if check_item is not None and check_item.photo_required_on_fail and not photos:
        raise ValidationError({"photo": _("Take a photo of the failed standard first.")})
    visit = Visit.objects.filter(round_point=round_point).first()
    description = observation.text
    if observation.note:
        description = f"{observation.text}:{observation.note}"
    try:
        issue = issue_services.issue_create(
            reporter=actor,
            category=observation.category,
            description=description,
            point=round_point.point,
            latitude=visit.latitude if visit else None,
            longitude=visit.longitude if visit else None,
            accuracy_m=visit.accuracy_m if visit else None,
            photos=photos,
            client_token=case_token(observation),
        )
    except IntegrityError:  # pragma: no cover - the row lock serialises retries
        raise
    observation.issue = issue
    observation.save(update_fields=["issue"])
    return observation


@transaction.atomic
def observation_fix_on_spot(
    *, observation: Observation, actor: Any, photos: Sequence[PreparedPhoto], note: str = ""
) -> Observation:
    """Fixed there and then (自处置): file the case if needed and close it with after-photos."""
    observation = observation_file_case(observation=observation, actor=actor)
    issue = observation.issue
    if issue.status == IssueStatus.CLOSED:
        return observation
    if not observation.category.on_spot_fix_allowed:
        raise ValidationError(_("This category may not be fixed on the spot."))
    issue_services.issue_fix_on_spot(issue=issue, actor=actor, photos=photos, note=note)
    observation.issue.refresh_from_db()
    return observation
