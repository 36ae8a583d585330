"""The round's results as an XLSX workbook (openpyxl), one sheet per view of them."""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from openpyxl import Workbook

from issues.models import Status as IssueStatus
from rounds.selectors import Results, Tally


def _percent(value: float | None) -> float | None:
    return round(100 * value, 1) if value is not None else None


def _tally_sheet(book: Workbook, title: str, tallies: list[Tally]) -> None:
    sheet = book.create_sheet(title[:31])
    sheet.append(
        [
            title,
            _("Points"),
            _("Visited"),
            _("Weighted met"),
            _("Weighted applicable"),
            _("Pass rate (%)"),
            _("Previous round (%)"),
        ]
    )
    for tally in tallies:
        sheet.append(
            [
                tally.label,
                tally.points,
                tally.visited,
                tally.met,
                tally.applicable,
                _percent(tally.rate),
                _percent(tally.previous),
            ]
        )


def results_workbook(results: Results) -> bytes:
    """Summary, points, point types, communities, districts, failed standards and cases."""
    book = Workbook()
    summary = book.active
    summary.title = _("Summary")[:31]
    summary.append([_("Round"), results.round.name])
    summary.append([_("Kind"), results.round.get_kind_display()])
    summary.append([_("Dates"), f"{results.round.starts_on} – {results.round.ends_on}"])
    summary.append([_("Pass rate (%)"), _percent(results.total.rate)])
    summary.append([_("Mock score"), round(results.mock_score, 1) if results.mock_score else None])
    summary.append([_("Points"), results.total.points])
    summary.append([_("Visited"), results.total.visited])
    summary.append([_("Cases filed"), results.cases_filed])
    summary.append([_("Cases closed"), results.cases_closed])

    points = book.create_sheet(_("Points")[:31])
    points.append(
        [
            _("Inspection point"),
            _("Point type"),
            _("Community"),
            _("District"),
            _("Assigned to"),
            _("Weighted met"),
            _("Weighted applicable"),
            _("Pass rate (%)"),
            _("Far visit"),
        ]
    )
    for row in results.points:
        points.append(
            [
                row["point__name"],
                row["point__point_type__name"],
                row["point__community__name"],
                row["point__community__district__name"],
                row["inspector__username"] or row["group__name"],
                row["met"],
                row["applicable"],
                _percent(row["rate"]),
                _("yes") if row["visit__is_far"] else "",
            ]
        )
    _tally_sheet(book, _("Point types"), results.point_types)
    _tally_sheet(book, _("Communities"), results.communities)
    _tally_sheet(book, _("Districts"), results.districts)

    failed = book.create_sheet(_("Failed standards")[:31])
    failed.append([_("Standard"), _("Failures")])
    for row in results.most_failed:
        failed.append([row["text"], row["failures"]])

    cases = book.create_sheet(_("Cases")[:31])
    cases.append([_("Case number"), _("Inspection point"), _("Standard"), _("Status")])
    for case in results.cases:
        cases.append(
            [
                case["issue__case_number"],
                case["round_point__point__name"],
                case["text"],
                str(IssueStatus(case["issue__status"]).label),
            ]
        )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
