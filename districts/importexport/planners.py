"""Checking every row of every sheet against the database and the file itself.

One query per kind fetches the existing rows by the codes the file mentions; each planner then
stages creates and updates in memory and records every bad cell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from districts.importexport.cells import RowReader
from districts.importexport.plan import ImportPlan, KindPlan, RowError
from districts.importexport.reading import Sheet
from districts.importexport.specs import KIND_ORDER, SPECS
from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    OwnerKind,
    PointType,
    Responsibility,
    Zone,
)
from districts.services import responsibility_validate_slot


def _max_length(model: type[models.Model], name: str) -> int:
    return model._meta.get_field(name).max_length  # type: ignore[return-value]


@dataclass
class _Context:
    """Objects by code: what the database has, overlaid with what the file creates or changes."""

    zone: Zone | None
    districts: dict[str, District]
    communities: dict[str, Community]
    points: dict[str, InspectionPoint]
    organisations: dict[str, Organisation]
    point_types: dict[str, PointType]
    categories: dict[str, Category]
    # Codes of rows in this file that had errors, so references to them explain themselves.
    bad: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def _collect_codes(sheets: list[Sheet]) -> dict[str, set[str]]:
    codes: dict[str, set[str]] = defaultdict(set)
    columns = {
        "district_code": "districts",
        "community_code": "communities",
        "point_code": "points",
        "organisation_code": "organisations",
        "parent_code": "organisations",
        "point_type_code": "point_types",
        "category_code": "categories",
        "zone_code": "zones",
    }
    for sheet in sheets:
        for _number, cells in sheet.rows:
            if sheet.kind != "responsibilities" and cells.get("code"):
                codes[sheet.kind].add(cells["code"])
            for column, kind in columns.items():
                if cells.get(column):
                    codes[kind].add(cells[column])
    return codes


def _default_zone() -> Zone | None:
    from django.conf import settings

    zones = list(Zone.objects.order_by("pk")[:2])
    preferred = getattr(settings, "DEFAULT_ZONE_CODE", "")
    for zone in zones:
        if zone.code == preferred:
            return zone
    if len(zones) == 1:
        return zones[0]
    return Zone.objects.filter(code=preferred).first()


def _build_context(sheets: list[Sheet]) -> _Context:
    codes = _collect_codes(sheets)
    # One query per kind, for exactly the codes the file mentions.
    return _Context(
        zone=_default_zone(),
        districts={d.code: d for d in District.objects.filter(code__in=codes["districts"])},
        communities={c.code: c for c in Community.objects.filter(code__in=codes["communities"])},
        points={p.code: p for p in InspectionPoint.objects.filter(code__in=codes["points"])},
        organisations={
            o.code: o for o in Organisation.objects.filter(code__in=codes["organisations"])
        },
        point_types={t.code: t for t in PointType.objects.filter(code__in=codes["point_types"])},
        categories={c.code: c for c in Category.objects.filter(code__in=codes["categories"])},
    )


def _check_headers(sheet: Sheet, errors: list[RowError]) -> bool:
    spec = SPECS[sheet.kind]
    ok = True
    for column in spec.required_columns:
        if column not in sheet.headers:
            errors.append(RowError(sheet.kind, 1, column, _("This required column is missing.")))
            ok = False
    seen: set[str] = set()
    for column in sheet.headers:
        if column not in spec.column_names:
            errors.append(
                RowError(
                    sheet.kind,
                    1,
                    column,
                    _("Unknown column; the columns are: %(columns)s.")
                    % {"columns": ", ".join(spec.column_names)},
                )
            )
            ok = False
        elif column in seen:
            errors.append(RowError(sheet.kind, 1, column, _("This column appears twice.")))
            ok = False
        seen.add(column)
    return ok


def _stage(
    plan: KindPlan,
    *,
    model: type[models.Model],
    existing: models.Model | None,
    code: str,
    values: dict[str, Any],
) -> models.Model:
    """Queue a create, an update of the changed fields, or count the row as unchanged."""
    if existing is None:
        obj = model(code=code, **values)
        plan.create.append(obj)
        return obj
    changed = []
    for name, value in values.items():
        field_object = model._meta.get_field(name)
        if field_object.is_relation:
            current_id = getattr(existing, field_object.attname)
            if value is None and current_id is None:
                continue
            if value is not None and value.pk is not None and value.pk == current_id:
                continue
        elif getattr(existing, name) == value:
            continue
        setattr(existing, name, value)
        changed.append(name)
    if changed:
        plan.update.append(existing)
        plan.update_fields.update(changed)
    else:
        plan.unchanged += 1
    return existing


def _reference(
    row: RowReader,
    column: str,
    lookup: dict[str, Any],
    bad: set[str],
    *,
    required: bool,
    what: str,
) -> Any:
    code = row.raw(column)
    if not code:
        if required:
            row.error(column, _("This column is required."))
        return None
    if code in lookup:
        return lookup[code]
    if code in bad:
        row.error(column, _("The row with code %(code)s has errors itself.") % {"code": code})
    else:
        row.error(column, str(_UNKNOWN_CODE[what]) % {"code": code})
    return None


_UNKNOWN_CODE = {
    "zone": gettext_lazy("No zone has the code %(code)s."),
    "district": gettext_lazy("No district has the code %(code)s."),
    "community": gettext_lazy("No community has the code %(code)s."),
    "point": gettext_lazy("No inspection point has the code %(code)s."),
    "point_type": gettext_lazy("No point type has the code %(code)s."),
    "organisation": gettext_lazy("No organisation has the code %(code)s."),
    "category": gettext_lazy("No category has the code %(code)s."),
}


def _duplicate(row: RowReader, code: str, seen: dict[str, int]) -> bool:
    if code in seen:
        row.error("code", _("Duplicate code; also on row %(row)s.") % {"row": seen[code]})
        return True
    seen[code] = row.number
    return False


def _plan_districts(sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]) -> None:
    seen: dict[str, int] = {}
    zones: dict[str, Zone] = {}
    zone_codes = {cells.get("zone_code") for _n, cells in sheet.rows if cells.get("zone_code")}
    if zone_codes:
        zones = {zone.code: zone for zone in Zone.objects.filter(code__in=zone_codes)}
    for number, cells in sheet.rows:
        row = RowReader("districts", number, cells, errors)
        code = row.code("code", max_length=_max_length(District, "code"))
        values: dict[str, Any] = {"name": row.text("name", max_length=100, required=True)}
        if row.has("name_en"):
            values["name_en"] = row.text("name_en", max_length=200)
        if row.has("kind"):
            values["kind"] = row.choice("kind", District.Kind, default=District.Kind.STREET)
        if row.has("sort_order"):
            values["sort_order"] = row.integer("sort_order") or 0
        existing = ctx.districts.get(code)
        zone_code = row.raw("zone_code")
        if zone_code:
            values["zone"] = _reference(row, "zone_code", zones, set(), required=True, what="zone")
        elif existing is None:
            if ctx.zone is None:
                row.error("zone_code", _("There is no default zone; enter a zone code."))
            values["zone"] = ctx.zone
        if code and _duplicate(row, code, seen):
            continue
        if row.failed:
            ctx.bad["districts"].add(code)
            continue
        ctx.districts[code] = _stage(
            plan, model=District, existing=existing, code=code, values=values
        )


def _plan_communities(sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]) -> None:
    seen: dict[str, int] = {}
    for number, cells in sheet.rows:
        row = RowReader("communities", number, cells, errors)
        code = row.code("code", max_length=_max_length(Community, "code"))
        values: dict[str, Any] = {
            "name": row.text("name", max_length=100, required=True),
            "district": _reference(
                row,
                "district_code",
                ctx.districts,
                ctx.bad["districts"],
                required=True,
                what="district",
            ),
        }
        if row.has("name_en"):
            values["name_en"] = row.text("name_en", max_length=200)
        if row.has("kind"):
            values["kind"] = row.choice("kind", Community.Kind, default=Community.Kind.COMMUNITY)
        for column in ("households", "residents"):
            if row.has(column):
                values[column] = row.integer(column)
        if row.has("latitude"):
            values["latitude"] = row.coordinate("latitude", limit=90, required=False)
        if row.has("longitude"):
            values["longitude"] = row.coordinate("longitude", limit=180, required=False)
        if code and _duplicate(row, code, seen):
            continue
        if row.failed:
            ctx.bad["communities"].add(code)
            continue
        ctx.communities[code] = _stage(
            plan, model=Community, existing=ctx.communities.get(code), code=code, values=values
        )


def _plan_points(sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]) -> None:
    seen: dict[str, int] = {}
    for number, cells in sheet.rows:
        row = RowReader("points", number, cells, errors)
        code = row.code("code", max_length=_max_length(InspectionPoint, "code"))
        values: dict[str, Any] = {
            "name": row.text("name", max_length=120, required=True),
            "point_type": _reference(
                row,
                "point_type_code",
                ctx.point_types,
                set(),
                required=True,
                what="point_type",
            ),
            "community": _reference(
                row,
                "community_code",
                ctx.communities,
                ctx.bad["communities"],
                required=True,
                what="community",
            ),
            "latitude": row.coordinate("latitude", limit=90, required=True),
            "longitude": row.coordinate("longitude", limit=180, required=True),
        }
        if row.has("address"):
            values["address"] = row.text("address", max_length=200)
        if row.has("is_active"):
            values["is_active"] = row.boolean("is_active", default=True)
        if code and _duplicate(row, code, seen):
            continue
        if row.failed:
            ctx.bad["points"].add(code)
            continue
        ctx.points[code] = _stage(
            plan, model=InspectionPoint, existing=ctx.points.get(code), code=code, values=values
        )


def _plan_organisations(
    sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]
) -> None:
    seen: dict[str, int] = {}
    # First pass: every row's own cells. New organisations get their instance now so that
    # a parent further down the file can be referenced before it is staged.
    entries: list[tuple[RowReader, Organisation, bool, dict[str, Any]]] = []
    for number, cells in sheet.rows:
        row = RowReader("organisations", number, cells, errors)
        code = row.code("code", max_length=_max_length(Organisation, "code"))
        values: dict[str, Any] = {
            "name": row.text("name", max_length=120, required=True),
            "kind": row.choice("kind", Organisation.Kind, default=None),
        }
        if row.has("name_en"):
            values["name_en"] = row.text("name_en", max_length=200)
        if row.has("district_code"):
            values["district"] = _reference(
                row,
                "district_code",
                ctx.districts,
                ctx.bad["districts"],
                required=False,
                what="district",
            )
        if row.has("contact_name"):
            values["contact_name"] = row.text("contact_name", max_length=60)
        if row.has("contact_phone"):
            values["contact_phone"] = row.text("contact_phone", max_length=30)
        if row.has("is_active"):
            values["is_active"] = row.boolean("is_active", default=True)
        if row.has("parent_code"):
            row.code("parent_code", max_length=_max_length(Organisation, "code"), required=False)
            if code and row.raw("parent_code") == code:
                row.error("parent_code", _("An organisation cannot be its own parent."))
        if code and _duplicate(row, code, seen):
            continue
        if row.failed:
            ctx.bad["organisations"].add(code)
            continue
        existing = ctx.organisations.get(code)
        organisation = existing or Organisation(code=code)
        ctx.organisations[code] = organisation
        entries.append((row, organisation, existing is None, values))

    # Second pass: parents, now that every organisation of the file is known.
    parent_of: dict[str, str | None] = dict(
        Organisation.objects.filter(parent__isnull=False).values_list("code", "parent__code")
    )
    for row, organisation, is_new, values in entries:
        if row.has("parent_code"):
            parent_code = row.raw("parent_code")
            parent = None
            if parent_code:
                parent = _reference(
                    row,
                    "parent_code",
                    ctx.organisations,
                    ctx.bad["organisations"],
                    required=False,
                    what="organisation",
                )
                if parent is None:
                    ctx.bad["organisations"].add(organisation.code)
                    continue
            values["parent"] = parent
            parent_of[organisation.code] = parent.code if parent else None
        if is_new:
            for name, value in values.items():
                setattr(organisation, name, value)
            plan.create.append(organisation)
        else:
            _stage(
                plan,
                model=Organisation,
                existing=organisation,
                code=organisation.code,
                values=values,
            )
    for row, organisation, _is_new, _values in entries:
        if not row.has("parent_code"):
            continue
        node = parent_of.get(organisation.code)
        for _step in range(len(parent_of) + 1):
            if node is None:
                break
            if node == organisation.code:
                row.error("parent_code", _("This parent would make a loop of organisations."))
                break
            node = parent_of.get(node)


_SlotKey = tuple[str, str, str, str, str]


def _slot_key(
    kind: str,
    district: District | None,
    community: Community | None,
    point: InspectionPoint | None,
    category: Category | None,
) -> _SlotKey:
    return (
        kind,
        district.code if district else "",
        community.code if community else "",
        point.code if point else "",
        category.code if category else "",
    )


def _plan_responsibilities(
    sheet: Sheet, ctx: _Context, plan: KindPlan, errors: list[RowError]
) -> None:
    staged: list[tuple[RowReader, _SlotKey, Responsibility]] = []
    for number, cells in sheet.rows:
        row = RowReader("responsibilities", number, cells, errors)
        kind = row.choice("kind", OwnerKind, default=None)
        organisation = _reference(
            row,
            "organisation_code",
            ctx.organisations,
            ctx.bad["organisations"],
            required=True,
            what="organisation",
        )
        district = _reference(
            row,
            "district_code",
            ctx.districts,
            ctx.bad["districts"],
            required=False,
            what="district",
        )
        community = _reference(
            row,
            "community_code",
            ctx.communities,
            ctx.bad["communities"],
            required=False,
            what="community",
        )
        point = _reference(
            row,
            "point_code",
            ctx.points,
            ctx.bad["points"],
            required=False,
            what="point",
        )
        category = _reference(
            row, "category_code", ctx.categories, set(), required=False, what="category"
        )
        lead_person = row.text("lead_person", max_length=60)
        lead_phone = row.text("lead_phone", max_length=30)
        valid_from = row.date("valid_from")
        if row.failed:
            continue
        try:
            responsibility_validate_slot(
                kind=kind, district=district, community=community, point=point, category=category
            )
        except ValidationError as error:
            row.error("kind", " ".join(error.messages))
            continue
        if organisation is not None and not organisation.is_active:
            row.error("organisation_code", _("This organisation is inactive."))
            continue
        candidate = Responsibility(
            kind=kind,
            organisation=organisation,
            district=district,
            community=community,
            point=point,
            category=category,
            lead_person=lead_person,
            lead_phone=lead_phone,
            valid_from=valid_from,
        )
        staged.append((row, _slot_key(kind, district, community, point, category), candidate))

    # Every assignment already in a slot the file touches, in one query.
    places = Q()
    for _row, key, _candidate in staged:
        kind, district_code, community_code, point_code, category_code = key
        if point_code:
            places |= Q(point__code=point_code)
        elif community_code:
            places |= Q(community__code=community_code)
        elif category_code:
            places |= Q(category__code=category_code)
        elif district_code:
            places |= Q(district__code=district_code)
    timelines: dict[_SlotKey, list[Responsibility]] = defaultdict(list)
    if staged:
        for existing in (
            Responsibility.objects.filter(places)
            .select_related("organisation", "district", "community", "point", "category")
            .order_by("valid_from", "pk")
        ):
            timelines[
                _slot_key(
                    existing.kind,
                    existing.district,
                    existing.community,
                    existing.point,
                    existing.category,
                )
            ].append(existing)

    ending: dict[int, Responsibility] = {}
    staged.sort(key=lambda item: (item[1], item[2].valid_from, item[0].number))
    for row, key, candidate in staged:
        timeline = timelines[key]
        match = next(
            (
                existing
                for existing in timeline
                if existing.valid_from == candidate.valid_from
                and existing.organisation.code == candidate.organisation.code
            ),
            None,
        )
        if match is not None:
            if match.pk is None:
                row.error("valid_from", _("The same assignment appears twice in this file."))
                continue
            changed = [
                name
                for name in ("lead_person", "lead_phone")
                if getattr(match, name) != getattr(candidate, name)
            ]
            if changed:
                # Contact details of an assignment are corrected in place; who owns the slot
                # and from when stays as it was.
                for name in changed:
                    setattr(match, name, getattr(candidate, name))
                plan.update.append(match)
                plan.update_fields.update(changed)
            else:
                plan.unchanged += 1
            continue
        later = [existing for existing in timeline if existing.valid_from >= candidate.valid_from]
        if later:
            row.error(
                "valid_from",
                _(
                    "%(organisation)s is already assigned here from %(date)s; "
                    "a new assignment must start after that date."
                )
                % {
                    "organisation": later[0].organisation.code,
                    "date": later[0].valid_from.isoformat(),
                },
            )
            continue
        for existing in timeline:
            if existing.valid_to is None or existing.valid_to > candidate.valid_from:
                existing.valid_to = candidate.valid_from
                if existing.pk is not None:
                    ending[existing.pk] = existing
        timeline.append(candidate)
        plan.create.append(candidate)
    plan.end = list(ending.values())


_PLANNERS = {
    "districts": _plan_districts,
    "communities": _plan_communities,
    "points": _plan_points,
    "organisations": _plan_organisations,
    "responsibilities": _plan_responsibilities,
}


def import_plan(sheets: list[Sheet], *, ignored_sheets: Iterable[str] = ()) -> ImportPlan:
    """Check every row of every sheet against the database and the file; write nothing."""
    plan = ImportPlan(ignored_sheets=list(ignored_sheets))
    by_kind: dict[str, Sheet] = {}
    for sheet in sheets:
        if sheet.kind in by_kind:
            plan.errors.append(
                RowError(sheet.kind, 1, "", _("The file has two sheets of this kind."))
            )
            continue
        by_kind[sheet.kind] = sheet
    ctx = _build_context(list(by_kind.values()))
    for kind in KIND_ORDER:
        sheet = by_kind.get(kind)
        if sheet is None:
            continue
        kind_plan = plan.kinds.setdefault(kind, KindPlan(kind=kind))
        if not _check_headers(sheet, plan.errors):
            continue
        _PLANNERS[kind](sheet, ctx, kind_plan, plan.errors)
    plan.errors.sort(key=lambda error: (KIND_ORDER.index(error.kind), error.row))
    return plan
