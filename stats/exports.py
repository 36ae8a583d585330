"""Workbooks of the stats app: the 通报 and the 整改台账 (rectification ledger)."""

from __future__ import annotations

import io
from typing import Any

from django.utils.translation import gettext as _

from stats.xlsx import row


def notice_workbook(context: dict[str, Any]) -> bytes:
    """The week's notice as a workbook: figures by district and unit, the lists, the cases."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, table in (
        (_("By district"), context["district_table"]),
        (_("By organisation"), context["organisation_table"]),
    ):
        sheet = workbook.create_sheet(title=title[:31])
        sheet.append(row(sheet, [table["title"], *table["headers"]], bold=True))
        for item in [*table["rows"], table["total"]]:
            sheet.append(row(sheet, [str(item["label"]), *item["counts"], *item["rates"]]))
    sheet = workbook.create_sheet(title=_("Red and black list")[:31])
    sheet.append(
        row(
            sheet,
            [
                _("Ranked units"),
                _("Rank"),
                _("List"),
                _("Unit"),
                _("Due in the period"),
                _("Closed on time"),
                _("On-time closure rate (按期结案率)"),
                _("Overdue"),
                _("Rework rate (返工率)"),
            ],
            bold=True,
        )
    )
    board_names = {"red": _("Red list"), "black": _("Black list"), "": ""}
    for board in context["boards"]:
        for item in board["rows"]:
            sheet.append(
                row(
                    sheet,
                    [
                        str(board["title"]),
                        item["rank"],
                        board_names[item["board"]],
                        item["label"],
                        item["due"],
                        item["closed_on_time"],
                        item["on_time_rate"],
                        item["late"],
                        item["rework_rate"],
                    ],
                )
            )
    sheet = workbook.create_sheet(title=_("Overdue cases")[:31])
    sheet.append(
        row(
            sheet,
            [_("Case number"), _("District"), _("Organisation"), _("Deadline"), _("Description")],
            bold=True,
        )
    )
    for issue in context["overdue"]:
        sheet.append(
            row(
                sheet,
                [
                    issue.case_number,
                    issue.district.display_name,
                    issue.assigned_organisation.display_name if issue.assigned_organisation else "",
                    issue.deadline,
                    issue.description,
                ],
            )
        )
    sheet = workbook.create_sheet(title=_("Escalated cases")[:31])
    sheet.append(
        row(
            sheet,
            [_("Case number"), _("District"), _("Organisation"), _("Level"), _("Time")],
            bold=True,
        )
    )
    for escalation in context["escalations"]:
        issue = escalation.issue
        sheet.append(
            row(
                sheet,
                [
                    issue.case_number,
                    issue.district.display_name,
                    issue.assigned_organisation.display_name if issue.assigned_organisation else "",
                    escalation.get_level_display(),
                    escalation.created_at,
                ],
            )
        )
    sheet = workbook.create_sheet(title=_("Repeated supervision")[:31])
    sheet.append(row(sheet, [_("Organisation"), _("Supervisions"), _("Cases")], bold=True))
    for item in context["repeated"]:
        sheet.append(
            row(sheet, [item["assigned_organisation__name"], item["supervised"], item["cases"]])
        )
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
