"""The weekly 通报: the printable page and its workbook, in the reader's scope."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from districts.models import Role
from issues.models import Escalation
from stats import services
from tests.factories import make_staff
from tests.stats.fixtures import at, build_cases

pytestmark = pytest.mark.django_db

WEEK = {"week": "2025-W40"}


@pytest.fixture
def cases(world):
    cases = build_cases(world)
    # C3 (Y, district B) was supervised twice in week 40: a letter, then a listing.
    for level, day in ((2, 30), (3, 30)):
        Escalation.objects.create(
            issue=cases["C3"], level=level, source=Escalation.Source.JOB, created_at=at(9, day, 12)
        )
    services.ranking_freeze(week_start=datetime.date(2025, 9, 29), now=at(10, 6, 7))
    return cases


def test_notice_page_shows_the_week_figures_lists_and_cases(client, world, cases):
    client.force_login(world.leader_zone)
    response = client.get(reverse("stats:notice"), WEEK)
    assert response.status_code == 200
    html = response.content.decode()
    assert "notice.css" in html
    district_rows = {row["label"]: row for row in response.context["district_table"]["rows"]}
    # Week 40: due C1 (A, on time) and C3 (B, late); reported C2, C3, C4, C5.
    assert district_rows["新城街道"]["counts"][0] == 2  # reported in A: C2, C5
    assert response.context["district_table"]["total"]["counts"][2] == 2  # due
    assert [issue.case_number for issue in response.context["overdue"]] == [cases["C3"].case_number]
    assert len(response.context["escalations"]) == 2
    assert response.context["repeated"] == [
        {"assigned_organisation__name": world.org_y.name, "supervised": 2, "cases": 1}
    ]
    assert "2025-W40" in html


def test_notice_print_stylesheet_sets_a4(client, world):
    from django.contrib.staticfiles import finders

    css = Path(finders.find("css/notice.css")).read_text(encoding="utf-8")
    assert "size: A4" in css
    assert "@media print" in css


def test_notice_xlsx_has_every_sheet_and_neutralises_formulas(client, world, cases):
    cases["C3"].description = '=HYPERLINK("http://evil")'
    cases["C3"].save(update_fields=["description"])
    client.force_login(world.leader_zone)
    response = client.get(reverse("stats:notice_xlsx"), WEEK)
    assert response.status_code == 200
    assert "notice-2025-W40.xlsx" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.content))
    assert len(workbook.sheetnames) == 6
    overdue = workbook.worksheets[3]
    values = [cell.value for cell in overdue[2]]
    assert values[0] == cases["C3"].case_number
    assert values[3] == datetime.datetime(2025, 9, 30, 10, 30)  # Asia/Shanghai wall clock
    assert values[4].startswith("'=")
    assert overdue.cell(row=2, column=5).data_type == "s"
    ranking = workbook.worksheets[2]
    labels = [row[3].value for row in ranking.iter_rows(min_row=2)]
    assert world.org_x.name in labels


def test_notice_scope_leader_of_one_district(client, world, cases):
    lena = make_staff("lena", Role.LEADER, districts=[world.district_a])
    client.force_login(lena)
    response = client.get(reverse("stats:notice"), WEEK)
    labels = [row["label"] for row in response.context["district_table"]["rows"]]
    assert labels == ["新城街道"]
    assert response.context["overdue"] == []
    assert response.context["escalations"] == []
    assert response.context["repeated"] == []
    workbook = load_workbook(io.BytesIO(client.get(reverse("stats:notice_xlsx"), WEEK).content))
    text = " ".join(
        str(cell.value) for sheet in workbook.worksheets for r in sheet.iter_rows() for cell in r
    )
    assert cases["C3"].case_number not in text
    assert world.org_y.name not in text


@pytest.mark.parametrize("persona", ["inspector_xincheng", "handler_xincheng"])
def test_notice_is_forbidden_to_inspectors_and_handlers(client, world, persona):
    client.force_login(getattr(world, persona))
    assert client.get(reverse("stats:notice")).status_code == 403
    assert client.get(reverse("stats:notice_xlsx")).status_code == 403
