"""Exports never hand a spreadsheet a formula, whatever text the database holds."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from issues.models import Status
from tests.factories import UserFactory, issue_in

pytestmark = pytest.mark.django_db


def exported_rows(client) -> list[list[str]]:
    response = client.get(reverse("issues:issue_export"))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_issue_export_quotes_formulas_in_every_text_column(client, world):
    # A community renamed through an import, and a username Django's validator allows.
    world.community_a.name = '=HYPERLINK("http://evil.example/","open")'
    world.community_a.name_en = ""
    world.community_a.save()
    world.point_a.name = "+cmd|' /C calc'!A0"
    world.point_a.save()
    reporter = UserFactory(username="@SUM(1+1)")
    issue_in(
        world,
        Status.REPORTED,
        point=world.point_a,
        reporter=reporter,
        description="-2+3",
        address="\t=1",
    )
    client.force_login(world.admin_zone)

    header, row = exported_rows(client)

    cells = dict(zip(header, row, strict=True))
    assert all(not value or value[0] not in "=+-@\t\r\n" for value in row), cells
    assert '\'=HYPERLINK("http://evil.example/","open")' in row
    assert "'@SUM(1+1)" in row
    assert "'-2+3" in row


def test_issue_export_leaves_ordinary_values_alone(client, world):
    issue = issue_in(world, Status.REPORTED, description="早市门口垃圾堆放")
    client.force_login(world.admin_zone)

    _header, row = exported_rows(client)

    assert row[0] == issue.case_number
    assert "早市门口垃圾堆放" in row
