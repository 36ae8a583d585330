"""Refusals answer in the interface's language, inside the app's own layout."""

import pytest
from django.urls import reverse

from issues.models import Status
from tests.factories import IssueFactory

pytestmark = pytest.mark.django_db


def test_an_issue_outside_scope_answers_a_chinese_404_page(world, client):
    issue = IssueFactory(zone=world.zone, community=world.community_b, category=world.category)
    client.force_login(world.inspector_xincheng)
    response = client.get(reverse("issues:issue_detail", args=[issue.pk]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "未找到" in page
    assert 'lang="zh-hans"' in page


def test_a_forbidden_action_answers_a_chinese_403_page_and_changes_nothing(world, client):
    issue = IssueFactory(zone=world.zone, community=world.community_a, category=world.category)
    client.force_login(world.leader_zone)
    response = client.post(
        reverse("issues:issue_act", args=[issue.pk, "reject"]), {"reason": "不属实"}
    )
    assert response.status_code == 403
    assert "无权操作" in response.content.decode()
    issue.refresh_from_db()
    assert issue.status == Status.REPORTED
