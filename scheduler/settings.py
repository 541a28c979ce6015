"""Settings: shipped defaults, an optional settings file, SCHEDULER_* environment variables.

dynaconf reads the file and the environment; `parse` (pure) checks every value and
turns the result into a frozen `Settings`, so nothing below this module reads
dynaconf. A bad value raises `SettingsError` naming the setting as an operator
would set it (`SCHEDULER_GRPC__PORT: ...`).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dynaconf import Dynaconf

from scheduler import cookies
from scheduler.categories import canonical_host
from scheduler.site_limits import DEFAULT_PATTERN, SiteLimit, SiteLimits

ENV_PREFIX = "SCHEDULER"
SETTINGS_FILE_VARIABLE = "SCHEDULER_SETTINGS_FILE"
# The client commands' own variables (scheduler/cli.py): where the service is, its token.
TARGET_VARIABLE = "SCHEDULER_TARGET"
TOKEN_VARIABLE = "SCHEDULER_TOKEN"
# Keys dynaconf adds of its own, the file variable read above, and the client commands'
# variables; not settings.
_NOT_SETTINGS = {
    "load_dotenv",
    "settings_file",
    *(name.removeprefix(f"{ENV_PREFIX}_").lower() for name in (TARGET_VARIABLE, TOKEN_VARIABLE)),
}
# Tables whose keys are the user's own (site patterns), checked by their parser.
_FREE_TABLES = {("sites", "limits"), ("sites", "cookies")}


class SettingsError(Exception):
    """A setting is missing, unknown or invalid. str() is one line naming it."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str  # "" = embedded
    migrate_on_start: bool
    pool_min_size: int
    pool_max_size: int
    statement_timeout_s: float


@dataclass(frozen=True)
class RedisSettings:
    urls: tuple[str, ...]  # () = embedded


@dataclass(frozen=True)
class GrpcSettings:
    host: str
    port: int
    tokens: tuple[str, ...] = field(repr=False)  # secrets: never in a repr or a log
    tls_cert: Path | None
    tls_key: Path | None
    tls_client_ca: Path | None
    max_message_bytes: int
    max_watchers: int


@dataclass(frozen=True)
class SitesSettings:
    allowed: tuple[str, ...]
    limits: SiteLimits
    breaker_min_s: float
    breaker_max_s: float
    cookies: Mapping[str, Path]  # site pattern -> its Netscape cookies.txt (read at start)


@dataclass(frozen=True)
class ApprovalSettings:
    required: bool


@dataclass(frozen=True)
class SyncSettings:
    workers: int
    min_backoff_s: float
    max_backoff_factor: int
    partial_entries: int  # 0: always a full listing
    full_every: int
    page_entries: int  # a first listing's first page; each next one twice as long (0: stored whole)
    retry_s: float


@dataclass(frozen=True)
class ScheduleSettings:
    pollers: int
    listen: bool  # false: no LISTEN/NOTIFY wake-ups (PgBouncer in transaction pooling); polls only
    poll_interval_s: float
    lease_s: float


@dataclass(frozen=True)
class DownloaderSettings:
    workers: int
    attempts: int
    timeout_s: float
    max_filesize: int  # bytes; 0: no limit
    proxy: str
    accept_language: str
    format: str  # yt-dlp's format selector
    format_sort: tuple[str, ...]
    js_runtime: str  # "auto" (the bundled deno), a path to a deno, or "" (none)
    ffmpeg: str  # "auto" (PATH's, else the bundled one), a path, or "" (none)
    socket_timeout_s: float
    retry_base_s: float
    retry_max_s: float


@dataclass(frozen=True)
class VideoServiceSettings:
    kind: str  # directory | horahora | http
    directory: Path
    address: str
    url: str
    timeout_s: float


@dataclass(frozen=True)
class LockSettings:
    ttl_s: float


@dataclass(frozen=True)
class LogSettings:
    format: str  # "text" (one readable line) or "json" (one object per line)
    level: str  # DEBUG, INFO, WARNING or ERROR


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class MetricsSettings:
    port: int  # 0: no metrics endpoint; it listens on grpc.host


@dataclass(frozen=True)
class ShutdownSettings:
    grace_s: float


@dataclass(frozen=True)
class StartupSettings:
    wait_s: float  # how long `serve` waits for PostgreSQL, Redis and the Video Service to answer


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database: DatabaseSettings
    redis: RedisSettings
    grpc: GrpcSettings
    sites: SitesSettings
    approval: ApprovalSettings
    sync: SyncSettings
    schedule: ScheduleSettings
    downloader: DownloaderSettings
    video_service: VideoServiceSettings
    lock: LockSettings
    startup: StartupSettings
    shutdown: ShutdownSettings
    metrics: MetricsSettings
    log: LogSettings


def defaults() -> dict[str, Any]:
    text = resources.files("scheduler").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


def load(config_file: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Reads defaults, the settings file and the environment, and validates all of it."""
    environ = os.environ if environ is None else environ
    path = config_file or environ.get(SETTINGS_FILE_VARIABLE) or None
    files: list[str] = []
    if path:
        resolved = Path(path).expanduser().resolve()
        if not resolved.is_file():
            raise SettingsError(f"{SETTINGS_FILE_VARIABLE}: no such file: {resolved}")
        if resolved.suffix != ".toml":
            raise SettingsError(f"{SETTINGS_FILE_VARIABLE}: must be a TOML file (.toml), got {resolved}")
        files.append(str(resolved))
        try:
            tomllib.loads(resolved.read_text("utf-8"))
        except (OSError, UnicodeError, tomllib.TOMLDecodeError) as error:
            raise SettingsError(f"{SETTINGS_FILE_VARIABLE}: cannot read {resolved}: {error}") from None
    # merge_enabled stays off: dynaconf would append a file's list to the default one.
    # Tables are merged onto the defaults by `_merge` instead, lists replaced whole.
    try:
        overrides = Dynaconf(
            envvar_prefix=ENV_PREFIX,
            settings_files=files,
            environments=False,
            load_dotenv=False,
        ).as_dict()
    except Exception as error:
        # The file parsed above, so an environment value failed dynaconf's "@" conversions.
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        converted = [k for k, v in environ.items() if k.startswith(f"{ENV_PREFIX}_") and v.startswith("@")]
        name = converted[0] if len(converted) == 1 else f"{ENV_PREFIX}_*"
        raise SettingsError(f"{name}: cannot convert the value: {problem}") from None
    return from_overrides(_lower_keys(overrides))


def from_overrides(overrides: Mapping[str, Any]) -> Settings:
    """The defaults with `overrides` (lower-case keys, tables merged) on top, validated."""
    return parse(_merge(defaults(), overrides))


def _lower_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    return value


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_CREDENTIALS = re.compile(r"(?<=://)([^/@:\s]*):([^/@\s]*)@")


def redact(value: Any) -> Any:
    """The value with any URL's password replaced: settings errors must not print secrets."""
    if isinstance(value, str):
        return _CREDENTIALS.sub(r"\1:***@", value)
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def open_to_anyone(grpc: GrpcSettings) -> str | None:
    """The warning for an API that listens beyond this host with neither a token nor mutual
    TLS: whoever reaches the port may subscribe, unsubscribe and cancel for any user. (A
    back end inside its own cluster may want that, so it is a warning, not a refusal.)"""
    if _is_loopback(grpc.host) or grpc.tokens or (grpc.tls_cert and grpc.tls_client_ca):
        return None
    return (
        f"the API listens on {grpc.host or 'every interface'}:{grpc.port} with no token and no mutual TLS: "
        "anyone who reaches it may subscribe, unsubscribe and cancel for any user; set "
        f"{variable('grpc', 'tokens')} or {variable('grpc', 'tls_client_ca')}, or "
        f"{variable('grpc', 'host')}=127.0.0.1"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may stand for any address


def variable(*path: str) -> str:
    """The environment variable that sets a key: ("grpc", "port") -> SCHEDULER_GRPC__PORT."""
    return "_".join([ENV_PREFIX, "__".join(p.upper() for p in path)])


def parse(raw: Mapping[str, Any]) -> Settings:
    """Validates a merged settings mapping (lower-case keys) into `Settings`."""
    _reject_unknown(raw, defaults(), ())
    section = _Reader(raw)
    data_dir = Path(section.string(("data_dir",), allow_empty=False))
    settings = Settings(
        data_dir=data_dir,
        database=DatabaseSettings(
            url=section.postgres_url(("database", "url")),
            migrate_on_start=section.boolean(("database", "migrate_on_start")),
            pool_min_size=section.integer(("database", "pool_min_size"), 1, 1000),
            pool_max_size=section.integer(("database", "pool_max_size"), 1, 1000),
            statement_timeout_s=section.number(("database", "statement_timeout_s"), 0.001),
        ),
        redis=RedisSettings(urls=section.redis_urls(("redis", "urls"))),
        grpc=section.grpc(),
        sites=SitesSettings(
            allowed=section.host_patterns(("sites", "allowed")),
            limits=section.site_limits(("sites", "limits")),
            breaker_min_s=section.number(("sites", "breaker_min_s"), 0.001),
            breaker_max_s=section.number(("sites", "breaker_max_s"), 0.001),
            cookies=section.cookie_files(("sites", "cookies")),
        ),
        approval=ApprovalSettings(required=section.boolean(("approval", "required"))),
        sync=SyncSettings(
            workers=section.integer(("sync", "workers"), 0, 100),
            min_backoff_s=section.number(("sync", "min_backoff_s"), 0.001),
            max_backoff_factor=section.integer(("sync", "max_backoff_factor"), 1, 1_000_000),
            partial_entries=section.integer(("sync", "partial_entries"), 0, 1_000_000),
            full_every=section.integer(("sync", "full_every"), 1, 1_000_000),
            page_entries=section.integer(("sync", "page_entries"), 0, 1_000_000),
            retry_s=section.number(("sync", "retry_s"), 0.001),
        ),
        schedule=ScheduleSettings(
            pollers=section.integer(("schedule", "pollers"), 0, 100),
            listen=section.boolean(("schedule", "listen")),
            poll_interval_s=section.number(("schedule", "poll_interval_s"), 0.001),
            lease_s=section.number(("schedule", "lease_s"), 1.0),
        ),
        downloader=DownloaderSettings(
            workers=section.integer(("downloader", "workers"), 0, 1000),
            attempts=section.integer(("downloader", "attempts"), 1, 1000),
            timeout_s=section.number(("downloader", "timeout_s"), 0.001),
            max_filesize=section.integer(("downloader", "max_filesize"), 0, 2**62),
            proxy=section.proxy_url(("downloader", "proxy")),
            accept_language=section.string(("downloader", "accept_language")),
            format=section.string(("downloader", "format"), allow_empty=False),
            format_sort=section.strings(("downloader", "format_sort")),
            js_runtime=section.program(("downloader", "js_runtime")),
            ffmpeg=section.program(("downloader", "ffmpeg"), allow_none=False),
            socket_timeout_s=section.number(("downloader", "socket_timeout_s"), 0.001),
            retry_base_s=section.number(("downloader", "retry_base_s"), 0.0),
            retry_max_s=section.number(("downloader", "retry_max_s"), 0.0),
        ),
        video_service=section.video_service(data_dir),
        lock=LockSettings(ttl_s=section.number(("lock", "ttl_s"), 1.0)),
        startup=StartupSettings(wait_s=section.number(("startup", "wait_s"), 0.0)),
        shutdown=ShutdownSettings(grace_s=section.number(("shutdown", "grace_s"), 0.0)),
        metrics=MetricsSettings(port=section.integer(("metrics", "port"), 0, 65535)),
        log=LogSettings(
            format=section.one_of(("log", "format"), LOG_FORMATS),
            level=section.one_of(("log", "level"), LOG_LEVELS, upper=True),
        ),
    )
    if settings.sites.breaker_min_s > settings.sites.breaker_max_s:
        raise SettingsError(
            f"{variable('sites', 'breaker_min_s')}: must not exceed "
            f"{variable('sites', 'breaker_max_s')} ({settings.sites.breaker_max_s:g})"
        )
    database = settings.database
    if database.pool_min_size > database.pool_max_size:
        raise SettingsError(
            f"{variable('database', 'pool_min_size')}: must not exceed "
            f"{variable('database', 'pool_max_size')} ({database.pool_max_size})"
        )
    return settings


def _reject_unknown(raw: Mapping[str, Any], known: Mapping[str, Any], path: tuple[str, ...]) -> None:
    for key, value in raw.items():
        if not path and key in _NOT_SETTINGS:
            continue
        if key not in known:
            raise SettingsError(f"{variable(*path, key)}: unknown setting")
        if isinstance(known[key], dict):
            if not isinstance(value, Mapping):
                raise SettingsError(f"{variable(*path, key)}: must be a table of settings")
            if (*path, key) not in _FREE_TABLES:
                _reject_unknown(value, known[key], (*path, key))


class _Reader:
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


VIDEO_SERVICE_KINDS = ("directory", "horahora", "http")


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
    if domain is None or _is_ip_address(domain):
        return None
    return f"*.{domain}"


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
