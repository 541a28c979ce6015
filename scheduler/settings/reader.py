"""Typed reading of the merged settings mapping: each kind of value (a number in a
range, a PostgreSQL URL, a host pattern, a site's limits...) checked, and every failure
named by its setting."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scheduler import quiet_apprise
from scheduler.categories import canonical_host, is_ip_address
from scheduler.settings.model import (
    NOTIFY_KINDS,
    VIDEO_SERVICE_KINDS,
    VIDEO_SERVICE_LAYOUTS,
    GrpcSettings,
    NotifyTarget,
    SettingsError,
    VideoServiceSettings,
    redact,
    variable,
)
from scheduler.sites import cookies
from scheduler.sites.limits import DEFAULT_PATTERN, SiteLimit, SiteLimits


class Reader:
    """Typed access to the raw mapping; every failure names the setting."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw

    def _get(self, path: tuple[str, ...]) -> Any:
        value: Any = self._raw
        for key in path:
            value = value[key]
        return value

    def _fail(self, path: tuple[str, ...], problem: str, value: Any) -> SettingsError:
        return SettingsError(f"{variable(*path)}: {problem}, got {redact(value)!r}")

    def string(self, path: tuple[str, ...], *, allow_empty: bool = True) -> str:
        value = self._get(path)
        if not isinstance(value, str):
            raise self._fail(path, "must be a string", value)
        if not allow_empty and not value.strip():
            raise self._fail(path, "must not be empty", value)
        return value

    def one_of(self, path: tuple[str, ...], choices: tuple[str, ...], *, upper: bool = False) -> str:
        value = self._get(path)
        chosen = value.upper() if upper and isinstance(value, str) else value
        if chosen not in choices:
            raise self._fail(path, f"must be one of {', '.join(choices)}", value)
        return str(chosen)

    def boolean(self, path: tuple[str, ...]) -> bool:
        value = self._get(path)
        if not isinstance(value, bool):
            raise self._fail(path, "must be true or false", value)
        return value

    def integer(self, path: tuple[str, ...], low: int, high: int) -> int:
        value = self._get(path)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._fail(path, f"must be an integer from {low} to {high}", value)
        return value

    def number(self, path: tuple[str, ...], low: float) -> float:
        value = self._get(path)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < low
        ):
            raise self._fail(path, f"must be a number of at least {low:g}", value)
        return float(value)

    def strings(self, path: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(path)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._fail(path, "must be a list of non-empty strings", value)
        return tuple(value)

    def proxy_url(self, path: tuple[str, ...]) -> str:
        value = self.string(path)
        if value and urlsplit(value).scheme not in (
            "http",
            "https",
            "socks4",
            "socks4a",
            "socks5",
            "socks5h",
        ):
            raise self._fail(path, 'must be an http://, https:// or socks5:// URL, or ""', value)
        return value

    def notify_targets(self, path: tuple[str, ...]) -> tuple[NotifyTarget, ...]:
        """Apprise URLs, each a string (every kind) or {url, events}. A problem is named by
        the entry's place and the URL's scheme only: the URL is a secret."""
        entries = self._get(path)
        if not isinstance(entries, list):
            raise SettingsError(f"{variable(*path)}: must be a list of Apprise URLs")
        targets = []
        for n, entry in enumerate(entries, 1):
            url, kinds = (entry, list(NOTIFY_KINDS)) if isinstance(entry, str) else _notify_table(entry)
            scheme = url.partition("://")[0] if "://" in url else ""
            where = f"{variable(*path)}: entry {n}"
            if not scheme or not scheme.replace("+", "").isalnum():
                raise SettingsError(f"{where}: must be an Apprise URL such as json://host/path")
            if not isinstance(kinds, list) or not kinds or any(k not in NOTIFY_KINDS for k in kinds):
                raise SettingsError(f"{where} ({scheme}): events must be some of {', '.join(NOTIFY_KINDS)}")
            if not notify_url_known(url):
                raise SettingsError(f"{where} ({scheme}): not a URL Apprise knows (see its wiki)")
            targets.append(NotifyTarget(url, tuple(dict.fromkeys(kinds)), f"notify URL {n} ({scheme})"))
        return tuple(targets)

    def grpc(self) -> GrpcSettings:
        tokens = self.strings(("grpc", "tokens"))
        if any(len(t) < 16 or not t.isprintable() or " " in t for t in tokens):
            # The value is a secret: say what is wrong, never echo it.
            raise SettingsError(f"{variable('grpc', 'tokens')}: every token must be 16+ printable characters")
        cert, key, client_ca = (
            self.file(("grpc", name)) for name in ("tls_cert", "tls_key", "tls_client_ca")
        )
        if (cert is None) != (key is None):
            raise SettingsError(
                f"{variable('grpc', 'tls_cert')}: TLS needs both {variable('grpc', 'tls_cert')} "
                f"and {variable('grpc', 'tls_key')}"
            )
        if client_ca is not None and cert is None:
            raise SettingsError(f"{variable('grpc', 'tls_client_ca')}: mutual TLS needs the server's TLS too")
        return GrpcSettings(
            host=self.string(("grpc", "host"), allow_empty=False),
            port=self.integer(("grpc", "port"), 0, 65535),
            tokens=tokens,
            tls_cert=cert,
            tls_key=key,
            tls_client_ca=client_ca,
            max_message_bytes=self.integer(("grpc", "max_message_bytes"), 1024, 2**31 - 1),
            max_watchers=self.integer(("grpc", "max_watchers"), 0, 100_000),
        )

    def file(self, path: tuple[str, ...]) -> Path | None:
        value = self.string(path)
        if not value:
            return None
        resolved = Path(value).expanduser()
        if not resolved.is_file():
            raise self._fail(path, "no such file", value)
        return resolved

    def program(self, path: tuple[str, ...], *, allow_none: bool = True) -> str:
        """ "auto", the path of an executable file, or (allow_none) "" for none."""
        value = self.string(path)
        if value == "auto" or (allow_none and value == ""):
            return value
        resolved = Path(value).expanduser()
        if not resolved.is_file() or not os.access(resolved, os.X_OK):
            choices = '"auto", "" (none)' if allow_none else '"auto"'
            raise self._fail(path, f"must be {choices} or the path of an executable file", value)
        return str(resolved)

    def video_service(self, data_dir: Path) -> VideoServiceSettings:
        kind = self.string(("video_service", "kind"))
        if kind not in VIDEO_SERVICE_KINDS:
            raise self._fail(
                ("video_service", "kind"), f"must be one of {', '.join(VIDEO_SERVICE_KINDS)}", kind
            )
        directory = self.string(("video_service", "directory"))
        address = self.string(("video_service", "address"))
        url = self.string(("video_service", "url"))
        if kind == "horahora" and not _is_host_port(address):
            raise self._fail(
                ("video_service", "address"), "must be host:port for the horahora Video Service", address
            )
        if kind == "http" and urlsplit(url).scheme not in ("http", "https"):
            raise self._fail(
                ("video_service", "url"), "must be an http(s) URL for the http Video Service", url
            )
        return VideoServiceSettings(
            kind=kind,
            directory=Path(directory) if directory else data_dir / "media",
            address=address,
            url=url,
            timeout_s=self.number(("video_service", "timeout_s"), 0.001),
            layout=self.one_of(("video_service", "layout"), VIDEO_SERVICE_LAYOUTS),
        )

    def postgres_url(self, path: tuple[str, ...]) -> str:
        value = self.string(path)
        if value and urlsplit(value).scheme not in ("postgres", "postgresql"):
            raise self._fail(path, 'must be a postgresql:// URL, or "" for an embedded server', value)
        return value

    def redis_urls(self, path: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(path)
        if value == "":
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(path, "must be a list of URLs, e.g. '[\"redis://127.0.0.1:6379/0\"]'", value)
        for url in value:
            if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
                raise self._fail(path, "every URL must start with redis://, rediss:// or unix://", url)
        if len(set(value)) != len(value):
            raise self._fail(path, "lists a server twice", value)
        return tuple(value)

    def host_patterns(self, path: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(path)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(path, "must be a list of hosts", value)
        patterns = []
        for entry in value:
            pattern = _canonical_host_pattern(entry)
            if pattern is None:
                raise self._fail(path, 'every entry must be a host name, an IP address or "*.domain"', entry)
            patterns.append(pattern)
        return tuple(patterns)

    def site_limits(self, path: tuple[str, ...]) -> SiteLimits:
        table = self._get(path)
        name = variable(*path)
        if DEFAULT_PATTERN not in table:
            raise SettingsError(f'{name}: must keep a "{DEFAULT_PATTERN}" entry (every other site)')
        default = _site_limit(name, DEFAULT_PATTERN, table[DEFAULT_PATTERN], None)
        by_pattern = {DEFAULT_PATTERN: default}
        for key, entry in table.items():
            if key == DEFAULT_PATTERN:
                continue
            pattern = _canonical_host_pattern(str(key))
            if pattern is None:
                raise SettingsError(f'{name}: "{key}" must be a host name, an IP address, "*.domain" or "*"')
            by_pattern[pattern] = _site_limit(name, pattern, entry, default)
        return SiteLimits(by_pattern)

    def cookie_files(self, path: tuple[str, ...]) -> dict[str, Path]:
        """Site pattern -> a readable Netscape cookies.txt holding cookies for that site."""
        name = variable(*path)
        files = {}
        for key, value in self._get(path).items():
            pattern = _canonical_host_pattern(str(key))
            if pattern is None:
                raise SettingsError(f'{name}: "{key}" must be a host name, an IP address or "*.domain"')
            if not isinstance(value, str) or not value.strip():
                raise SettingsError(f'{name}: "{pattern}" must be the path of a cookies.txt file')
            file = Path(value).expanduser()
            try:
                cookies.load(pattern, file)
            except cookies.CookieFileError as error:
                raise SettingsError(f'{name}: "{pattern}": {error}') from None
            files[pattern] = file
        return files


_SITE_LIMIT_FIELDS = ("downloads", "listings", "interval_s")


def _site_limit(name: str, pattern: str, entry: Any, default: SiteLimit | None) -> SiteLimit:
    """One entry of SCHEDULER_SITES__LIMITS; what it leaves out comes from `default`."""
    if not isinstance(entry, Mapping):
        raise SettingsError(f'{name}: "{pattern}" must be a table such as {{downloads = 2, listings = 1, '
                            f"interval_s = 1.0}}, got {entry!r}")  # fmt: skip
    bad = f'{name}: "{pattern}".'
    for key in entry:
        if key not in _SITE_LIMIT_FIELDS:
            raise SettingsError(f"{bad}{key}: unknown; use downloads, listings, interval_s")
    values: dict[str, Any] = {}
    for key in _SITE_LIMIT_FIELDS:
        if key not in entry:
            if default is None:
                raise SettingsError(f"{bad}{key}: missing")
            values[key] = getattr(default, key)
            continue
        value = entry[key]
        if key == "interval_s":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86400:
                raise SettingsError(f"{bad}{key}: must be a number from 0 to 86400, got {value!r}")
            values[key] = float(value)
        elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
            raise SettingsError(f"{bad}{key}: must be an integer from 1 to 1000, got {value!r}")
        else:
            values[key] = value
    return SiteLimit(**values)


def _is_host_port(text: str) -> bool:
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


def _canonical_host_pattern(entry: str) -> str | None:
    """The pattern in the spelling URLs' hosts are compared in ("[::1]" -> "::1",
    "例え.jp" -> "xn--r8jz45g.jp"), or None when it is not a host, an IP or "*.domain"."""
    entry = entry.strip()
    if not entry.startswith("*."):
        return canonical_host(entry)
    domain = canonical_host(entry[2:])
    if domain is None or is_ip_address(domain):
        return None
    return f"*.{domain}"


def _notify_table(entry: Any) -> tuple[str, Any]:
    if (
        not isinstance(entry, Mapping)
        or not isinstance(entry.get("url"), str)
        or set(entry) - {"url", "events"}
    ):
        return "", None
    return entry["url"], entry.get("events", list(NOTIFY_KINDS))


def notify_url_known(url: str) -> bool:
    """Whether Apprise makes a notification service of the URL."""
    return bool(quiet_apprise.load().Apprise().add(url))
