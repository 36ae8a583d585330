"""The channels a reminder goes out on, behind one small interface.

`Channel.send(message)` returns nothing when the channel accepted the message and raises
`TransientError` (try again later: timeouts, connection errors, 5xx, 429, a robot's rate-limit
code) or `PermanentError` (retrying cannot help: 4xx, bad settings, any other robot error code).
HTTP goes through http.client with a short timeout, to the address `netguard` checked (no
proxy, no redirects), so no dependency is added for two webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import re
import smtplib
import socket
import time
import urllib.parse
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from django.utils.translation import gettext as _

from issues.models import Notification, is_site_path
from reminders import netguard
from reminders.models import ChannelConfig, ChannelKind
from reminders.netguard import webhook_url_problem
from reminders.sql import adapt_datetime, insert_ignoring_conflicts

logger = logging.getLogger(__name__)

# Robot error codes that mean "too many messages, wait": WeCom 45009 (API frequency),
# DingTalk 130101 (more than 20 a minute) and 130102 (blocked for 10 minutes after that).
WECOM_RATE_CODES = frozenset({45009, 45033})
DINGTALK_RATE_CODES = frozenset({130101, 130102})
DINGTALK_BLOCK_SECONDS = 600
# WeCom refuses markdown over 4096 bytes; DingTalk allows more but long texts are unreadable.
MARKDOWN_MAX_BYTES = 4000


class ChannelError(Exception):
    """A channel refused or failed to take a message."""

    def __init__(
        self, message: str, *, response_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.response_code = response_code
        self.retry_after = retry_after


class TransientError(ChannelError):
    """Try again later; `retry_after` (seconds) is the least wait the channel asked for."""


class PermanentError(ChannelError):
    """Retrying the same message cannot succeed; record it for an admin."""


# What robot markdown (WeCom, DingTalk) reads as syntax in text we did not write (a reporter's
# address, names from an import), mapped to full-width look-alikes that read the same in
# Chinese: no link, image, <@mention> or <font> tag, @all, emphasis or extra line can be made.
_MARKDOWN_LOOKALIKES = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "<": "＜",
        ">": "＞",
        "@": "＠",
        "*": "＊",
        "_": "＿",
        "`": "｀",
        "~": "～",
        "\\": "＼",
        "&": "＆",
        "\r": " ",
        "\n": " ",
        "\t": " ",
    }
)


def markdown_text(value: str) -> str:
    """Text shown literally inside a robot's markdown message."""
    # The robots turn a bare URL into a link; a full-width colon keeps it plain text.
    return value.translate(_MARKDOWN_LOOKALIKES).replace("://", "：//")


@dataclass(frozen=True)
class MessageItem:
    """One case in a message: what it is, where, how late, and the link to it."""

    key: str
    issue_id: int
    kind: str
    case_number: str
    headline: str
    category: str
    place: str
    status: str
    link: str

    @property
    def line(self) -> str:
        parts = [self.category, self.place, self.status]
        return " · ".join(part for part in parts if part)

    @property
    def markdown_line(self) -> str:
        """`line` with every part shown literally in robot markdown."""
        return markdown_text(self.line)


@dataclass(frozen=True)
class MessageLink:
    """A link a message ends with: a label and a path on the site."""

    label: str
    path: str

    @property
    def url(self) -> str:
        return settings.REMINDER_SITE_URL.rstrip("/") + self.path


@dataclass(frozen=True)
class Message:
    """What one send carries: a title, an introduction and the cases, the same on every channel.

    A summary (`summary_key` set) is one notice however many cases it counts: the bell shows
    it as one notification, deduplicated by that key.
    """

    title: str
    intro: str
    items: tuple[MessageItem, ...] = ()
    more: int = 0
    keyword: str = ""
    links: tuple[MessageLink, ...] = ()
    summary_key: str = ""

    def as_markdown(self) -> str:
        """The robot text: a markdown list of cases with links, cut to the robots' size limit."""
        title = markdown_text(self.title)
        head = f"**{title}**\n"
        if self.keyword and self.keyword not in self.title:
            head = f"**【{self.keyword}】{title}**\n"
        lines = [head, f"> {markdown_text(self.intro)}\n"] if self.intro else [head]
        size = sum(len(line.encode()) for line in lines)
        omitted = self.more
        for number, item in enumerate(self.items, start=1):
            case = markdown_text(item.case_number)
            line = f"{number}. [{case}]({item.link}) {item.markdown_line}\n"
            if size + len(line.encode()) > MARKDOWN_MAX_BYTES - 200:
                omitted += len(self.items) - number + 1
                break
            lines.append(line)
            size += len(line.encode())
        if omitted:
            lines.append(_("… and %(count)d more.") % {"count": omitted} + "\n")
        for link in self.links:
            lines.append(f"[{markdown_text(link.label)}]({link.url})\n")
        return "".join(lines)

    def as_text(self) -> str:
        """The e-mail body: the same list in plain text."""
        lines = [self.intro, ""] if self.intro else []
        for item in self.items:
            lines.append(f"- {item.case_number} {item.line}\n  {item.link}")
        if self.more:
            lines.append(_("… and %(count)d more.") % {"count": self.more})
        if self.links:
            lines.append("")
        for link in self.links:
            lines.append(f"{link.label}: {link.url}")
        return "\n".join(lines) + "\n"


class Channel:
    """The interface: send one message or raise TransientError / PermanentError."""

    kind: str = ""
    #: The HTTP status (or 0) of the last answer, kept for the delivery log.
    last_response_code: int | None = None
    #: Sends only write to this database: the sender sends them inside the claim's transaction.
    writes_database: bool = False

    def send(self, message: Message) -> None:
        raise NotImplementedError


@dataclass
class InAppChannel(Channel):
    """The bell: one Notification per case (or per summary), deduplicated by its key."""

    user_id: int
    kind: str = ChannelKind.INAPP
    writes_database: bool = True

    def send(self, message: Message) -> None:
        now = adapt_datetime(timezone.now())
        if message.summary_key:
            # The bell opens the summary's first list; any other list stays named in the text.
            first, *others = message.links or (None,)
            lines = [message.intro] if message.intro else []
            lines += [f"{link.label}: {link.path}" for link in others if link is not None]
            rows = [
                (
                    self.user_id,
                    None,
                    "reminder_summary",
                    message.title[:200],
                    "\n".join(lines),
                    first.path if first is not None and is_site_path(first.path) else "",
                    message.summary_key,
                    now,
                )
            ]
        else:
            rows = [
                (
                    self.user_id,
                    item.issue_id,
                    f"reminder_{item.kind}",
                    item.headline[:200],
                    item.line,
                    "",
                    item.key,
                    now,
                )
                for item in message.items
            ]
        # The (user, dedupe_key) constraint makes a second send of the same reminder a no-op.
        insert_ignoring_conflicts(Notification, NOTIFICATION_COLUMNS, rows)


# What the bell's rows hold; plain tuples, because a message may carry hundreds of cases.
NOTIFICATION_COLUMNS = (
    "user_id",
    "issue_id",
    "kind",
    "title",
    "body",
    "link",
    "dedupe_key",
    "created_at",
)


@dataclass
class EmailChannel(Channel):
    """One e-mail to the configured addresses through django.core.mail."""

    addresses: list[str] = field(default_factory=list)
    kind: str = ChannelKind.EMAIL

    def send(self, message: Message) -> None:
        if not self.addresses:
            raise PermanentError(_("No e-mail address is configured."))
        # A name imported with a line break would make Django refuse the header (and the
        # delivery retry in vain); a subject is one line.
        subject = " ".join(message.title.split())
        email = EmailMessage(subject=subject, body=message.as_text(), to=list(self.addresses))
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as error:
            raise PermanentError(f"SMTP refused the recipients: {error.recipients}") from error
        except smtplib.SMTPResponseException as error:
            # 4xx is "try later" in SMTP, 5xx is final.
            exception = TransientError if 400 <= error.smtp_code < 500 else PermanentError
            raise exception(
                f"SMTP {error.smtp_code}: {error.smtp_error!r}", response_code=error.smtp_code
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            raise TransientError(f"SMTP unavailable: {error}") from error
        self.last_response_code = 250


def _timeout() -> float:
    return float(settings.REMINDER_HTTP_TIMEOUT_SECONDS)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the checked address, with the host's name in the Host header."""

    def __init__(self, destination: netguard.Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = destination.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address; the certificate is still verified for the host's name."""

    def __init__(self, destination: netguard.Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = destination.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def redact(text: str, url: str) -> str:
    """Error text with the webhook's secret parts (its path, query and each value) removed."""
    parts = urllib.parse.urlsplit(url) if url else None
    secrets = [url]
    if parts is not None:
        secrets.append(parts.path + ("?" + parts.query if parts.query else ""))
        secrets.append(parts.query)
        secrets.extend(value for _name, value in urllib.parse.parse_qsl(parts.query))
        secrets.extend(segment for segment in parts.path.split("/") if len(segment) >= 16)
    # Longest first, so a part of a secret never leaves the rest of it behind.
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "…")
        text = text.replace(urllib.parse.quote(secret, safe=""), "…")
    return text


# What the delivery log keeps of an answer's text: a robot's own error message, this long.
EXCERPT_MAX_CHARS = 120


def sanitised(text: str, url: str, limit: int = EXCERPT_MAX_CHARS) -> str:
    """One short printable line, without the webhook's secrets or markup."""
    text = re.sub(r"<[^>]*>", " ", text)
    text = "".join(character if character.isprintable() else " " for character in text)
    text = " ".join(redact(text, url).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answer_excerpt(raw: bytes, url: str) -> str:
    """What of an error answer goes into the delivery log: the robot's errcode and errmsg if it
    answered them, else only the size; never the body of some other page."""
    try:
        body = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if isinstance(body, dict):
        fields = [
            f"{name} {body[name]}"
            for name in ("errcode", "errmsg", "message", "error")
            if name in body and isinstance(body[name], (str, int))
        ]
        if fields:
            return sanitised(", ".join(fields), url)
    return f"an answer of {len(raw)} bytes, not shown" if raw else "an empty answer"


def post_json(url: str, payload: dict) -> tuple[int, dict]:
    """POST JSON and return (status, decoded body); transport trouble raises TransientError.

    The host is resolved and checked here, at each send, and the connection goes to the checked
    address (see `netguard`). Redirects are not followed: robots answer where they are asked. No
    message raised here contains the URL or any part of it: the URL is the robot's secret, and
    error texts end up in the delivery log and in the logs.
    """
    problem = webhook_url_problem(url)
    if problem is not None:
        raise PermanentError(problem)
    try:
        destination = netguard.check_destination(url)
    except netguard.UnresolvedDestination as error:
        raise TransientError(str(error)) from None
    except netguard.UnsafeDestination as error:
        raise PermanentError(str(error)) from None
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(payload, ensure_ascii=False).encode()
    connection_class = (
        _PinnedHTTPSConnection if destination.scheme == "https" else _PinnedHTTPConnection
    )
    connection = connection_class(destination, timeout=_timeout())
    try:
        connection.request(
            "POST", target, body=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        response = connection.getresponse()
        status, raw = response.status, response.read(65536)
        retry_after = _retry_after(response.getheader("Retry-After"))
    except (TimeoutError, ConnectionError, OSError) as error:
        raise TransientError(redact(f"Connection failed: {error}", url)) from None
    except http.client.HTTPException as error:  # e.g. IncompleteRead: the answer broke off
        raise TransientError(redact(f"Broken answer: {type(error).__name__}", url)) from None
    except ValueError as error:  # http.client.InvalidURL and friends quote the URL itself
        raise PermanentError(
            redact(f"The webhook URL was refused: {type(error).__name__}", url)
        ) from None
    finally:
        connection.close()
    if status >= 300:
        detail = f"HTTP {status}: {answer_excerpt(raw, url)}"
        if status == 429 or status >= 500:
            raise TransientError(detail, response_code=status, retry_after=retry_after)
        raise PermanentError(detail, response_code=status)
    try:
        decoded = json.loads(raw.decode() or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        decoded = {}
    return status, decoded if isinstance(decoded, dict) else {}


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _check_errcode(
    body: dict, status: int, rate_codes: frozenset[int], rate_wait: float, url: str = ""
) -> None:
    """Robots answer 200 with an errcode; 0 is success, a rate code waits, others are final."""
    errcode = body.get("errcode", 0)
    try:
        errcode = int(errcode)
    except (TypeError, ValueError):
        errcode = -1
    if errcode == 0:
        return
    detail = f"errcode {errcode}: {sanitised(str(body.get('errmsg', '')), url)}"
    if errcode in rate_codes:
        raise TransientError(detail, response_code=status, retry_after=rate_wait)
    raise PermanentError(detail, response_code=status)


@dataclass
class WeComChannel(Channel):
    """企业微信群机器人: markdown to the webhook URL, whose key is the secret."""

    webhook_url: str = ""
    kind: str = ChannelKind.WECOM

    def send(self, message: Message) -> None:
        payload = {"msgtype": "markdown", "markdown": {"content": message.as_markdown()}}
        status, body = post_json(self.webhook_url, payload)
        self.last_response_code = status
        _check_errcode(body, status, WECOM_RATE_CODES, 60, self.webhook_url)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The 钉钉 signature: urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")))."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def dingtalk_signed_url(webhook_url: str, secret: str, timestamp_ms: int) -> str:
    if not secret:
        return webhook_url
    separator = "&" if "?" in webhook_url else "?"
    sign = dingtalk_sign(secret, timestamp_ms)
    return f"{webhook_url}{separator}timestamp={timestamp_ms}&sign={sign}"


@dataclass
class DingTalkChannel(Channel):
    """钉钉自定义机器人: signed markdown that carries the robot's keyword."""

    webhook_url: str = ""
    secret: str = ""
    keyword: str = ""
    kind: str = ChannelKind.DINGTALK

    def send(self, message: Message) -> None:
        title = message.title
        if self.keyword and self.keyword not in title:
            title = f"【{self.keyword}】{title}"
        text = Message(
            title=message.title,
            intro=message.intro,
            items=message.items,
            more=message.more,
            keyword=self.keyword,
        ).as_markdown()
        payload = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
        url = dingtalk_signed_url(self.webhook_url, self.secret, int(time.time() * 1000))
        status, body = post_json(url, payload)
        self.last_response_code = status
        # After 20 messages a minute DingTalk blocks the robot for 10 minutes.
        _check_errcode(body, status, DINGTALK_RATE_CODES, DINGTALK_BLOCK_SECONDS, url)


def channel_for(config: ChannelConfig | None, *, user_id: int | None = None) -> Channel:
    """The channel for a delivery target: a user's bell, or an organisation's configured channel."""
    if config is None:
        if user_id is None:
            raise PermanentError(_("The channel settings of this delivery were removed."))
        return InAppChannel(user_id=user_id)
    if config.kind == ChannelKind.EMAIL:
        return EmailChannel(addresses=config.email_list)
    if config.kind == ChannelKind.WECOM:
        return WeComChannel(webhook_url=config.webhook_url)
    if config.kind == ChannelKind.DINGTALK:
        return DingTalkChannel(
            webhook_url=config.webhook_url, secret=config.signing_secret, keyword=config.keyword
        )
    raise PermanentError(f"Unknown channel kind {config.kind!r}")
