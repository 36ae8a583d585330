"""Who hears about a reminder, and the directory of recipients one run reads once."""

from __future__ import annotations

from collections import defaultdict

from districts.selectors import handlers_of, supervisors_for, zone_office
from reminders.models import ChannelConfig, ChannelKind, Reminder

HANDLERS = "handlers"
ORGANISATION_CHANNELS = "organisation_channels"
SUPERVISORS = "supervisors"
ZONE_OFFICE = "zone_office"

# Who hears about a reminder: the organisation first, then the district's supervisors, then
# the zone office (docs/domain.md §5).
AUDIENCES: dict[tuple[str, int], frozenset[str]] = {
    (Reminder.Kind.DUE_SOON, 0): frozenset({HANDLERS, ORGANISATION_CHANNELS}),
    (Reminder.Kind.OVERDUE, 1): frozenset({HANDLERS, ORGANISATION_CHANNELS}),
    (Reminder.Kind.ESCALATION, 2): frozenset({HANDLERS, ORGANISATION_CHANNELS, SUPERVISORS}),
    (Reminder.Kind.ESCALATION, 3): frozenset(
        {HANDLERS, ORGANISATION_CHANNELS, SUPERVISORS, ZONE_OFFICE}
    ),
    (Reminder.Kind.AWAITING_VERIFICATION, 0): frozenset({SUPERVISORS}),
}
# The organisation hears about each case; the people above it get one summary per run.
SUMMARY_GROUPS = frozenset({SUPERVISORS, ZONE_OFFICE})


def awaits_summary(kind: str, level: int) -> bool:
    """Whether a reminder of this kind and level goes into the summaries of a run."""
    return bool(AUDIENCES[(kind, level)] & SUMMARY_GROUPS)


class RecipientDirectory:
    """Who hears about what, read once per run and per organisation or district, not per issue."""

    def __init__(self) -> None:
        self._handlers: dict[int, list[int]] = {}
        self._supervisors: dict[int, list[int]] = {}
        self._zone_office: list[int] | None = None
        configs = list(ChannelConfig.objects.filter(enabled=True))
        self._inapp_off = {
            config.organisation_id
            for config in ChannelConfig.objects.filter(kind=ChannelKind.INAPP, enabled=False)
        }
        self._organisation_configs: dict[int | None, list[ChannelConfig]] = defaultdict(list)
        for config in configs:
            if config.kind != ChannelKind.INAPP:
                self._organisation_configs[config.organisation_id].append(config)

    def handlers(self, organisation_id: int | None) -> list[int]:
        if organisation_id is None or organisation_id in self._inapp_off:
            return []
        if organisation_id not in self._handlers:
            self._handlers[organisation_id] = sorted(
                handlers_of(organisation_id).values_list("pk", flat=True)
            )
        return self._handlers[organisation_id]

    def supervisors(self, district_id: int | None) -> list[int]:
        if district_id is None:
            return []
        if district_id not in self._supervisors:
            self._supervisors[district_id] = sorted(
                supervisors_for(district_id).values_list("pk", flat=True)
            )
        return self._supervisors[district_id]

    def zone_office(self) -> list[int]:
        if None in self._inapp_off:
            return []
        if self._zone_office is None:
            self._zone_office = sorted(zone_office().values_list("pk", flat=True))
        return self._zone_office

    def organisation_channels(self, organisation_id: int | None) -> list[ChannelConfig]:
        return self._organisation_configs.get(organisation_id, []) if organisation_id else []

    def zone_channels(self) -> list[ChannelConfig]:
        return self._organisation_configs.get(None, [])

    def has_summary_targets(self, *, kind: str, level: int, district_id: int | None) -> bool:
        """Whether anyone above the organisation would hear about such a reminder."""
        audience = AUDIENCES[(kind, level)]
        if SUPERVISORS in audience and self.supervisors(district_id):
            return True
        return ZONE_OFFICE in audience and bool(self.zone_office() or self.zone_channels())
