"""Settings: shipped defaults, an optional settings file, SCHEDULER_* environment variables.

dynaconf reads the file and the environment; `parse` (pure) checks every value and
turns the result into a frozen `Settings`, so nothing below this module reads
dynaconf. A bad value raises `SettingsError` naming the setting as an operator
would set it (`SCHEDULER_GRPC__PORT: ...`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from dynaconf import Dynaconf

from scheduler.settings.model import (
    ENV_PREFIX,
    LOG_FORMATS,
    LOG_LEVELS,
    SETTINGS_FILE_VARIABLE,
    TARGET_VARIABLE,
    TOKEN_VARIABLE,
    ApprovalSettings,
    DatabaseSettings,
    DownloaderSettings,
    LockSettings,
    LogSettings,
    MetricsSettings,
    NotifySettings,
    RedisSettings,
    ScheduleSettings,
    Settings,
    SettingsError,
    ShutdownSettings,
    SitesSettings,
    StartupSettings,
    SyncSettings,
    variable,
)
from scheduler.settings.reader import Reader

# Keys dynaconf adds of its own, the file variable read above, and the client commands'
# variables; not settings.
_NOT_SETTINGS = {
    "load_dotenv",
    "settings_file",
    *(name.removeprefix(f"{ENV_PREFIX}_").lower() for name in (TARGET_VARIABLE, TOKEN_VARIABLE)),
}
# Tables whose keys are the user's own (site patterns), checked by their parser.
_FREE_TABLES = {("sites", "limits"), ("sites", "cookies")}


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


def parse(raw: Mapping[str, Any]) -> Settings:
    """Validates a merged settings mapping (lower-case keys) into `Settings`."""
    _reject_unknown(raw, defaults(), ())
    section = Reader(raw)
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
            worker_max_jobs=section.integer(("downloader", "worker_max_jobs"), 1, 1_000_000),
            worker_max_rss_mb=section.integer(("downloader", "worker_max_rss_mb"), 0, 1_000_000),
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
        notify=NotifySettings(
            targets=section.notify_targets(("notify", "urls")),
            digest_s=section.number(("notify", "digest_s"), 0.001),
            attempts=section.integer(("notify", "attempts"), 1, 1000),
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
