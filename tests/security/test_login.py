"""Logging in: failures are throttled per username and address; disabled users are out at once."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from districts import services

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("login")
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def attempt(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        LOGIN_URL, {"username": username, "password": password}, REMOTE_ADDR=address, **EN
    )


def fail_ten_times(client, username: str = "alice", address: str = "10.0.0.1") -> None:
    for _ in range(10):
        response = attempt(client, username, "wrong", address)
        assert response.status_code == 200


def test_eleventh_attempt_after_ten_failures_is_refused_even_with_the_right_password(client, world):
    fail_ten_times(client)

    response = attempt(client, "alice", "password")

    assert response.status_code == 200
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_nine_failures_still_let_the_right_password_in_and_reset_the_count(client, world):
    for _ in range(9):
        attempt(client, "alice", "wrong")

    assert attempt(client, "alice", "password").status_code == 302
    client.logout()
    for _ in range(9):
        attempt(client, "alice", "wrong")
    assert attempt(client, "alice", "password").status_code == 302


def test_throttle_of_one_address_does_not_lock_the_user_out_elsewhere(client, world):
    fail_ten_times(client, address="10.0.0.1")

    assert attempt(client, "alice", "password", address="10.0.0.2").status_code == 302


def test_throttle_counts_the_username_whatever_its_case(client, world):
    for _ in range(5):
        attempt(client, "alice", "wrong")
    for _ in range(5):
        attempt(client, "ALICE", "wrong")

    assert "Too many failed attempts" in attempt(client, "alice", "password").content.decode()


def test_throttle_ends_fifteen_minutes_after_the_first_failure(client, world):
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        fail_ten_times(client)
    with time_machine.travel(start + datetime.timedelta(minutes=16), tick=False):
        assert attempt(client, "alice", "password").status_code == 302


def test_admin_login_page_shares_the_throttle(client, world):
    fail_ten_times(client)

    response = client.post(
        reverse("admin:login"),
        {"username": "alice", "password": "password"},
        REMOTE_ADDR="10.0.0.1",
        **EN,
    )

    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_disabled_user_loses_access_on_the_next_request(client, world):
    client.force_login(world.alice)
    assert client.get(reverse("issues:issue_list")).status_code == 200

    services.staff_disable(actor=world.adam, user=world.alice)

    response = client.get(reverse("issues:issue_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


def test_inactive_user_with_a_live_session_sees_nothing(client, world):
    # Even if only the flag changes (e.g. in the Django admin), the session stops working.
    client.force_login(world.bob)
    type(world.bob).objects.filter(pk=world.bob.pk).update(is_active=False)

    response = client.get(reverse("issues:triage"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)
