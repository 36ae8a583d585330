"""企业微信 and 钉钉 robots, for real over HTTP: a local server on 127.0.0.1 plays the robot."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import urllib.parse

import pytest
from django.test import override_settings
from django.utils import translation

from reminders import services
from reminders.channels import (
    DingTalkChannel,
    Message,
    MessageItem,
    PermanentError,
    TransientError,
    WeComChannel,
    dingtalk_sign,
)
from reminders.models import ChannelConfig, ChannelKind, Delivery, Reminder
from tests.reminders.conftest import KEYWORD, NOW, SECRET, RobotServer, overdue_issue

pytestmark = pytest.mark.django_db


def wecom_config(world, server: RobotServer) -> ChannelConfig:
    return ChannelConfig.objects.create(
        organisation=world.org_x,
        kind=ChannelKind.WECOM,
        webhook_url=server.url("/cgi-bin/webhook/send?key=wecom-robot-key"),
    )


def dingtalk_config(world, server: RobotServer, secret: str = SECRET) -> ChannelConfig:
    return ChannelConfig.objects.create(
        organisation=world.org_x,
        kind=ChannelKind.DINGTALK,
        webhook_url=server.url("/robot/send?access_token=dingtalk-token"),
        signing_secret=secret,
        keyword=KEYWORD,
    )


def robot_delivery(config: ChannelConfig) -> Delivery:
    return Delivery.objects.get(config=config)


def test_wecom_webhook_receives_one_markdown_message_for_many_cases(world, robot_server):
    config = wecom_config(world, robot_server)
    issues = [overdue_issue(world) for _ in range(3)]
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW)

    [request] = robot_server.received
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": "wecom-robot-key"}
    assert request.payload["msgtype"] == "markdown"
    content = request.payload["markdown"]["content"]
    for issue in issues:
        assert f"[{issue.case_number}](http://127.0.0.1:8000/" in content
    assert "水域蓝湾社区" in content
    delivery = Delivery.objects.filter(config=config).first()
    assert (delivery.state, delivery.response_code) == ("sent", 200)


def test_dingtalk_webhook_is_signed_and_carries_the_keyword(world, robot_server):
    config = dingtalk_config(world, robot_server)
    issue = overdue_issue(world)
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW)

    [request] = robot_server.received
    assert request.signature_ok is True
    assert request.query["access_token"] == "dingtalk-token"
    markdown = request.payload["markdown"]
    assert request.payload["msgtype"] == "markdown"
    assert KEYWORD in markdown["title"] and KEYWORD in markdown["text"]
    assert issue.case_number in markdown["text"]
    assert robot_delivery(config).state == Delivery.State.SENT


def test_dingtalk_wrong_signing_secret_is_recorded_as_a_permanent_failure(world, robot_server):
    config = dingtalk_config(world, robot_server, secret="not-the-robots-secret")
    overdue_issue(world)
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW)

    assert robot_server.received[0].signature_ok is False
    delivery = robot_delivery(config)
    assert delivery.state == Delivery.State.FAILED
    assert "310000" in delivery.last_error


def test_webhook_5xx_answer_is_retried_and_then_succeeds(world, robot_server):
    config = wecom_config(world, robot_server)
    overdue_issue(world)
    services.reminders_run(now=NOW)
    robot_server.answers.append((503, {"errmsg": "busy"}, {}))

    services.deliveries_send(now=NOW)

    delivery = robot_delivery(config)
    assert (delivery.state, delivery.attempts, delivery.response_code) == ("pending", 1, 503)
    assert "503" in delivery.last_error
    assert delivery.next_attempt_at > NOW

    services.deliveries_send(now=delivery.next_attempt_at)

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.response_code) == ("sent", 2, 200)
    assert len(robot_server.received) == 2
    assert delivery.reminder.state == Reminder.State.SENT


def test_webhook_4xx_answer_is_recorded_as_failed_without_retry(world, robot_server):
    config = wecom_config(world, robot_server)
    overdue_issue(world)
    services.reminders_run(now=NOW)
    robot_server.answers.append((404, {"errmsg": "no such robot"}, {}))

    services.deliveries_send(now=NOW)
    services.deliveries_send(now=NOW + datetime.timedelta(hours=2))

    delivery = robot_delivery(config)
    assert (delivery.state, delivery.attempts, delivery.response_code) == ("failed", 1, 404)
    assert "no such robot" in delivery.last_error
    assert len(robot_server.received) == 1
    assert delivery.reminder.state == Reminder.State.FAILED


def test_webhook_429_waits_at_least_its_retry_after(world, robot_server):
    config = wecom_config(world, robot_server)
    overdue_issue(world)
    services.reminders_run(now=NOW)
    robot_server.answers.append((429, {}, {"Retry-After": "900"}))

    services.deliveries_send(now=NOW)

    delivery = robot_delivery(config)
    assert delivery.state == Delivery.State.PENDING
    assert delivery.next_attempt_at >= NOW + datetime.timedelta(seconds=900)


def test_dingtalk_rate_limit_errcode_waits_out_the_ten_minute_block(world, robot_server):
    config = dingtalk_config(world, robot_server)
    overdue_issue(world)
    services.reminders_run(now=NOW)
    robot_server.answers.append((200, {"errcode": 130101, "errmsg": "send too fast"}, {}))

    services.deliveries_send(now=NOW)

    delivery = robot_delivery(config)
    assert delivery.state == Delivery.State.PENDING
    assert delivery.next_attempt_at >= NOW + datetime.timedelta(minutes=10)


def test_wecom_errcode_other_than_rate_limit_is_permanent(robot_server):
    channel = WeComChannel(webhook_url=robot_server.url("/cgi-bin/webhook/send?key=k"))
    robot_server.answers.append((200, {"errcode": 93000, "errmsg": "invalid webhook url"}, {}))
    with pytest.raises(PermanentError, match="93000"):
        channel.send(Message(title="t", intro="i"))
    robot_server.answers.append((200, {"errcode": 45009, "errmsg": "api freq out of limit"}, {}))
    with pytest.raises(TransientError, match="45009"):
        channel.send(Message(title="t", intro="i"))


@override_settings(REMINDER_HTTP_TIMEOUT_SECONDS=1)
def test_webhook_timeout_is_a_transient_error(robot_server):
    robot_server.delay_seconds = 1.5
    channel = WeComChannel(webhook_url=robot_server.url("/cgi-bin/webhook/send?key=k"))
    with pytest.raises(TransientError):
        channel.send(Message(title="t", intro="i"))


def test_webhook_connection_refused_is_a_transient_error(allow_local_robot):
    channel = DingTalkChannel(webhook_url="http://127.0.0.1:9/robot/send", secret=SECRET)
    with pytest.raises(TransientError):
        channel.send(Message(title="t", intro="i"))


def test_dingtalk_sign_matches_the_documented_recipe():
    # HMAC-SHA256 over "timestamp\nsecret", base64, then URL-encoded.
    expected = base64.b64encode(
        hmac.new(b"s3cret", b"1700000000000\ns3cret", hashlib.sha256).digest()
    ).decode()
    assert dingtalk_sign("s3cret", 1700000000000) == urllib.parse.quote_plus(expected)


def test_wecom_markdown_stays_under_the_robot_size_limit():
    items = tuple(
        MessageItem(
            key=f"k{number}",
            issue_id=number,
            kind="overdue",
            case_number=f"2026-{number:06d}",
            headline="h",
            category="垃圾乱丢乱放" * 3,
            place="水域蓝湾社区 水域蓝湾早夜市" * 2,
            status="overdue by 3 h 5 min",
            link=f"http://127.0.0.1:8000/issues/{number}/",
        )
        for number in range(60)
    )
    with translation.override("en"):
        text = Message(title="Overdue", intro="Please", items=items).as_markdown()
    assert len(text.encode()) <= 4096
    assert "more" in text
