"""The login throttle: guessing is slowed per account, per address and per trusted browser.

Counts live in the database, shared by every worker; an owner's usual browser (a device cookie)
keeps its own allowance while the account is attacked from elsewhere; the client address comes
from a proxy header only when one is configured; refusals say nothing about who exists; and
logging in works with Redis down.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
import time_machine
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import signing
from django.db import connection, connections
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from districts import throttle
from districts.models import LoginFailureCount
from tests.reminders.test_redis_down import CLOSED_PORT_URL, redis_at

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LOGIN_URL = reverse("login")
ADMIN_LOGIN_URL = reverse("admin:login")
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
REFUSED = "Too many failed attempts"


def attempt(client, username: str, password: str, address: str = "10.0.0.1", url=LOGIN_URL):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address, **EN)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def log_out(client) -> None:
    """Log out as a browser does (the test client's logout() would also drop every cookie)."""
    assert client.post(reverse("logout")).status_code == 302
    assert not logged_in(client)


def fail(
    client, times: int, username: str = "inspector_xincheng", address: str = "10.0.0.1"
) -> None:
    for _ in range(times):
        response = attempt(client, username, "wrong", address)
        assert response.status_code == 200
        assert REFUSED not in response.content.decode()


def trusted_browser(username: str = "inspector_xincheng") -> Client:
    """A browser that has logged in as the user before (it holds the device cookie)."""
    browser = Client()
    assert attempt(browser, username, "password", address="192.0.2.50").status_code == 302
    assert throttle.DEVICE_COOKIE_NAME in browser.cookies
    log_out(browser)
    return browser


# --- one account, many addresses; many accounts, one address --------------------------------


def test_throttle_eleventh_attempt_after_ten_failures_is_refused_even_with_the_right_password(
    client, world
):
    fail(client, 10)

    response = attempt(client, "inspector_xincheng", "password")

    assert response.status_code == 200
    assert REFUSED in response.content.decode()
    assert not logged_in(client)


def test_throttle_refusal_is_in_chinese_by_default(client, world):
    fail(client, 10)

    response = client.post(LOGIN_URL, {"username": "inspector_xincheng", "password": "password"})

    assert "登录失败次数过多" in response.content.decode()


def test_throttle_nine_failures_still_let_the_right_password_in(client, world):
    fail(client, 9)
    assert attempt(client, "inspector_xincheng", "password").status_code == 302
    log_out(client)

    # The browser is now trusted for inspector_xincheng: its own mistakes have their own allowance.
    fail(client, 9)
    assert attempt(client, "inspector_xincheng", "password").status_code == 302


def test_throttle_distributed_guessing_of_one_account_from_many_addresses_is_refused(client, world):
    for number in range(10):
        fail(client, 1, address=f"198.51.100.{number}")

    response = attempt(Client(), "inspector_xincheng", "password", address="198.51.100.200")

    assert REFUSED in response.content.decode()


def test_throttle_spraying_many_usernames_from_one_address_is_refused(client, world):
    for number in range(30):
        fail(client, 1, username=f"user{number}", address="203.0.113.7")

    from_there = Client()
    assert (
        REFUSED
        in attempt(from_there, "supervisor_xincheng", "password", "203.0.113.7").content.decode()
    )
    assert not logged_in(from_there)
    # Only that address is slowed: supervisor_xincheng logs in from anywhere else.
    assert attempt(Client(), "supervisor_xincheng", "password", "203.0.113.8").status_code == 302


def test_throttle_counts_the_username_whatever_its_case(client, world):
    fail(client, 5, username="inspector_xincheng")
    fail(client, 5, username="INSPECTOR_XINCHENG ")

    assert REFUSED in attempt(Client(), "inspector_xincheng", "password").content.decode()


def test_throttle_ends_when_the_window_ends(client, world):
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        fail(client, 10)
        assert REFUSED in attempt(client, "inspector_xincheng", "password").content.decode()
    with time_machine.travel(start + datetime.timedelta(minutes=16), tick=False):
        assert attempt(client, "inspector_xincheng", "password").status_code == 302


def test_throttle_admin_login_page_shares_the_throttle(client, world):
    for _ in range(5):
        attempt(client, "admin_zone", "wrong")
    for _ in range(5):
        attempt(client, "admin_zone", "wrong", url=ADMIN_LOGIN_URL)

    site = attempt(Client(), "admin_zone", "password")
    admin = attempt(Client(), "admin_zone", "password", url=ADMIN_LOGIN_URL)

    assert REFUSED in site.content.decode()
    assert REFUSED in admin.content.decode()


def test_throttle_admin_login_issues_the_device_cookie_too(client, world):
    world.admin_zone.is_staff = True  # as staff_create makes a zone admin
    world.admin_zone.save(update_fields=["is_staff"])
    assert attempt(client, "admin_zone", "password", url=ADMIN_LOGIN_URL).status_code == 302
    log_out(client)
    fail(Client(), 10, username="admin_zone", address="198.51.100.9")

    assert attempt(client, "admin_zone", "password", url=ADMIN_LOGIN_URL).status_code == 302


# --- the owner's trusted browser ----------------------------------------------------------


def test_throttle_owner_on_a_trusted_device_logs_in_while_the_account_is_under_attack(world):
    phone = trusted_browser()
    attacker = Client()
    for number in range(25):
        attempt(attacker, "inspector_xincheng", "guess", address=f"198.51.100.{number}")
    assert (
        REFUSED
        in attempt(attacker, "inspector_xincheng", "password", "198.51.100.99").content.decode()
    )
    assert (
        REFUSED
        in attempt(Client(), "inspector_xincheng", "password", "192.0.2.50").content.decode()
    )

    # The owner mistypes once on the usual phone, then gets in, from the same address as before.
    assert (
        REFUSED not in attempt(phone, "inspector_xincheng", "wrong", "192.0.2.50").content.decode()
    )
    assert attempt(phone, "inspector_xincheng", "password", "192.0.2.50").status_code == 302
    assert logged_in(phone)


def test_throttle_trusted_device_is_not_blocked_by_its_address_being_sprayed_from(world):
    phone = trusted_browser()
    for number in range(30):
        fail(Client(), 1, username=f"user{number}", address="192.0.2.50")

    assert attempt(phone, "inspector_xincheng", "password", "192.0.2.50").status_code == 302


def test_throttle_trusted_device_has_its_own_allowance_and_does_not_spend_the_accounts(world):
    phone = trusted_browser()
    fail(phone, 10)

    assert REFUSED in attempt(phone, "inspector_xincheng", "password").content.decode()
    # Its mistakes were its own: other browsers are not refused for this user or for the address.
    assert attempt(Client(), "inspector_xincheng", "password").status_code == 302


def test_throttle_success_on_a_trusted_device_clears_its_own_count(world):
    phone = trusted_browser()
    fail(phone, 9)
    assert attempt(phone, "inspector_xincheng", "password").status_code == 302
    log_out(phone)

    fail(phone, 9)
    assert attempt(phone, "inspector_xincheng", "password").status_code == 302


def test_throttle_another_users_device_cookie_does_not_trust_the_browser_for_alice(world):
    carol_phone = trusted_browser("inspector_binhe")
    fail(Client(), 10, address="198.51.100.1")

    assert REFUSED in attempt(carol_phone, "inspector_xincheng", "password").content.decode()
    # inspector_binhe herself still logs in on it.
    assert attempt(carol_phone, "inspector_binhe", "password").status_code == 302


def test_throttle_forged_device_cookie_is_untrusted_and_its_failures_count_against_the_account(
    world,
):
    attacker = Client()
    tag = throttle.login_attempt(None, "inspector_xincheng").username_key[:32]
    attacker.cookies[throttle.DEVICE_COOKIE_NAME] = signing.dumps(
        [[tag, "made-up-nonce"]], key="not-the-secret-key", salt="districts.throttle.device-cookie"
    )
    fail(attacker, 10, address="198.51.100.1")

    assert REFUSED in attempt(attacker, "inspector_xincheng", "password").content.decode()
    assert (
        REFUSED
        in attempt(Client(), "inspector_xincheng", "password", "198.51.100.2").content.decode()
    )


def test_throttle_garbage_device_cookie_is_ignored_without_error(client, world):
    client.cookies[throttle.DEVICE_COOKIE_NAME] = "\x00not:a:cookie"

    assert attempt(client, "inspector_xincheng", "password").status_code == 302


def test_throttle_device_cookie_expires(world):
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        phone = trusted_browser()
    later = start + datetime.timedelta(days=181)
    with time_machine.travel(later, tick=False):
        fail(Client(), 10, address="198.51.100.1")
        assert (
            REFUSED
            in attempt(phone, "inspector_xincheng", "password", "192.0.2.50").content.decode()
        )


def test_throttle_device_cookie_is_http_only_and_remembers_a_few_accounts(world):
    browser = Client()
    for username in ["inspector_xincheng", "supervisor_xincheng", "inspector_binhe"]:
        assert attempt(browser, username, "password").status_code == 302
        log_out(browser)
    cookie = browser.cookies[throttle.DEVICE_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    fail(Client(), 10, username="inspector_xincheng", address="198.51.100.1")
    fail(Client(), 10, username="supervisor_xincheng", address="198.51.100.2")

    assert attempt(browser, "inspector_xincheng", "password").status_code == 302
    log_out(browser)
    assert attempt(browser, "supervisor_xincheng", "password").status_code == 302


# --- nothing about who exists -------------------------------------------------------------


def errors(response) -> list[str]:
    return list(response.context["form"].non_field_errors())


def test_throttle_refusal_reads_the_same_for_an_unknown_user(client, world):
    fail(client, 10, username="inspector_xincheng", address="198.51.100.1")
    fail(client, 10, username="nosuchuser", address="198.51.100.2")

    known = attempt(client, "inspector_xincheng", "password", "198.51.100.3")
    unknown = attempt(client, "nosuchuser", "password", "198.51.100.4")

    assert known.status_code == unknown.status_code == 200
    assert errors(known) == errors(unknown)
    assert REFUSED in errors(known)[0]


def test_throttle_failure_reads_the_same_and_hashes_the_same_for_an_unknown_user(client, world):
    original = MD5PasswordHasher.encode
    with mock.patch.object(
        MD5PasswordHasher, "encode", autospec=True, side_effect=original
    ) as encode:
        known = attempt(client, "inspector_xincheng", "wrong")
        known_hashes = encode.call_count
        unknown = attempt(client, "nosuchuser", "wrong")
        unknown_hashes = encode.call_count - known_hashes

    assert errors(known) == errors(unknown)
    assert known_hashes == unknown_hashes == 1


def test_throttle_refusal_checks_no_password_for_anyone(client, world):
    fail(client, 10, username="inspector_xincheng", address="198.51.100.1")
    fail(client, 10, username="nosuchuser", address="198.51.100.2")
    original = MD5PasswordHasher.encode
    with mock.patch.object(
        MD5PasswordHasher, "encode", autospec=True, side_effect=original
    ) as encode:
        attempt(client, "inspector_xincheng", "password", "198.51.100.3")
        attempt(client, "nosuchuser", "password", "198.51.100.4")

    assert encode.call_count == 0


def test_throttle_keeps_no_username_or_address_in_the_table(client, world):
    fail(client, 3, username="inspector_xincheng", address="198.51.100.1")

    for key in LoginFailureCount.objects.values_list("key", flat=True):
        assert "inspector_xincheng" not in key
        assert "198.51" not in key
        assert len(key) == 64


# --- shared by every worker -------------------------------------------------------------------


WORKER_SCRIPT = """
import django
django.setup()
from django.test import Client
client = Client()
for number in range(10):
    response = client.post(
        "/accounts/login/",
        {"username": "inspector_xincheng", "password": "wrong"},
        REMOTE_ADDR=f"198.51.100.{number}",
    )
    assert response.status_code == 200, response.status_code
print("done")
"""


def database_url() -> str:
    config = connection.settings_dict
    user = config["USER"] or "postgres"
    return f"postgres://{user}@{config['HOST']}:{config['PORT'] or 5432}/{config['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_throttle_counts_are_shared_by_two_processes(world):
    assert connection.vendor == "postgresql"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
    }
    worker = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", WORKER_SCRIPT],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]

    # This process is the other worker: it sees the ten failures the first one counted.
    response = attempt(Client(), "inspector_xincheng", "password", "198.51.100.200")
    assert REFUSED in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_throttle_concurrent_failures_on_separate_connections_are_all_counted(world):
    target = throttle.login_attempt(None, "inspector_xincheng")
    start = threading.Barrier(8)

    def worker() -> None:
        try:
            start.wait(timeout=30)
            for _ in range(5):
                throttle.record_failure(target)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    counts = dict(LoginFailureCount.objects.values_list("pool", "failures"))
    assert counts == {"username": 40, "address": 40}


def test_throttle_purge_deletes_only_ended_windows(world):
    now = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    throttle.record_failure(throttle.login_attempt(None, "old"), now=now)
    later = now + datetime.timedelta(minutes=20)
    throttle.record_failure(throttle.login_attempt(None, "new"), now=later)

    # "old" (its username and the empty address) ended; "new" reused the address row.
    assert throttle.purge_expired(now=later) == 1
    assert LoginFailureCount.objects.count() == 2


def test_throttle_failures_now_and_then_purge_ended_windows(client, world):
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        fail(client, 1, username="someone", address="198.51.100.1")
    with (
        time_machine.travel(start + datetime.timedelta(hours=1), tick=False),
        mock.patch.object(throttle.secrets, "randbelow", return_value=0),
    ):
        fail(client, 1, username="inspector_xincheng", address="198.51.100.2")

    assert LoginFailureCount.objects.count() == 2  # only inspector_xincheng's two pools are left


# --- the client address -----------------------------------------------------------------------


def request_with(remote: str, **headers: str):
    return RequestFactory().post(LOGIN_URL, REMOTE_ADDR=remote, **headers)


def test_throttle_ignores_a_forwarded_header_unless_a_trusted_proxy_is_configured(client, world):
    request = request_with("10.0.0.254", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert throttle.client_address(request) == "10.0.0.254"

    # Rotating the header does not escape the address's count.
    for number in range(30):
        client.post(
            LOGIN_URL,
            {"username": f"user{number}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.254",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{number}",
        )
    response = client.post(
        LOGIN_URL,
        {"username": "supervisor_xincheng", "password": "password"},
        REMOTE_ADDR="10.0.0.254",
        HTTP_X_FORWARDED_FOR="198.51.100.77",
        **EN,
    )
    assert REFUSED in response.content.decode()


def test_throttle_honours_the_trusted_proxy_header_when_configured(settings, client, world):
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 1
    # Everyone arrives from the proxy's address; one client sprays.
    for number in range(30):
        client.post(
            LOGIN_URL,
            {"username": f"user{number}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.254",
            HTTP_X_FORWARDED_FOR="203.0.113.7",
        )

    def login_from(forwarded_for: str):
        return Client().post(
            LOGIN_URL,
            {"username": "supervisor_xincheng", "password": "password"},
            REMOTE_ADDR="10.0.0.254",
            HTTP_X_FORWARDED_FOR=forwarded_for,
            **EN,
        )

    assert REFUSED in login_from("203.0.113.7").content.decode()
    # A client spoofing an entry in front of what the proxy appended is still that client.
    assert REFUSED in login_from("192.0.2.1, 203.0.113.7").content.decode()
    # Everyone else behind the same proxy is not locked out.
    assert login_from("198.51.100.20").status_code == 302


def test_throttle_client_address_takes_the_entry_the_outermost_trusted_proxy_saw(settings):
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 2
    chain = "6.6.6.6, 198.51.100.1, 10.0.0.5"

    assert throttle.client_address(request_with("10.0.0.9", HTTP_X_FORWARDED_FOR=chain)) == (
        "198.51.100.1"
    )
    assert throttle.client_address(request_with("10.0.0.9")) == "10.0.0.9"
    bad = request_with("10.0.0.9", HTTP_X_FORWARDED_FOR="not-an-address, also-not")
    assert throttle.client_address(bad) == "10.0.0.9"


def test_throttle_client_address_reads_a_single_value_header(settings):
    settings.TRUSTED_PROXY_HEADER = "X-Real-IP"

    request = request_with("10.0.0.9", HTTP_X_REAL_IP="2001:db8::1")

    assert throttle.client_address(request) == "2001:db8::1"


def test_throttle_counts_one_ipv6_subscriber_network_as_one_address(client, world):
    for number in range(30):
        fail(client, 1, username=f"user{number}", address=f"2001:db8:1:2::{number + 1:x}")

    refused = attempt(Client(), "supervisor_xincheng", "password", "2001:db8:1:2::ffff")
    allowed = attempt(Client(), "supervisor_xincheng", "password", "2001:db8:1:3::1")

    assert REFUSED in refused.content.decode()
    assert allowed.status_code == 302


# --- Redis down -------------------------------------------------------------------------------


def test_throttle_login_succeeds_with_redis_down(client, world):
    with redis_at(CLOSED_PORT_URL):
        client.raise_request_exception = False
        fail(client, 3)
        response = attempt(client, "inspector_xincheng", "password")
        home = client.get(reverse("home"))

    assert response.status_code == 302
    assert logged_in(client)
    assert home.status_code == 200


def test_throttle_lockout_holds_with_redis_down(client, world):
    with redis_at(CLOSED_PORT_URL):
        client.raise_request_exception = False
        fail(client, 10)
        response = attempt(Client(raise_request_exception=False), "inspector_xincheng", "password")

    assert response.status_code == 200
    assert REFUSED in response.content.decode()


def test_security_cache_answers_as_empty_while_redis_is_down():
    from django.core.cache import caches

    backend = {"BACKEND": "civicapp.cache.ResilientRedisCache", "LOCATION": CLOSED_PORT_URL}
    with override_settings(CACHES={"default": backend}):
        cache = caches.create_connection("default")
        started = time.monotonic()
        cache.set("key", "value")
        assert cache.get("key", "missing") == "missing"
        assert cache.add("key", "value") is False
        assert cache.get_many(["key"]) == {}
        assert cache.delete("key") is False
        with pytest.raises(ValueError):
            cache.incr("key")
        assert time.monotonic() - started < 3


def test_security_cache_still_caches_while_redis_is_up():
    from django.core.cache import caches

    backend = {
        "BACKEND": "civicapp.cache.ResilientRedisCache",
        "LOCATION": "redis://127.0.0.1:6379/11",
    }
    with override_settings(CACHES={"default": backend}):
        cache = caches.create_connection("default")
        cache.set("throttle-test-key", "value", 30)
        try:
            assert cache.get("throttle-test-key") == "value"
        finally:
            cache.delete("throttle-test-key")


def test_redis_down_the_cache_leaves_a_silent_redis_alone_for_a_while(monkeypatch):
    """After a Redis error the cache answers as empty without calling Redis for a few seconds:
    a Redis that hangs costs one socket timeout, not one per call."""
    from django.core.cache.backends.redis import RedisCacheClient
    from redis.exceptions import TimeoutError as RedisTimeout

    from civicapp.cache import ResilientRedisCacheClient

    calls = []

    def hanging_get(self, key, default):
        calls.append(key)
        raise RedisTimeout("Timeout reading from socket")

    monkeypatch.setattr(RedisCacheClient, "get", hanging_get)
    client = ResilientRedisCacheClient(["redis://127.0.0.1:6379/9"])
    assert client.get("a", "miss") == "miss"
    assert client.get("b", "miss") == "miss"
    assert calls == ["a"]  # the second call never reached Redis
    client._skip_until = 0.0  # the break is over
    assert client.get("c", "miss") == "miss"
    assert calls == ["a", "c"]
