"""Fixtures of the reminder tests: a fixed clock, clock-running issues, a recording channel."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
SECRET = "SEC0123456789abcdef-test-secret"
KEYWORD = "城管提醒"


def clock_issue(world, *, started, deadline, organisation=None, status=Status.ASSIGNED, **extra):
    """An issue whose organisation's clock runs from `started` to `deadline`."""
    return IssueFactory(
        zone=world.zone,
        community=extra.pop("community", world.community_a),
        category=extra.pop("category", world.category),
        reporter=world.inspector_xincheng,
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

    `failures[target_key]` is a list of exceptions raised by the next sends to that target
    (None: that send goes through).
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
                    failure = pending.pop(0) if pending else None
                    if failure is not None:
                        raise failure
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


@dataclass
class Received:
    path: str
    query: dict[str, str]
    payload: dict
    signature_ok: bool | None = None


@dataclass
class RobotServer:
    """What the robot received, and the answers it will give next (FIFO; then 200 errcode 0).

    An answer is (status, body, headers): a dict body goes out as JSON, text or bytes as is.
    """

    port: int = 0
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict, dict]] = field(default_factory=list)
    delay_seconds: float = 0.0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def dingtalk_signature_ok(query: dict[str, str], secret: str) -> bool:
    """What DingTalk checks: a fresh timestamp and sign = b64(HMAC-SHA256(secret, ts\\nsecret))."""
    try:
        timestamp = int(query["timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() * 1000 - timestamp) > 3600 * 1000:
        return False
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    # parse_qs already url-decoded the sign, so compare with the plain base64.
    return hmac.compare_digest(query.get("sign", ""), expected)


# A public address the fake resolver gives the robots' real names (offline, nothing connects).
ROBOT_PUBLIC_ADDRESS = "101.226.0.10"
ROBOT_HOSTS = ("qyapi.weixin.qq.com", "oapi.dingtalk.com")


class FakeDNS:
    """A resolver for named hosts: `answers[name]` is a list of address lists, one per lookup
    (the last repeats). IP literals and other names go to the real resolver."""

    def __init__(self, real) -> None:
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def __call__(self, host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(name)
        answers = self.answers[name]
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        results = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port or 0, 0, 0) if family == socket.AF_INET6 else (address, port)
            results.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return results


@pytest.fixture
def fake_dns(monkeypatch) -> FakeDNS:
    """Answer DNS for chosen names; the robots' real names resolve to a public address."""
    resolver = FakeDNS(socket.getaddrinfo)
    for host in ROBOT_HOSTS:
        resolver.answers[host] = [[ROBOT_PUBLIC_ADDRESS]]
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return resolver


@pytest.fixture
def allow_local_robot(settings) -> None:
    """The local robot server listens on 127.0.0.1, which webhooks may reach only by name."""
    settings.REMINDER_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def robot_server(allow_local_robot) -> Iterator[RobotServer]:
    """A robot on 127.0.0.1; it sets the allowlist (allow_local_robot) that lets webhooks in."""
    state = RobotServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length).decode())
            parsed = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parsed.query))
            received = Received(parsed.path, query, payload)
            if parsed.path == "/robot/send":
                received.signature_ok = dingtalk_signature_ok(query, SECRET)
            state.received.append(received)
            if state.delay_seconds:
                time.sleep(state.delay_seconds)
            if state.answers:
                status, body, headers = state.answers.pop(0)
            elif received.signature_ok is False:
                status, body, headers = 200, {"errcode": 310000, "errmsg": "sign not match"}, {}
            elif parsed.path == "/robot/send" and KEYWORD not in payload["markdown"]["text"]:
                status, body, headers = 200, {"errcode": 310000, "errmsg": "keywords not in"}, {}
            else:
                status, body, headers = 200, {"errcode": 0, "errmsg": "ok"}, {}
            # A dict is a robot's JSON answer; text or bytes are sent as they are.
            data = body.encode() if isinstance(body, str) else body
            if not isinstance(data, bytes):
                data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test)

        def log_message(self, *args) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
