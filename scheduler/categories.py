"""What a category is: its normalised URL, its website, and whether its host is allowed.

Pure functions, no I/O. Errors are `InvalidArgument` naming the request field.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, urlsplit, urlunsplit

from scheduler.errors import InvalidArgument

MAX_URL_LENGTH = 2048
MAX_VALUE_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters left as they are in a path or query (RFC 3986 unreserved + sub-delims + ":@/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class Kind(StrEnum):
    URL = "url"
    TAG = "tag"
    CHANNEL = "channel"
    PLAYLIST = "playlist"


class Site(StrEnum):
    NICONICO = "niconico"
    YOUTUBE = "youtube"
    BILIBILI = "bilibili"


@dataclass(frozen=True)
class CategoryTarget:
    url: str
    website: str  # the URL's host, e.g. www.nicovideo.jp
    kind: Kind


def from_url(raw: str, allowed: tuple[str, ...], field: str = "url") -> CategoryTarget:
    return CategoryTarget(*_normalise(raw, allowed, field), Kind.URL)


def from_seed(site: Site, kind: Kind, value: str, allowed: tuple[str, ...]) -> CategoryTarget:
    """The seed's (site, kind, value) form: NICONICO, TAG, "YTPMV" -> the tag's URL."""
    value = required_text(value, "value")
    url = _seed_url(site, kind, value)
    if len(url) > MAX_URL_LENGTH:  # percent-encoding can multiply a value's length by 12
        raise InvalidArgument("value", f"makes a URL longer than {MAX_URL_LENGTH} characters")
    # The host comes from the site: a refusal names it.
    return CategoryTarget(*_normalise(url, allowed, "site"), kind)


def required_text(value: str, field: str, limit: int = MAX_VALUE_LENGTH) -> str:
    """A short name from a request (a tag, a seed value): stripped, present, bounded, printable."""
    text = value.strip()
    if not text:
        raise InvalidArgument(field, "must not be empty")
    if len(text) > limit:
        raise InvalidArgument(field, f"must be at most {limit} characters")
    if _CONTROL.search(text):
        raise InvalidArgument(field, "must not contain control characters")
    return text


def _seed_url(site: Site, kind: Kind, value: str) -> str:
    text = quote(value, safe="")
    if site is Site.NICONICO:
        if kind is Kind.TAG:
            return f"https://www.nicovideo.jp/tag/{text}"
        _require_digits(value, "a Niconico user or mylist id")
        if kind is Kind.CHANNEL:
            return f"https://www.nicovideo.jp/user/{value}/video"
        return f"https://www.nicovideo.jp/mylist/{value}"
    if site is Site.YOUTUBE:
        if kind is Kind.TAG:
            hashtag = value.lstrip("#")
            if not hashtag:
                raise InvalidArgument("value", "must name a hashtag")
            return f"https://www.youtube.com/hashtag/{quote(hashtag, safe='')}"
        if kind is Kind.CHANNEL:
            if value.startswith("@"):
                return f"https://www.youtube.com/{text.replace('%40', '@', 1)}"
            return f"https://www.youtube.com/channel/{text}"
        return f"https://www.youtube.com/playlist?list={text}"
    if kind is Kind.TAG:
        raise InvalidArgument("kind", "Bilibili has no tag listing yt-dlp can read; give its URL")
    _require_digits(value, "a Bilibili user or favourites-list id")
    if kind is Kind.CHANNEL:
        return f"https://space.bilibili.com/{value}/video"
    return f"https://www.bilibili.com/medialist/detail/ml{value}"


def _require_digits(value: str, what: str) -> None:
    if not value.isascii() or not value.isdigit():
        raise InvalidArgument("value", f"must be {what} (digits)")


def _normalise(raw: str, allowed: tuple[str, ...], field: str) -> tuple[str, str]:
    text = raw.strip()
    if not text:
        raise InvalidArgument(field, "must not be empty")
    if len(text) > MAX_URL_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_URL_LENGTH} characters")
    if _CONTROL.search(text) or any(c.isspace() for c in text):
        raise InvalidArgument(field, "must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise InvalidArgument(field, f"is not a valid URL ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"scheme {scheme!r}" if scheme else "a URL without a scheme"
        raise InvalidArgument(field, f"{shown} is not allowed; give an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument(field, "must not contain a user name or password")
    host = _canonical_host(parts.hostname or "", field)
    if not host_allowed(host, allowed):
        raise InvalidArgument(field, f"host {host} is not allowed")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc = f"{netloc}:{port}"
    path = _canonical_escapes(parts.path, _PATH_SAFE) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = _canonical_escapes(parts.query, _QUERY_SAFE)
    url = urlunsplit((scheme, netloc, path, query, ""))
    if len(url) > MAX_URL_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_URL_LENGTH} characters")
    return url, host


def _canonical_escapes(text: str, safe: str) -> str:
    """One spelling per URL component (RFC 3986 6.2.2): escapes of unreserved characters
    decoded, other escapes upper-cased, everything else unsafe escaped as UTF-8. Escaped
    reserved characters (%2F, %26) stay escaped: decoding them would change the URL."""

    def unescape_unreserved(match: re.Match[str]) -> str:
        char = chr(int(match[1], 16))
        return char if char in _UNRESERVED else f"%{match[1].upper()}"

    text = _STRAY_PERCENT.sub("%25", text)
    text = _ESCAPE.sub(unescape_unreserved, text)
    return quote(text, safe=safe + "%")


def _canonical_host(host: str, field: str) -> str:
    if not host.rstrip("."):
        raise InvalidArgument(field, "must name a host")
    canonical = canonical_host(host)
    if canonical is None:
        raise InvalidArgument(field, f"host {host!r} is not a valid host name")
    return canonical


def canonical_host(host: str) -> str | None:
    """One spelling per host: an IP address in its canonical form, a name lower-cased and
    IDNA-encoded (punycode); None when it is neither. A name whose last label is numeric
    is refused: no top-level domain is, and resolvers read such names as IPv4 shorthand
    (2130706433, 127.1), a way around an address allow-list."""
    host = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if is_ip_address(host):
        return str(ipaddress.ip_address(host))
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_host.split(".")
    if not all(
        label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label) for label in labels
    ):
        return None
    return None if labels[-1].isdigit() else ascii_host


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Exact host, or "*.domain" for the domain's subdomains. An IP address (private,
    loopback or public) is allowed only where it is listed exactly."""
    is_address = is_ip_address(host)
    for pattern in allowed:
        if pattern.startswith("*."):
            if is_address:
                continue
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
