"""Disabled users are out at once (the login throttle is tested in test_login_throttle.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from districts import services

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("login")


def test_disabled_user_loses_access_on_the_next_request(client, world):
    client.force_login(world.inspector_xincheng)
    assert client.get(reverse("issues:issue_list")).status_code == 200

    services.staff_disable(actor=world.admin_zone, user=world.inspector_xincheng)

    response = client.get(reverse("issues:issue_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


def test_inactive_user_with_a_live_session_sees_nothing(client, world):
    # Even if only the flag changes (e.g. in the Django admin), the session stops working.
    client.force_login(world.supervisor_xincheng)
    type(world.supervisor_xincheng).objects.filter(pk=world.supervisor_xincheng.pk).update(
        is_active=False
    )

    response = client.get(reverse("issues:triage"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)
