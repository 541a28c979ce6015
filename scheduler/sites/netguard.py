"""Which URLs the service may fetch (against SSRF): every URL, not only a category's.

A URL passes when it is http(s), its host passes the allow-list (SCHEDULER_SITES__ALLOWED,
see `categories.host_allowed`), and its host name does not resolve to a private,
loopback, link-local, multicast, reserved or unspecified address, unless that address,
or the host name itself, is listed exactly: a listing is the operator vouching for it.

DNS rebinding: a name may answer a public address when the URL is checked and a private
one when the connection looks it up again. So the connection checks again, at the very
address it is about to connect to (`check_connection`, in yt-dlp's connections: see
pipeline/ytdlp/overrides.py). Limit: through a proxy (SCHEDULER_DOWNLOADER__PROXY) the proxy
resolves the name on its own; only the check's lookup is ours.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from scheduler.categories import canonical_host, host_allowed

# socket.getaddrinfo's shape: (host, port) -> [(family, type, proto, canonname, sockaddr)].
Resolver = Callable[[str, int], Sequence[tuple[Any, ...]]]
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHOWN_URL_LENGTH = 100


class Refused(Exception):
    """A URL the service must not fetch; str() is one line naming the URL, its host and why."""

    def __init__(self, url: str, reason: str) -> None:
        shown = url if len(url) <= _SHOWN_URL_LENGTH else url[:_SHOWN_URL_LENGTH] + "..."
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in shown)  # one line
        super().__init__(f"refused {shown}: {reason}")
        self.url = url
        self.reason = reason


def check_url(url: str, allowed: tuple[str, ...], resolve: Resolver | None = None) -> None:
    """Raises Refused unless the service may fetch `url`. `resolve` defaults to
    socket.getaddrinfo, looked up at each call (so one patch in a test serves both this
    check and the connection)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused(url, "not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise Refused(url, "only http and https URLs are fetched")
    if not parts.hostname:
        raise Refused(url, "names no host")
    host = canonical_host(parts.hostname)
    if host is None:
        raise Refused(url, f"host {parts.hostname!r} is not a valid host name")
    if not host_allowed(host, allowed):
        raise Refused(url, f"host {host} is not allowed")
    if host in allowed:
        return  # listed exactly (an IP address always is, to get this far)
    try:
        infos = (resolve or socket.getaddrinfo)(host, port or _DEFAULT_PORTS[scheme])
    except OSError as error:
        raise Refused(url, f"host {host} does not resolve ({error})") from None
    if not infos:
        raise Refused(url, f"host {host} does not resolve")
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).partition("%")[0])  # without an IPv6 %scope
        kind = special_kind(address)
        if kind and str(address) not in allowed:
            raise Refused(url, f"host {host} resolves to {address}, a {kind} address")


def check_connection(host: str, address: str, allowed: tuple[str, ...]) -> None:
    """Raises Refused unless a connection to `host` may go to `address`, the IP it is
    about to connect to: the rule of check_url's lookup, applied to the lookup the
    connection made itself."""
    canonical = canonical_host(host) or host
    if canonical in allowed:
        return  # listed exactly: trusted wherever it points, as in check_url
    ip = ipaddress.ip_address(address.partition("%")[0])
    kind = special_kind(ip)
    if kind and str(ip) not in allowed:
        raise Refused(canonical, f"host {canonical} resolves to {ip}, a {kind} address, when connecting")


def special_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes the address off limits ("loopback", "private", ...), or None for a
    public one. An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged as its IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    kinds = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # The rest of the special-purpose ranges (100.64.0.0/10 shared, ...).
        ("non-global", not address.is_global),
    )
    return next((kind for kind, applies in kinds if applies), None)
