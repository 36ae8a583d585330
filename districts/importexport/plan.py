"""What an import would do (the plan and its errors), and writing a checked plan."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from districts.importexport.specs import BATCH_SIZE, KIND_ORDER, SPECS
from districts.models import (
    Community,
    District,
    InspectionPoint,
    Organisation,
    Responsibility,
)
from districts.services import audit_record


@dataclass(frozen=True)
class RowError:
    """One bad cell (or a whole-sheet problem when row is 1 and column names the header)."""

    kind: str
    row: int
    column: str
    message: str

    @property
    def kind_label(self) -> str:
        spec = SPECS.get(self.kind)
        return str(spec.label) if spec else self.kind


@dataclass
class KindPlan:
    """What importing one sheet would do."""

    kind: str
    create: list[models.Model] = field(default_factory=list)
    update: list[models.Model] = field(default_factory=list)
    update_fields: set[str] = field(default_factory=set)
    unchanged: int = 0
    # Responsibilities only: existing rows that new assignments end.
    end: list[Responsibility] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(SPECS[self.kind].label)

    @property
    def total(self) -> int:
        return len(self.create) + len(self.update) + self.unchanged

    def keys(self) -> dict[str, list[str]]:
        return {
            "create": sorted(_object_key(obj) for obj in self.create),
            "update": sorted(_object_key(obj) for obj in self.update),
            "end": sorted(_object_key(obj) for obj in self.end),
        }


@dataclass
class ImportPlan:
    """The outcome of reading and checking a file; written only when `errors` is empty."""

    kinds: dict[str, KindPlan] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    ignored_sheets: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors and any(plan.total for plan in self.kinds.values())

    @property
    def has_changes(self) -> bool:
        return any(plan.create or plan.update or plan.end for plan in self.kinds.values())

    @property
    def bad_rows(self) -> int:
        return len({(error.kind, error.row) for error in self.errors})

    def ordered(self) -> list[KindPlan]:
        return [self.kinds[kind] for kind in KIND_ORDER if kind in self.kinds]

    def fingerprint(self) -> str:
        """A digest of what the plan would write, to tell whether the data moved since preview."""
        import hashlib

        content = json.dumps(
            {kind: plan.keys() for kind, plan in sorted(self.kinds.items())}, sort_keys=True
        )
        return hashlib.sha256(content.encode()).hexdigest()


def _object_key(obj: models.Model) -> str:
    if isinstance(obj, Responsibility):
        return "|".join(
            [
                obj.kind,
                obj.organisation.code,
                obj.district.code if obj.district else "",
                obj.community.code if obj.community else "",
                obj.point.code if obj.point else "",
                obj.category.code if obj.category else "",
                obj.valid_from.isoformat(),
            ]
        )
    return str(obj.code)


@dataclass(frozen=True)
class ImportResult:
    """Counts of what an import wrote, per kind."""

    counts: dict[str, dict[str, int]]
    audit_id: int | None


def _counts(plan: ImportPlan) -> dict[str, dict[str, int]]:
    return {
        kind_plan.kind: {
            "created": len(kind_plan.create),
            "updated": len(kind_plan.update),
            "unchanged": kind_plan.unchanged,
            "ended": len(kind_plan.end),
        }
        for kind_plan in plan.ordered()
    }


@transaction.atomic
def import_apply(*, actor: Any, plan: ImportPlan, source_name: str = "") -> ImportResult:
    """Write a checked plan in one transaction with bulk statements; refuses a plan with errors."""
    if plan.errors:
        raise ValidationError(_("The file has errors; nothing was imported."))
    now = timezone.now()
    for kind_plan in plan.ordered():
        model = {
            "districts": District,
            "communities": Community,
            "points": InspectionPoint,
            "organisations": Organisation,
            "responsibilities": Responsibility,
        }[kind_plan.kind]
        if kind_plan.kind == "responsibilities":
            for row in kind_plan.end:
                row.ended_by = actor
                row.ended_at = now
            if kind_plan.end:
                Responsibility.objects.bulk_update(
                    kind_plan.end, ["valid_to", "ended_by", "ended_at"], batch_size=BATCH_SIZE
                )
            for row in kind_plan.create:
                row.created_by = actor
                row.created_at = now
        pending_parents: list[tuple[Organisation, Organisation]] = []
        if kind_plan.kind == "organisations":
            # A parent created by this same import has no id yet; link it after the insert.
            for organisation in kind_plan.create:
                if organisation.parent is not None and organisation.parent.pk is None:
                    pending_parents.append((organisation, organisation.parent))
                    organisation.parent = None
        try:
            if kind_plan.create:
                model.objects.bulk_create(kind_plan.create, batch_size=BATCH_SIZE)
            for organisation, parent in pending_parents:
                organisation.parent = parent
            if pending_parents:
                Organisation.objects.bulk_update(
                    [organisation for organisation, _parent in pending_parents],
                    ["parent"],
                    batch_size=BATCH_SIZE,
                )
            if kind_plan.update:
                model.objects.bulk_update(
                    kind_plan.update, sorted(kind_plan.update_fields), batch_size=BATCH_SIZE
                )
        except IntegrityError as error:
            raise ValidationError(
                _("The data changed while importing (%(error)s); check the file again.")
                % {"error": str(error).splitlines()[0]}
            ) from error
    counts = _counts(plan)
    audit = None
    if plan.has_changes:
        audit = audit_record(
            actor=actor,
            action="import",
            object_type="import",
            summary=gettext_lazy("Imported %(name)s: %(counts)s"),
            summary_params={
                "name": source_name or "-",
                "counts": "; ".join(
                    _("%(kind)s: %(created)d new, %(updated)d changed, %(unchanged)d unchanged")
                    % {
                        "kind": SPECS[kind].label if kind in SPECS else kind,
                        "created": c["created"],
                        "updated": c["updated"],
                        "unchanged": c["unchanged"],
                    }
                    for kind, c in counts.items()
                ),
            },
            # The keys of what changed, capped so one huge import keeps a readable record.
            data={
                "file": source_name,
                "counts": counts,
                "keys": {
                    kind_plan.kind: {
                        verb: keys[:2000] for verb, keys in kind_plan.keys().items() if keys
                    }
                    for kind_plan in plan.ordered()
                },
            },
        )
    return ImportResult(counts=counts, audit_id=audit.pk if audit else None)
