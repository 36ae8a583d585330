"""The login throttle: it slows password guessing without letting anyone lock an owner out.

It follows OWASP's "slow down online guessing with device cookies". Failures are counted in the
database (`LoginFailureCount`), so every worker and process shares the counts and Redis plays no
part in logging in. Each pool counts failures in a window that starts at its first failure:

- a username, from browsers not trusted for it, whatever their address (one account guessed
  from many machines);
- a network address, whatever the username (one password sprayed over many accounts);
- a trusted browser: one that presents a valid device cookie for the username, issued to it
  after a successful login as that user. Its failures count against its own allowance only,
  and neither the username's nor the address's lockout applies to it, so an attacker who uses
  up an account's allowance does not lock its owner out on their usual phone. A missing,
  forged, expired or other user's cookie makes the attempt untrusted.

Nothing here looks the user up: counts and refusals are the same for a username that exists and
one that does not, so the throttle tells nothing about accounts.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from districts.models import LoginFailureCount

Pool = LoginFailureCount.Pool

DEVICE_COOKIE_NAME = "civicapp_device"
_DEVICE_COOKIE_SALT = "districts.throttle.device-cookie"
# Accounts one browser is trusted for at once (a shared office computer), most recent first.
_DEVICE_COOKIE_ENTRIES = 5
# Set on the request by a successful login; LoginDeviceCookieMiddleware puts it on the response.
_PENDING_COOKIE_ATTRIBUTE = "_login_device_cookie"
# About one failure in this many also deletes ended windows, so the table stays small without
# a scheduled job.
_PURGE_ONE_IN = 50


@dataclass(frozen=True)
class LoginAttempt:
    """The pools one login attempt is counted in, and the browser's valid device entries."""

    username_key: str
    address_key: str
    device_key: str | None  # set only when the browser is trusted for this username
    device_entries: tuple[tuple[str, str], ...]


def _window() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)


def window_minutes() -> int:
    """The window in whole minutes, for the refusal message."""
    return max(1, -(-settings.LOGIN_THROTTLE_WINDOW_SECONDS // 60))


def _key(pool: str, value: str) -> str:
    # An HMAC, so the table holds no usernames or addresses and keys cannot be precomputed.
    return salted_hmac(f"districts.throttle.{pool}", value, algorithm="sha256").hexdigest()


def _normalise_username(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().casefold()


def _parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_address(request: HttpRequest | None) -> str:
    """The client's network address: REMOTE_ADDR, or the trusted proxy header when configured.

    Each proxy in front appends the address it saw to the header (X-Forwarded-For), so with
    TRUSTED_PROXY_COUNT proxies the entry that many places from the right is the one the
    outermost trusted proxy saw; entries further left are whatever the client claimed. Without
    TRUSTED_PROXY_HEADER the header is ignored, since any client can send it.
    """
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "")
    header = settings.TRUSTED_PROXY_HEADER
    if header:
        meta_name = "HTTP_" + header.upper().replace("-", "_")
        entries = [entry.strip() for entry in request.META.get(meta_name, "").split(",")]
        entries = [entry for entry in entries if entry]
        if entries:
            count = max(settings.TRUSTED_PROXY_COUNT, 1)
            candidate = entries[-count] if len(entries) >= count else entries[0]
            if _parse_address(candidate) is not None:
                return candidate
    return remote


def _address_pool_value(address: str) -> str:
    parsed = _parse_address(address)
    if parsed is None:
        return address
    if parsed.version == 6:
        # One IPv6 subscriber gets a whole /64: count the network, not each of its addresses.
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _device_entries(request: HttpRequest | None) -> tuple[tuple[str, str], ...]:
    raw = request.COOKIES.get(DEVICE_COOKIE_NAME) if request is not None else None
    if not raw:
        return ()
    try:
        entries = signing.loads(
            raw,
            salt=_DEVICE_COOKIE_SALT,
            max_age=datetime.timedelta(days=settings.LOGIN_DEVICE_COOKIE_DAYS),
        )
    except (signing.BadSignature, ValueError):
        return ()
    if not isinstance(entries, list):
        return ()
    return tuple(
        (entry[0], entry[1])
        for entry in entries
        if isinstance(entry, list)
        and len(entry) == 2
        and all(isinstance(part, str) for part in entry)
    )


def _device_tag(username_key: str) -> str:
    return username_key[:32]


def login_attempt(request: HttpRequest | None, username: str) -> LoginAttempt:
    """Describe an attempt to log in as `username` from this request."""
    username_key = _key(Pool.USERNAME, _normalise_username(username))
    entries = _device_entries(request)
    tag = _device_tag(username_key)
    nonce = next((entry_nonce for entry_tag, entry_nonce in entries if entry_tag == tag), None)
    return LoginAttempt(
        username_key=username_key,
        address_key=_key(Pool.ADDRESS, _address_pool_value(client_address(request))),
        device_key=_key(Pool.DEVICE, nonce) if nonce else None,
        device_entries=entries,
    )


def _limits(attempt: LoginAttempt) -> dict[tuple[str, str], int]:
    if attempt.device_key is not None:
        return {(Pool.DEVICE, attempt.device_key): settings.LOGIN_THROTTLE_DEVICE_LIMIT}
    return {
        (Pool.USERNAME, attempt.username_key): settings.LOGIN_THROTTLE_USERNAME_LIMIT,
        (Pool.ADDRESS, attempt.address_key): settings.LOGIN_THROTTLE_ADDRESS_LIMIT,
    }


def is_refused(attempt: LoginAttempt, *, now: datetime.datetime | None = None) -> bool:
    """True when a pool of this attempt has used up its allowance in the current window."""
    now = now or timezone.now()
    limits = _limits(attempt)
    which = Q()
    for pool, key in limits:
        which |= Q(pool=pool, key=key)
    rows = LoginFailureCount.objects.filter(which, window_started_at__gt=now - _window())
    return any(
        failures >= limits[(pool, key)]
        for pool, key, failures in rows.values_list("pool", "key", "failures")
    )


def _increment(pool: str, key: str, now: datetime.datetime) -> None:
    # Each step is one atomic statement, so concurrent workers never lose a count; the loop
    # only repeats when another worker created the row between our update and our insert.
    rows = LoginFailureCount.objects.filter(pool=pool, key=key)
    cutoff = now - _window()
    for _attempt in range(3):
        if rows.filter(window_started_at__gt=cutoff).update(failures=F("failures") + 1):
            return
        if rows.filter(window_started_at__lte=cutoff).update(failures=1, window_started_at=now):
            return
        try:
            with transaction.atomic():
                LoginFailureCount.objects.create(
                    pool=pool, key=key, window_started_at=now, failures=1
                )
        except IntegrityError:
            continue
        return


def record_failure(attempt: LoginAttempt, *, now: datetime.datetime | None = None) -> None:
    """Count a wrong password in the attempt's pools (its own, for a trusted browser)."""
    now = now or timezone.now()
    for pool, key in _limits(attempt):
        _increment(pool, key, now)
    if secrets.randbelow(_PURGE_ONE_IN) == 0:
        purge_expired(now=now)


def record_success(attempt: LoginAttempt, request: HttpRequest | None) -> None:
    """Clear a trusted browser's own failures and trust this browser for the username.

    An untrusted success clears nothing: the username's count may be an attacker's, and the
    owner's browser is trusted from now on anyway. The address count is never cleared, or one
    valid account would reset a sprayer's allowance.
    """
    if attempt.device_key is not None:
        LoginFailureCount.objects.filter(pool=Pool.DEVICE, key=attempt.device_key).delete()
    if request is None:
        return
    tag = _device_tag(attempt.username_key)
    # A fresh nonce at every login, so a copied cookie is only good until the owner's next one.
    entries = [[tag, secrets.token_urlsafe(16)]]
    entries += [list(entry) for entry in attempt.device_entries if entry[0] != tag]
    value = signing.dumps(entries[:_DEVICE_COOKIE_ENTRIES], salt=_DEVICE_COOKIE_SALT, compress=True)
    setattr(request, _PENDING_COOKIE_ATTRIBUTE, value)


def set_pending_device_cookie(request: HttpRequest, response: HttpResponse) -> None:
    """Put the device cookie a successful login issued on the response."""
    value = getattr(request, _PENDING_COOKIE_ATTRIBUTE, None)
    if not value:
        return
    response.set_cookie(
        DEVICE_COOKIE_NAME,
        value,
        max_age=settings.LOGIN_DEVICE_COOKIE_DAYS * 24 * 3600,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def purge_expired(*, now: datetime.datetime | None = None) -> int:
    """Delete counts whose window has ended (they count as zero anyway); return how many."""
    now = now or timezone.now()
    deleted, _ = LoginFailureCount.objects.filter(window_started_at__lte=now - _window()).delete()
    return deleted
