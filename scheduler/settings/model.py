"""The settings as the service reads them: frozen values, each checked when loaded
(load.py), and the names an operator sets them by (`variable`)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scheduler.sites.limits import SiteLimits

ENV_PREFIX = "SCHEDULER"
SETTINGS_FILE_VARIABLE = "SCHEDULER_SETTINGS_FILE"
# The client commands' own variables (scheduler/cli/main.py): where the service is, its token.
TARGET_VARIABLE = "SCHEDULER_TARGET"
TOKEN_VARIABLE = "SCHEDULER_TOKEN"


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
    worker_max_jobs: int  # a yt-dlp worker process is replaced after this many jobs
    worker_max_rss_mb: int  # ... or once its memory is over this, between jobs; 0: no limit


@dataclass(frozen=True)
class VideoServiceSettings:
    kind: str  # directory | horahora | http
    directory: Path
    address: str
    url: str
    timeout_s: float
    layout: str = "id"  # kind directory: "id" (<website>/<id>/) or "library" (for media servers)


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
    notify: NotifySettings


NOTIFY_KINDS = ("delivered", "failed", "breaker", "cookies", "listing", "instance")


@dataclass(frozen=True)
class NotifyTarget:
    url: str = field(repr=False)  # a secret (tokens, passwords): never in a repr or a log
    kinds: tuple[str, ...]
    label: str  # how logs and commands name it: "notify URL 2 (json)"

    @property
    def key(self) -> str:
        """How the database knows it: its SHA-256, never the URL itself."""
        return hashlib.sha256(self.url.encode()).hexdigest()


@dataclass(frozen=True)
class NotifySettings:
    targets: tuple[NotifyTarget, ...]
    digest_s: float
    attempts: int


VIDEO_SERVICE_KINDS = ("directory", "horahora", "http")
VIDEO_SERVICE_LAYOUTS = ("id", "library")


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
