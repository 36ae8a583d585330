"""Workbooks of the stats app: the 通报 and the 整改台账 (rectification ledger)."""

from __future__ import annotations

import io
from typing import Any

from django.utils.translation import gettext as _

from stats.xlsx import write_row


class _Sheets:
    """The notice's sheets, row by row (XlsxWriter, in memory: the notice is a few hundred rows;
    openpyxl's cell objects cost it two thirds of the request)."""

    def __init__(self, workbook: Any) -> None:
        self.workbook = workbook
        self.bold = workbook.add_format({"bold": True})
        self.stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self.sheet: Any = None
        self.next_row = 0

    def create_sheet(self, title: str) -> _Sheets:
        self.sheet = self.workbook.add_worksheet(title)
        self.next_row = 0
        return self

    def append(self, values: list[Any], *, bold: bool = False) -> None:
        write_row(
            self.sheet,
            self.next_row,
            values,
            stamp=self.stamp,
            text_format=self.bold if bold else None,
        )
        self.next_row += 1


def notice_workbook(context: dict[str, Any]) -> bytes:
    """The week's notice as a workbook: figures by district and unit, the lists, the cases."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True})
    sheets = _Sheets(workbook)
    for title, table in (
        (_("By district"), context["district_table"]),
        (_("By organisation"), context["organisation_table"]),
    ):
        sheet = sheets.create_sheet(title[:31])
        sheet.append([table["title"], *table["headers"]], bold=True)
        for item in [*table["rows"], table["total"]]:
            sheet.append([str(item["label"]), *item["counts"], *item["rates"]])
    sheet = sheets.create_sheet(_("Red and black list")[:31])
    sheet.append(
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
    board_names = {"red": _("Red list"), "black": _("Black list"), "": ""}
    for board in context["boards"]:
        for item in board["rows"]:
            sheet.append(
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
                ]
            )
    sheet = sheets.create_sheet(_("Overdue cases")[:31])
    sheet.append(
        [_("Case number"), _("District"), _("Organisation"), _("Deadline"), _("Description")],
        bold=True,
    )
    for issue in context["overdue"]:
        sheet.append(
            [
                issue.case_number,
                issue.district.display_name,
                issue.assigned_organisation.display_name if issue.assigned_organisation else "",
                issue.deadline,
                issue.description,
            ]
        )
    sheet = sheets.create_sheet(_("Escalated cases")[:31])
    sheet.append(
        [_("Case number"), _("District"), _("Organisation"), _("Level"), _("Time")], bold=True
    )
    for escalation in context["escalations"]:
        issue = escalation.issue
        sheet.append(
            [
                issue.case_number,
                issue.district.display_name,
                issue.assigned_organisation.display_name if issue.assigned_organisation else "",
                escalation.get_level_display(),
                escalation.created_at,
            ]
        )
    sheet = sheets.create_sheet(_("Repeated supervision")[:31])
    sheet.append([_("Organisation"), _("Supervisions"), _("Cases")], bold=True)
    for item in context["repeated"]:
        sheet.append([item["assigned_organisation__name"], item["supervised"], item["cases"]])
    workbook.close()
    return output.getvalue()
