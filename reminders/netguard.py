"""Where a webhook may point: public addresses only, unless the allowlist names the host.

A robot URL is typed by an admin, so without a check it reaches whatever the server can reach:
Redis on 127.0.0.1, a cloud metadata service on 169.254.169.254, the intranet. The host is
resolved and every address it resolves to must be public, when the settings are saved and
again at each send; the send then connects to the very address that was checked, so a name
that resolves to a public address at the check and to an internal one a moment later (DNS
rebinding) never gets a connection. `REMINDER_WEBHOOK_ALLOWED_HOSTS` names hosts exempt from
the address rule, e.g. a robot gateway on the intranet.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64 well-known prefixes).
_EMBEDDING_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)


class DestinationError(Exception):
    """A webhook destination that may not be used; the message never contains the URL."""


class UnsafeDestination(DestinationError):
    """The host is, or resolves to, an address inside the network."""


class UnresolvedDestination(DestinationError):
    """The host could not be resolved (now: DNS may come back)."""


@dataclass(frozen=True)
class Destination:
    """A checked webhook destination: the host as named, and the address to connect to."""

    scheme: str
    host: str
    port: int
    address: str
    allowlisted: bool


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet (not loopback, private, link-local,
    reserved, multicast, unspecified or shared), looking inside IPv4-mapped, 6to4 and NAT64
    IPv6 addresses at the IPv4 address they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address.sixtofour is not None:
            return is_public(address.sixtofour)
        if any(address in network for network in _EMBEDDING_IPV4):
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.teredo is not None:
            return False
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    ):
        return False
    return address.is_global


def allowlisted(host: str) -> bool:
    """Whether `REMINDER_WEBHOOK_ALLOWED_HOSTS` names the host (case and a final dot ignored)."""
    names = {name.strip().lower().rstrip(".") for name in settings.REMINDER_WEBHOOK_ALLOWED_HOSTS}
    return host.lower().rstrip(".") in names


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise UnresolvedDestination(_("The host of the webhook URL could not be found.")) from error
    addresses: list[IPAddress] = []
    for info in infos:
        # An IPv6 link-local answer may carry a zone ("fe80::1%eth0").
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvedDestination(_("The host of the webhook URL could not be found."))
    return addresses


def check_destination(url: str) -> Destination:
    """Resolve the URL's host and refuse it unless every address is public or it is allowlisted.

    Raises UnsafeDestination or UnresolvedDestination; expects a URL whose form was checked.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    exempt = allowlisted(host)
    if not exempt and not all(is_public(address) for address in addresses):
        raise UnsafeDestination(
            _(
                "The webhook URL points to an address inside the network (loopback, private, "
                "link-local or reserved). Only public hosts are allowed, unless "
                "REMINDER_WEBHOOK_ALLOWED_HOSTS names this one."
            )
        )
    return Destination(
        scheme=parts.scheme, host=host, port=port, address=str(addresses[0]), allowlisted=exempt
    )


def webhook_url_problem(url: str) -> str | None:
    """Why a webhook URL cannot be used (scheme, host, characters), or None if it can."""
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url):
        return _("The webhook URL must not contain spaces or control characters.")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return _("The webhook URL is not a valid URL.")
    if parts.scheme not in ("https", "http"):
        return _("The webhook URL must start with https:// or http://.")
    if not parts.hostname:
        return _("The webhook URL must name a host.")
    return None


def webhook_destination_problem(url: str) -> str | None:
    """Why a webhook URL may not be saved: its form, or where its host resolves to."""
    problem = webhook_url_problem(url)
    if problem is not None:
        return problem
    try:
        check_destination(url)
    except DestinationError as error:
        return str(error)
    return None
