"""Webhook security: robot URLs reach public hosts only, and only superusers set them."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from districts.models import Role
from reminders import netguard, services
from reminders.channels import Message, PermanentError, TransientError, WeComChannel
from reminders.forms import ChannelConfigForm
from reminders.models import ChannelConfig, ChannelKind, Delivery
from tests.factories import UserFactory, make_staff
from tests.reminders.conftest import NOW, RobotServer, overdue_issue

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    """The messages are asserted in English; the Chinese catalogue has them too."""
    with translation.override("en"):
        yield


KEY = "robot-key-0123456789-never-in-errors"

INTERNAL_URLS = [
    "http://127.0.0.1:6379/",
    "http://localhost/robot",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/robot",
    "http://172.16.1.1/robot",
    "http://192.168.1.1/robot",
    "http://100.64.0.1/robot",  # shared address space (carrier-grade NAT)
    "http://0.0.0.0/robot",
    "http://224.0.0.1/robot",  # multicast
    "http://240.0.0.1/robot",  # reserved
    "http://2130706433/robot",  # 127.0.0.1 written as one number
    "http://0x7f000001/robot",  # and in hexadecimal
    "http://[::1]/robot",
    "http://[::]/robot",
    "http://[::ffff:127.0.0.1]/robot",  # IPv4-mapped IPv6
    "http://[::ffff:169.254.169.254]/robot",
    "http://[fe80::1]/robot",
    "http://[fc00::1]/robot",
    "http://[ff02::1]/robot",
    "http://[64:ff9b::7f00:1]/robot",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]/robot",  # 6to4 of 127.0.0.1
]


def form(url: str, **changes) -> ChannelConfigForm:
    data = {
        "organisation": "",
        "kind": ChannelKind.WECOM,
        "enabled": "on",
        "webhook_url": url,
        "signing_secret": "",
        "keyword": "",
        "email_addresses": "",
        "quiet_start": "",
        "quiet_end": "",
        "rate_limit_per_minute": "20",
    }
    data.update(changes)
    return ChannelConfigForm(data=data)


def with_key(url: str) -> str:
    return f"{url}?key={KEY}"


# --- at save --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_webhook_security_channel_form_refuses_internal_addresses(url):
    bound = form(with_key(url))

    assert not bound.is_valid()
    assert "inside the network" in str(bound.errors["webhook_url"])
    assert KEY not in str(bound.errors)


@pytest.mark.parametrize("url", INTERNAL_URLS[:6])
def test_webhook_security_model_validation_refuses_internal_addresses(url):
    config = ChannelConfig(kind=ChannelKind.WECOM, webhook_url=with_key(url))

    with pytest.raises(ValidationError) as caught:
        config.full_clean()

    assert "webhook_url" in caught.value.message_dict


def test_webhook_security_refuses_a_name_that_resolves_inside_the_network(fake_dns):
    fake_dns.answers["robot.example.cn"] = [["10.1.2.3"]]
    fake_dns.answers["mixed.example.cn"] = [["101.226.0.11", "192.168.0.9"]]

    assert not form(with_key("https://robot.example.cn/send")).is_valid()
    # One internal answer among public ones is enough: the next lookup could return it.
    assert not form(with_key("https://mixed.example.cn/send")).is_valid()
    assert form(with_key("https://qyapi.weixin.qq.com/cgi-bin/webhook/send")).is_valid()


def test_webhook_security_refuses_a_name_that_does_not_resolve(fake_dns):
    fake_dns.answers["robot.example.cn"] = [[]]

    bound = form(with_key("https://robot.example.cn/send"))

    assert not bound.is_valid()
    assert "could not be found" in str(bound.errors["webhook_url"])


def test_webhook_security_allowlist_lets_a_named_internal_host_through(fake_dns, settings):
    fake_dns.answers["robot-gateway.intranet"] = [["10.1.2.3"]]
    settings.REMINDER_WEBHOOK_ALLOWED_HOSTS = ["Robot-Gateway.Intranet.", "127.0.0.1"]

    assert form(with_key("http://robot-gateway.intranet:8080/send")).is_valid()
    assert form(with_key("http://127.0.0.1:9000/send")).is_valid()
    assert not form(with_key("http://10.1.2.3/send")).is_valid()  # the name, not its address


def test_webhook_security_keeping_a_saved_internal_url_is_refused_too(world):
    # Saved before the check existed (or written directly): the next save must fix it.
    config = ChannelConfig.objects.create(
        organisation=world.org_x, kind=ChannelKind.WECOM, webhook_url=with_key("http://10.0.0.1/")
    )

    bound = ChannelConfigForm(
        data={
            "organisation": world.org_x.pk,
            "kind": ChannelKind.WECOM,
            "enabled": "on",
            "webhook_url": "",
            "rate_limit_per_minute": "10",
        },
        instance=config,
    )

    assert not bound.is_valid()
    assert "webhook_url" in bound.errors


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("101.226.0.10", True),
        ("8.8.8.8", True),
        ("2400:3200::1", True),
        ("::ffff:8.8.8.8", True),
        ("2002:808:808::", True),  # 6to4 of 8.8.8.8
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("2001:db8::1", False),  # documentation
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_webhook_security_public_addresses_are_told_apart_from_internal_ones(address, public):
    assert netguard.is_public(ipaddress.ip_address(address)) is public


# --- at send ----------------------------------------------------------------------------------


def test_webhook_security_refuses_at_send_a_name_that_now_resolves_inside(
    world, fake_dns, robot_server: RobotServer, settings
):
    """DNS rebinding: public when saved, loopback when sent; nothing reaches the loopback."""
    settings.REMINDER_WEBHOOK_ALLOWED_HOSTS = []
    fake_dns.answers["robot.example.cn"] = [["101.226.0.12"], ["127.0.0.1"]]
    url = f"http://robot.example.cn:{robot_server.port}/cgi-bin/webhook/send?key={KEY}"
    saved = form(url, organisation=world.org_x.pk)
    assert saved.is_valid(), saved.errors
    config = saved.save()
    overdue_issue(world)
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW)

    assert robot_server.received == []
    delivery = Delivery.objects.get(config=config)
    assert delivery.state == Delivery.State.FAILED
    assert "inside the network" in delivery.last_error and KEY not in delivery.last_error


def test_webhook_security_send_connects_to_the_address_it_checked(fake_dns, robot_server):
    # Allowlisted by name; a second lookup would answer an address where nothing listens.
    fake_dns.answers["robot.allowed.test"] = [["127.0.0.1"], ["10.255.255.1"]]
    robot_server_url = f"http://robot.allowed.test:{robot_server.port}/cgi-bin/webhook/send?key=k"
    channel = WeComChannel(webhook_url=robot_server_url)

    with override_settings(REMINDER_WEBHOOK_ALLOWED_HOSTS=["robot.allowed.test"]):
        channel.send(Message(title="t", intro="i"))

    assert len(robot_server.received) == 1
    assert fake_dns.lookups == ["robot.allowed.test"]  # resolved once, then connected to it


def test_webhook_security_internal_url_saved_directly_fails_at_send_without_a_request(world):
    config = ChannelConfig.objects.create(
        organisation=world.org_x,
        kind=ChannelKind.WECOM,
        webhook_url=with_key("http://169.254.169.254/latest/meta-data/"),
    )
    overdue_issue(world)
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW)

    delivery = Delivery.objects.get(config=config)
    assert delivery.state == Delivery.State.FAILED
    assert "inside the network" in delivery.last_error


def test_webhook_security_unresolvable_at_send_is_retried_later(fake_dns):
    fake_dns.answers["robot.example.cn"] = [[]]
    channel = WeComChannel(webhook_url=with_key("https://robot.example.cn/send"))

    with pytest.raises(TransientError):
        channel.send(Message(title="t", intro="i"))


# --- what the delivery log keeps --------------------------------------------------------------


def test_webhook_security_delivery_log_keeps_no_page_body(world, robot_server):
    config = ChannelConfig.objects.create(
        organisation=world.org_x,
        kind=ChannelKind.WECOM,
        webhook_url=robot_server.url(f"/cgi-bin/webhook/send?key={KEY}"),
    )
    overdue_issue(world)
    services.reminders_run(now=NOW)
    page = "<html><body>INTERNAL ADMIN PAGE " + "x" * 5000 + "</body></html>"
    robot_server.answers.append((403, page, {"Content-Type": "text/html"}))

    services.deliveries_send(now=NOW)

    delivery = Delivery.objects.get(config=config)
    assert delivery.state == Delivery.State.FAILED and delivery.response_code == 403
    assert delivery.last_error.endswith("HTTP 403: an answer of 5046 bytes, not shown")
    assert "INTERNAL" not in delivery.last_error and "<" not in delivery.last_error


def test_webhook_security_a_robots_error_message_is_kept_short_and_plain(robot_server):
    channel = WeComChannel(webhook_url=robot_server.url(f"/cgi-bin/webhook/send?key={KEY}"))
    errmsg = f"bad key {KEY}\n\r\x00<b>" + "y" * 1000
    robot_server.answers.append((400, {"errcode": 93000, "errmsg": errmsg}, {}))

    with pytest.raises(PermanentError) as caught:
        channel.send(Message(title="t", intro="i"))

    text = str(caught.value)
    assert text.startswith("HTTP 400: errcode 93000, errmsg bad key")
    assert len(text) <= 140
    assert KEY not in text and "\n" not in text and "\x00" not in text and "<b>" not in text


# --- who may edit channel settings ------------------------------------------------------------


@pytest.fixture
def zone_admin_client(client, world):
    admin_zone = world.admin_zone
    admin_zone.is_staff = True
    admin_zone.save(update_fields=["is_staff"])
    client.force_login(admin_zone)
    return client


@pytest.fixture
def robot_config(world) -> ChannelConfig:
    return ChannelConfig.objects.create(
        organisation=world.org_x,
        kind=ChannelKind.DINGTALK,
        webhook_url=with_key("https://oapi.dingtalk.com/robot/send"),
        signing_secret="SEC-never-shown-to-zone-admins",
    )


def test_webhook_security_zone_admin_cannot_add_a_channel(zone_admin_client, world):
    add = reverse("admin:reminders_channelconfig_add")

    assert zone_admin_client.get(add).status_code == 403
    response = zone_admin_client.post(
        add,
        {
            "organisation": world.org_y.pk,
            "kind": ChannelKind.WECOM,
            "enabled": "on",
            "webhook_url": "http://127.0.0.1:6379/",
            "rate_limit_per_minute": "20",
        },
    )

    assert response.status_code == 403
    assert not ChannelConfig.objects.exists()


def test_webhook_security_zone_admin_sees_channels_masked_and_cannot_change_them(
    zone_admin_client, robot_config
):
    change = reverse("admin:reminders_channelconfig_change", args=[robot_config.pk])
    delete = reverse("admin:reminders_channelconfig_delete", args=[robot_config.pk])

    listing = zone_admin_client.get(reverse("admin:reminders_channelconfig_changelist"))
    view = zone_admin_client.get(change)
    posted = zone_admin_client.post(
        change,
        {"kind": ChannelKind.DINGTALK, "webhook_url": "http://169.254.169.254/", "enabled": "on"},
    )
    deleted = zone_admin_client.post(delete, {"post": "yes"})

    assert listing.status_code == 200 and view.status_code == 200
    for page in (listing, view):
        body = page.content.decode()
        assert KEY not in body and "SEC-never-shown" not in body
        assert "https://oapi.dingtalk.com/…" in body
    assert 'name="webhook_url"' not in view.content.decode()
    assert posted.status_code == 403 and deleted.status_code == 403
    robot_config.refresh_from_db()
    assert robot_config.webhook_url == with_key("https://oapi.dingtalk.com/robot/send")


def test_webhook_security_zone_admin_may_read_the_delivery_log(zone_admin_client, world):
    overdue_issue(world)
    services.reminders_run(now=NOW)

    response = zone_admin_client.get(reverse("admin:reminders_delivery_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == Delivery.objects.count() > 0


def test_webhook_security_superuser_edits_channel_settings(client, fake_dns, robot_config):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    change = reverse("admin:reminders_channelconfig_change", args=[robot_config.pk])

    refused = client.post(
        change,
        {
            "organisation": robot_config.organisation_id,
            "kind": ChannelKind.DINGTALK,
            "enabled": "on",
            "webhook_url": "http://[::ffff:10.0.0.1]/robot",
            "rate_limit_per_minute": "20",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    saved = client.post(
        change,
        {
            "organisation": robot_config.organisation_id,
            "kind": ChannelKind.DINGTALK,
            "enabled": "on",
            "webhook_url": "",
            "rate_limit_per_minute": "12",
        },
    )

    assert refused.status_code == 200 and "inside the network" in refused.content.decode()
    assert saved.status_code == 302
    robot_config.refresh_from_db()
    assert robot_config.rate_limit_per_minute == 12


def test_webhook_security_a_handler_or_supervisor_never_reaches_channel_settings(client, world):
    supervisor = make_staff("sue", Role.SUPERVISOR, districts=[world.district_a])
    supervisor.is_staff = True
    supervisor.save(update_fields=["is_staff"])
    client.force_login(supervisor)

    assert client.get(reverse("admin:reminders_channelconfig_changelist")).status_code == 403
