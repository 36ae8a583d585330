"""Fixtures of the reminder tests: a fixed clock, clock-running issues, a recording channel."""

from __future__ import annotations

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest

from issues.models import Status
from reminders.channels import Channel, InAppChannel, Message, channel_for
from reminders.models import ChannelConfig, ChannelKind
from tests.factories import IssueFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Tuesday 10 March 2026, 10:00 in the zone: an ordinary working day.
NOW = datetime.datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)
HOUR = datetime.timedelta(hours=1)


def clock_issue(world, *, started, deadline, organisation=None, status=Status.ASSIGNED, **extra):
    """An issue whose organisation's clock runs from `started` to `deadline`."""
    return IssueFactory(
        zone=world.zone,
        community=extra.pop("community", world.community_a),
        category=extra.pop("category", world.category),
        reporter=world.alice,
        status=status,
        assigned_organisation=organisation or world.org_x,
        dispatched_at=started,
        clock_started_at=started,
        deadline=deadline,
        reported_at=started,
        **extra,
    )


def overdue_issue(world, *, hours_late: float = 0.5, allowed_hours: float = 2, **extra):
    """Overdue by `hours_late` at NOW, with `allowed_hours` of allowed time."""
    deadline = NOW - datetime.timedelta(hours=hours_late)
    return clock_issue(
        world,
        started=deadline - datetime.timedelta(hours=allowed_hours),
        deadline=deadline,
        **extra,
    )


def robot(organisation, kind=ChannelKind.WECOM, **extra) -> ChannelConfig:
    defaults = {
        "webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET-KEY",
        "rate_limit_per_minute": 20,
    }
    defaults.update(extra)
    return ChannelConfig.objects.create(organisation=organisation, kind=kind, **defaults)


class Recorder:
    """A channel factory: in-app is real, every other channel records what it was given.

    `failures[target_key]` is a list of exceptions raised by the next sends to that target.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []
        self.failures: dict[str, list[Exception]] = {}
        self._lock = threading.Lock()

    def __call__(self, config, *, user_id=None) -> Channel:
        real = channel_for(config, user_id=user_id)
        if isinstance(real, InAppChannel):
            return real
        recorder = self

        class RecordingChannel(Channel):
            def send(self, message: Message) -> None:
                with recorder._lock:
                    pending = recorder.failures.get(config.target_key)
                    if pending:
                        raise pending.pop(0)
                    recorder.sent.append((config.target_key, message))
                self.last_response_code = 200

        return RecordingChannel()

    def messages_to(self, config: ChannelConfig) -> list[Message]:
        return [message for key, message in self.sent if key == config.target_key]

    def case_numbers(self, config: ChannelConfig | None = None) -> list[str]:
        return [
            item.case_number
            for key, message in self.sent
            if config is None or key == config.target_key
            for item in message.items
        ]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
