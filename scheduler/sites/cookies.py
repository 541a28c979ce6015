"""Logged-in sessions (SCHEDULER_SITES__COOKIES): per site, a Netscape cookies.txt.

A file is read, never written: yt-dlp is handed a jar of its own per download (see
`ytdlp.GuardedYoutubeDL`), never the file's name, so it has nothing to save back to and
several downloads never race on one file (an operator's mounted secret is read-only).
Only the cookies whose domain the site's pattern covers are kept: a file exported with
every cookie of a browser gives Niconico's downloads Niconico's cookies only. Within a
download, the jar sends each cookie only to the hosts its own domain covers, redirects
included.

Values never leave this module but in the jar: errors name the file and the line number,
`SiteCookies` shows domains and expiry times.
"""

from __future__ import annotations

import http.cookiejar
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scheduler.sites.limits import matching_pattern

# A file must start with this (as browsers' exporters and yt-dlp write it).
_MAGIC = ("# Netscape HTTP Cookie File", "# HTTP Cookie File")
_HTTPONLY_PREFIX = "#HttpOnly_"
# Expiry within this long is worth an operator's attention.
EXPIRY_WARNING_S = 7 * 86400


class CookieFileError(Exception):
    """A cookies file cannot be used; str() is one line, never a cookie's value."""


@dataclass(frozen=True)
class SiteCookies:
    pattern: str  # the SCHEDULER_SITES__COOKIES key: a host or "*.domain"
    path: Path
    cookies: tuple[http.cookiejar.Cookie, ...] = field(repr=False)
    ignored: int  # cookies in the file for domains the pattern does not cover
    mtime_ns: int  # the file's, when read

    @property
    def domains(self) -> list[str]:
        return sorted({c.domain for c in self.cookies})

    @property
    def expires_at(self) -> float | None:
        """The nearest expiry (Unix time) of a cookie that has one; None if all are session cookies."""
        return min((float(c.expires) for c in self.cookies if c.expires is not None), default=None)

    def expiry(self, now: float) -> str | None:
        """ "expired", "within 7 days", or None when the cookies last longer (or the session)."""
        expires = self.expires_at
        if expires is None or expires - now > EXPIRY_WARNING_S:
            return None
        return "expired" if expires <= now else "within 7 days"

    def expiry_problem(self, now: float) -> str | None:
        """What to tell the operator when the cookies have expired or expire within 7 days."""
        if (expiry := self.expiry(now)) is None or self.expires_at is None:
            return None
        when = "expired on" if expiry == "expired" else "expire on"
        return f"site {self.pattern}: cookies in {self.path} {when} {day(self.expires_at)}: export them again"


def day(moment: float) -> str:
    """A Unix time's day, in UTC (2026-12-03)."""
    return time.strftime("%Y-%m-%d", time.gmtime(moment))


def parse(text: str, source: str) -> list[http.cookiejar.Cookie]:
    """The cookies of a Netscape cookies.txt (`#HttpOnly_` lines included). Raises
    CookieFileError naming `source` and the line, never its content."""
    lines = text.splitlines()
    if not lines or not lines[0].strip().startswith(_MAGIC):
        raise CookieFileError(f"{source}: not a Netscape cookies.txt (no '{_MAGIC[0]}' first line)")
    cookies = []
    for number, line in enumerate(lines, 1):
        line = line.removeprefix(_HTTPONLY_PREFIX).rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            raise CookieFileError(f"{source}: line {number}: not 7 tab-separated fields")
        domain, subdomains, path, secure, expires, name, value = fields
        flags = {subdomains.upper(), secure.upper()}
        if not domain or not flags <= {"TRUE", "FALSE"}:
            raise CookieFileError(f"{source}: line {number}: not a Netscape cookie line")
        try:
            expiry = int(float(expires or 0)) or None  # 0 or empty: a session cookie
        except ValueError:
            raise CookieFileError(f"{source}: line {number}: the expiry is not a number") from None
        dotted = domain.startswith(".")
        cookie = http.cookiejar.Cookie(
            version=0, name=name, value=value, port=None, port_specified=False,
            domain=domain, domain_specified=dotted, domain_initial_dot=dotted,
            path=path or "/", path_specified=True, secure=secure.upper() == "TRUE",
            expires=expiry, discard=expiry is None, comment=None, comment_url=None, rest={},
        )  # fmt: skip
        cookies.append(cookie)
    return cookies


def covers(pattern: str, cookie_domain: str) -> bool:
    """Whether some host the pattern names would be sent a cookie of this domain, and the
    cookie goes to no host outside the pattern: a "*.domain" pattern takes the domain's
    and its subdomains' cookies; an exact host takes its own and its parent domains'."""
    domain = cookie_domain.lower().lstrip(".")
    if pattern.startswith("*."):
        base = pattern[2:]
        return domain == base or domain.endswith("." + base)
    return pattern == domain or (pattern.endswith("." + domain) and "." in domain)


def load(pattern: str, path: Path) -> SiteCookies:
    """Reads one site's file. Raises CookieFileError when it is missing, unreadable, not
    in Netscape format, or holds no cookie for the site."""
    try:
        stat = path.stat()
        text = path.read_text("utf-8", errors="strict")
    except (OSError, UnicodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        raise CookieFileError(f"cannot read {path}: {reason}") from None
    everything = parse(text, str(path))
    own = tuple(c for c in everything if covers(pattern, c.domain))
    if not own:
        raise CookieFileError(f"{path} holds no cookie for {pattern}")
    return SiteCookies(pattern, path, own, len(everything) - len(own), stat.st_mtime_ns)


class CookieJars:
    """The sites' cookies, read at start and again when a file changes (`reload`)."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self._files = dict(files)
        self.sites = {pattern: load(pattern, path) for pattern, path in self._files.items()}

    def for_website(self, website: str) -> tuple[http.cookiejar.Cookie, ...]:
        """The cookies a download or listing of this website gets (its pattern's), or none."""
        pattern = self.pattern_of(website)
        return self.sites[pattern].cookies if pattern else ()

    def pattern_of(self, website: str) -> str | None:
        """The SCHEDULER_SITES__COOKIES key that covers the website, if any."""
        return matching_pattern(website, self.sites)

    def reload(self) -> list[str]:
        """Reads again the files that changed; returns a line per file that changed into one
        that cannot be used (its cookies stay as they were)."""
        problems = []
        for pattern, path in self._files.items():
            try:
                if path.stat().st_mtime_ns == self.sites[pattern].mtime_ns:
                    continue
                self.sites[pattern] = load(pattern, path)
            except (OSError, CookieFileError) as error:
                problems.append(f"site {pattern}: {error}; its previous cookies stay in use")
        return problems

    def seconds_to_expiry(self, pattern: str) -> float:
        """For the metric: seconds until the site's nearest expiry (negative: expired), or
        +inf when every cookie lasts the session."""
        expires = self.sites[pattern].expires_at
        return math.inf if expires is None else expires - time.time()
