"""The triage queue costs the same number of queries however many places its reports span."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from districts.models import OwnerKind
from issues.models import Status
from tests.factories import CategoryFactory, CommunityFactory, InspectionPointFactory, issue_in

TRIAGE_URL = reverse("issues:triage")


def _triage_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(TRIAGE_URL)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_triage_runs_the_same_queries_for_one_place_and_for_many(client, world):
    client.force_login(world.supervisor_xincheng)
    issue_in(world, Status.REPORTED)
    one_place = _triage_queries(client)
    kinds = [OwnerKind.TERRITORIAL, OwnerKind.SECTOR, OwnerKind.PAIRED]
    for number in range(9):
        community = CommunityFactory(district=world.district_a)
        issue_in(
            world,
            Status.REPORTED,
            community=community,
            point=InspectionPointFactory(community=community) if number % 2 else None,
            category=CategoryFactory(owner_kind=kinds[number % 3]),
        )
    response = client.get(TRIAGE_URL)
    assert len(response.context["issues"]) == 10
    # Every row still carries its own routing suggestion.
    assert all(issue.routing.organisation == world.org_x for issue in response.context["issues"])
    assert _triage_queries(client) == one_place
