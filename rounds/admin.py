"""Django admin for inspection rounds: read what was walked, fix an open round's names and people.

Scoped by the one policy (`rounds.permissions.rounds_visible_to`), like every other round page;
the admin itself lets in only the zone office (see `districts.backends`). Rounds are created,
cloned and closed on the site or through the action here, all through `rounds.services`; a
closed round and everything under it is read-only, and visits and observations are field records
that the admin never edits (a changed standard never rewrites them: each keeps the standard's
text and weight as they were, shown here beside the standard as it is now).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from districts.admin import AuditedAdmin
from rounds import permissions, services
from rounds.models import Observation, Round, RoundPoint, Visit


class RoundScopedAdmin(AuditedAdmin):
    """Rows of the rounds the user may open; nothing is added or deleted here."""

    round_path = "round"

    def get_queryset(self, request):
        visible = permissions.rounds_visible_to(request.user)
        return super().get_queryset(request).filter(**{f"{self.round_path}__in": visible})

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _round_of(self, obj: Any) -> Round | None:
        return None if obj is None else obj.round

    def has_change_permission(self, request, obj=None) -> bool:
        round_ = self._round_of(obj)
        if round_ is not None and not round_.is_open:
            return False  # a closed round is read-only (and a preparing one has no rows yet)
        return super().has_change_permission(request, obj)

    def _save_through(self, request, call) -> None:
        try:
            call()
        except (ValidationError, PermissionDenied) as error:
            texts = error.messages if isinstance(error, ValidationError) else [str(error)]
            for text in texts:
                self.message_user(request, text, messages.ERROR)


@admin.register(Round)
class RoundAdmin(RoundScopedAdmin):
    list_display = [
        "name",
        "kind",
        "status",
        "starts_on",
        "ends_on",
        "selection",
        "seed",
        "point_count",
        "created_by",
    ]
    list_filter = ["status", "kind", "districts"]
    search_fields = ["name"]
    date_hierarchy = "starts_on"
    list_select_related = ["created_by"]
    fields = [
        "name",
        "kind",
        "status",
        "starts_on",
        "ends_on",
        "districts",
        "selection",
        "draw_per_type",
        "seed",
        "inspectors",
        "groups",
        "cloned_from",
        "created_by",
        "created_at",
        "closed_by",
        "closed_at",
        "prepare_error",
    ]
    editable_when_open = ("name", "starts_on", "ends_on")
    actions = ["close_rounds"]

    def get_queryset(self, request):
        visible = permissions.rounds_visible_to(request.user)
        return (
            super(RoundScopedAdmin, self)
            .get_queryset(request)
            .filter(pk__in=visible.values("pk"))
            .annotate(point_total=Count("round_points"))
        )

    def _round_of(self, obj: Any) -> Round | None:
        return obj

    def get_readonly_fields(self, request, obj=None):
        return [field for field in self.fields if field not in self.editable_when_open]

    @admin.display(description=_("points"), ordering="point_total")
    def point_count(self, obj: Round) -> int:
        return obj.point_total

    def save_model(self, request, obj, form, change):
        # Through the service: it checks the manager's scope and that the round is still open.
        self._save_through(
            request,
            lambda: services.round_update(
                round_=obj,
                actor=request.user,
                name=form.cleaned_data["name"],
                starts_on=form.cleaned_data["starts_on"],
                ends_on=form.cleaned_data["ends_on"],
            ),
        )

    def save_related(self, request, form, formsets, change):
        pass  # districts, inspectors and groups are read-only here: they made the draw

    @admin.action(description=_("Close the selected rounds"))
    def close_rounds(self, request, queryset):
        closed = 0
        for round_ in queryset:
            try:
                services.round_close(round_=round_, actor=request.user)
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{round_}: {error}", messages.ERROR)
            else:
                closed += 1
        if closed:
            self.message_user(request, _("Closed: %(count)s.") % {"count": closed})


@admin.register(RoundPoint)
class RoundPointAdmin(RoundScopedAdmin):
    list_display = [
        "point",
        "round",
        "inspector",
        "group",
        "marked",
        "met_weight",
        "applicable_weight",
    ]
    list_filter = ["round__status", "round__kind"]
    search_fields = ["point__name", "round__name", "inspector__username", "group__name"]
    list_select_related = ["point", "round", "inspector", "group"]
    raw_id_fields = ["inspector", "group"]
    fields = ["round", "point", "inspector", "group", "marked", "met_weight", "applicable_weight"]
    readonly_fields = ["round", "point", "marked", "met_weight", "applicable_weight"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class ReassignForm(form):  # type: ignore[misc, valid-type]
            def clean(self) -> dict:
                cleaned = super().clean()
                if obj is not None and not self.errors:
                    try:
                        services.validate_reassignment(
                            round_point=RoundPoint.objects.select_related(
                                "round", "point__community"
                            ).get(pk=obj.pk),
                            inspector=cleaned.get("inspector"),
                            group=cleaned.get("group"),
                        )
                    except ValidationError as error:
                        raise ValidationError(error.messages) from error
                return cleaned

        return ReassignForm

    def save_model(self, request, obj, form, change):
        self._save_through(
            request,
            lambda: services.round_point_reassign(
                round_point=obj,
                actor=request.user,
                inspector=form.cleaned_data.get("inspector"),
                group=form.cleaned_data.get("group"),
            ),
        )


class FieldRecordAdmin(RoundScopedAdmin):
    """Visits and observations are what the inspector recorded: read, never edited here."""

    round_path = "round_point__round"

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Visit)
class VisitAdmin(FieldRecordAdmin):
    list_display = [
        "round_point",
        "inspector",
        "started_at",
        "finished_at",
        "distance_m",
        "accuracy_m",
        "is_far",
    ]
    list_filter = ["is_far", "round_point__round__status"]
    search_fields = ["round_point__point__name", "inspector__username"]
    list_select_related = ["round_point__round", "round_point__point", "inspector"]


@admin.register(Observation)
class ObservationAdmin(FieldRecordAdmin):
    list_display = [
        "text",
        "standard_now",
        "weight",
        "weight_now",
        "result",
        "round_point",
        "inspector",
        "observed_at",
        "issue",
    ]
    list_filter = ["result", "round_point__round__status"]
    search_fields = ["text", "round_point__point__name", "issue__case_number"]
    list_select_related = [
        "round_point__round",
        "round_point__point",
        "inspector",
        "check_item",
        "issue",
    ]

    @admin.display(description=_("standard now"))
    def standard_now(self, obj: Observation) -> str:
        if obj.check_item is None:
            return "—"
        return obj.check_item.text if obj.check_item.text != obj.text else "="

    @admin.display(description=_("weight now"))
    def weight_now(self, obj: Observation) -> Any:
        return obj.check_item.weight if obj.check_item is not None else "—"
