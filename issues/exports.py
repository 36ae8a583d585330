"""The issue ledger as CSV: header, one row per issue, streamed lines.

Every text cell goes through the one spreadsheet formula guard, `districts.importexport.specs.
formula_safe`, shared with the zone data exports.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from districts.importexport.specs import formula_safe
from issues.models import Issue

# The export streams; this cap keeps one request from reading a province's whole history.
EXPORT_MAX_ROWS = 200_000
EXPORT_CHUNK_SIZE = 2000


class _Echo:
    """A file-like object whose write returns the line, for csv.writer feeding a stream."""

    def write(self, value: str) -> str:
        return value


def _local(value: datetime.datetime | None) -> str:
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def export_header() -> list[str]:
    return [
        _("Case number"),
        _("Status"),
        _("Category"),
        _("Severity"),
        _("District"),
        _("Community"),
        _("Inspection point"),
        _("Address"),
        _("Description"),
        _("Organisation"),
        _("Reporter"),
        _("Rework count"),
        _("Escalation level"),
        _("Extensions granted"),
        _("Overdue"),
        _("Deadline"),
        _("Reported at"),
        _("Dispatched at"),
        _("Acknowledged at"),
        _("First fix submitted at"),
        _("Fix submitted at"),
        _("Verified at"),
        _("Closed at"),
        _("Rejected at"),
        _("Parked at"),
        _("Cancelled at"),
        _("Updated at"),
    ]


def export_row(issue: Issue, now: datetime.datetime) -> list[Any]:
    return [
        issue.case_number,
        issue.get_status_display(),
        issue.category.display_name,
        issue.get_severity_display(),
        issue.district.display_name,
        issue.community.display_name,
        issue.point.name if issue.point else "",
        formula_safe(issue.address),
        formula_safe(issue.description),
        issue.assigned_organisation.display_name if issue.assigned_organisation else "",
        issue.reporter.get_username(),
        issue.rework_count,
        issue.escalation_level,
        issue.extension_count,
        _("yes") if issue.is_overdue(now) else _("no"),
        _local(issue.deadline),
        _local(issue.reported_at),
        _local(issue.dispatched_at),
        _local(issue.acknowledged_at),
        _local(issue.first_submitted_at),
        _local(issue.submitted_at),
        _local(issue.verified_at),
        _local(issue.closed_at),
        _local(issue.rejected_at),
        _local(issue.parked_at),
        _local(issue.cancelled_at),
        _local(issue.updated_at),
    ]


def export_lines(queryset: QuerySet[Issue], now: datetime.datetime) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The byte order mark makes Excel read the file as UTF-8 (Chinese text, not mojibake).
    yield "\ufeff" + writer.writerow(export_header())
    for issue in queryset[:EXPORT_MAX_ROWS].iterator(chunk_size=EXPORT_CHUNK_SIZE):
        # Every text cell, not only the free text: names arrive through imports and usernames
        # may start with "@", "+" or "-".
        yield writer.writerow([formula_safe(v) for v in export_row(issue, now)])
