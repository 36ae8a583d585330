"""Robot secrets stay secret, and robot markdown shows what reporters typed as plain text."""

from __future__ import annotations

import pytest

from reminders import services
from reminders.channels import (
    EmailChannel,
    Message,
    MessageItem,
    PermanentError,
    WeComChannel,
    markdown_text,
    post_json,
    redact,
)
from reminders.forms import ChannelConfigForm
from reminders.models import ChannelConfig, ChannelKind, Delivery
from tests.reminders.conftest import NOW, RobotServer, overdue_issue

pytestmark = pytest.mark.django_db

KEY = "wecom-robot-key-0123456789-secret"
HOSTILE_ADDRESS = "[点我领奖](http://evil.example/x) <@all> @所有人 **急**\n# 标题 `x` ~~y~~"


def wecom(world, url: str) -> ChannelConfig:
    return ChannelConfig.objects.create(
        organisation=world.org_x, kind=ChannelKind.WECOM, webhook_url=url
    )


def form(**changes) -> ChannelConfigForm:
    data = {
        "organisation": "",
        "kind": ChannelKind.WECOM,
        "enabled": "on",
        "webhook_url": "",
        "signing_secret": "",
        "keyword": "",
        "email_addresses": "",
        "quiet_start": "",
        "quiet_end": "",
        "rate_limit_per_minute": "20",
    }
    data.update(changes)
    return ChannelConfigForm(data=data)


# --- markdown built from user text --------------------------------------------------------------


def test_markdown_text_neutralises_links_mentions_tags_and_line_breaks():
    text = markdown_text(HOSTILE_ADDRESS)
    for syntax in ("[", "]", "<", ">", "@", "*", "`", "~", "\n", "http://"):
        assert syntax not in text
    assert "点我领奖" in text and "所有人" in text


def test_robot_message_shows_a_reporters_address_as_plain_text(world, robot_server):
    config = wecom(world, robot_server.url(f"/cgi-bin/webhook/send?key={KEY}"))
    issue = overdue_issue(world, address=HOSTILE_ADDRESS)
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW)

    [request] = robot_server.received
    content = request.payload["markdown"]["content"]
    lines = content.splitlines()
    [case_line] = [line for line in lines if issue.case_number in line]
    # The only link is ours, to the case; nothing else in the line is markdown.
    assert case_line.count("](") == 1
    assert f"[{issue.case_number}](http://127.0.0.1:8000/" in case_line
    assert "<@" not in content and "@all" not in content and "@所有人" not in content
    assert "](http://evil" not in content
    assert robot_delivery_state(config) == Delivery.State.SENT


def test_robot_message_neutralises_names_from_an_import(world, robot_server):
    world.org_x.name = "**[假冒单位](http://evil.example)**"
    world.org_x.save()
    world.community_a.name = "<font color=warning>社区</font>"
    world.community_a.save()
    wecom(world, robot_server.url(f"/cgi-bin/webhook/send?key={KEY}"))
    overdue_issue(world)
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW)

    content = robot_server.received[0].payload["markdown"]["content"]
    assert "](http://evil" not in content
    assert "<font" not in content
    assert "［假冒单位］" in content and "社区" in content


def test_plain_text_channels_keep_the_text_as_typed():
    item = MessageItem(
        key="k",
        issue_id=1,
        kind="overdue",
        case_number="2026-000001",
        headline="h",
        category="垃圾",
        place="A [B] @C",
        status="late",
        link="http://127.0.0.1:8000/issues/1/",
    )
    assert "A [B] @C" in Message(title="t", intro="", items=(item,)).as_text()


def robot_delivery_state(config: ChannelConfig) -> str:
    return Delivery.objects.get(config=config).state


# --- webhook URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://files.example/x",
        "gopher://127.0.0.1:70/x",
        "javascript:alert(1)",
        "https:///no-host",
        f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY} x",
        "http://qyapi.weixin.qq.com:port/cgi-bin/webhook/send",
    ],
)
def test_channel_form_refuses_webhook_urls_that_are_not_plain_http_without_echoing_them(url):
    bound = form(webhook_url=url)
    assert not bound.is_valid()
    assert "webhook_url" in bound.errors
    assert KEY not in str(bound.errors)
    assert url not in str(bound.errors)


def test_channel_form_accepts_an_https_robot_url(fake_dns):
    bound = form(webhook_url=f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}")
    assert bound.is_valid(), bound.errors


@pytest.mark.parametrize(
    "url",
    [
        f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY} x",
        f"http://127.0.0.1:notaport/cgi-bin/webhook/send?key={KEY}",
        f"file:///cgi-bin/webhook/send?key={KEY}",
    ],
)
def test_a_malformed_saved_url_fails_permanently_without_the_key_in_the_error(url):
    with pytest.raises(PermanentError) as caught:
        post_json(url, {"msgtype": "markdown"})
    assert KEY not in str(caught.value)


def test_delivery_log_never_holds_the_webhook_key(world):
    # A URL saved before validation existed (or written directly) that urllib refuses.
    config = wecom(world, f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY} x")
    overdue_issue(world)
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW)

    delivery = Delivery.objects.get(config=config)
    assert delivery.state == Delivery.State.FAILED
    assert delivery.last_error
    assert KEY not in delivery.last_error


def test_an_error_answer_that_echoes_the_url_is_redacted(world, robot_server: RobotServer):
    config = wecom(world, robot_server.url(f"/cgi-bin/webhook/send?key={KEY}"))
    overdue_issue(world)
    services.reminders_run(now=NOW)
    robot_server.answers.append(
        (404, {"errmsg": f"no robot at /cgi-bin/webhook/send?key={KEY}"}, {})
    )

    services.deliveries_send(now=NOW)

    delivery = Delivery.objects.get(config=config)
    assert delivery.state == Delivery.State.FAILED
    assert "no robot at" in delivery.last_error
    assert KEY not in delivery.last_error


def test_a_redirect_is_not_followed(robot_server: RobotServer):
    robot_server.answers.append((302, {}, {"Location": "http://127.0.0.1:1/elsewhere"}))
    channel = WeComChannel(webhook_url=robot_server.url(f"/cgi-bin/webhook/send?key={KEY}"))

    with pytest.raises(PermanentError) as caught:
        channel.send(Message(title="t", intro="i"))

    assert caught.value.response_code == 302
    assert len(robot_server.received) == 1


def test_redact_removes_the_url_its_query_and_each_value():
    url = f"https://oapi.dingtalk.com/robot/send?access_token={KEY}&timestamp=1&sign=abc%2Bdef"
    text = f"failed {url} / {KEY} / access_token={KEY} / sign=abc%2Bdef"
    cleaned = redact(text, url)
    assert KEY not in cleaned
    assert "abc%2Bdef" not in cleaned and "abc+def" not in cleaned


def test_an_email_subject_stays_one_line_whatever_the_organisation_is_called(mailoutbox):
    channel = EmailChannel(addresses=["office@example.com"])

    channel.send(Message(title="Overdue: 1 case of 单位\r\nBcc: victim@example.com", intro="i"))

    [sent] = mailoutbox
    assert sent.subject == "Overdue: 1 case of 单位 Bcc: victim@example.com"
    assert sent.bcc == []
