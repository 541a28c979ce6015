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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dynaconf import Dynaconf

from scheduler.categories import canonical_host

ENV_PREFIX = "SCHEDULER"
SETTINGS_FILE_VARIABLE = "SCHEDULER_SETTINGS_FILE"
# Keys dynaconf adds of its own, and the file variable read above; not settings.
_NOT_SETTINGS = {"load_dotenv", "settings_file"}


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


@dataclass(frozen=True)
class SitesSettings:
    allowed: tuple[str, ...]


@dataclass(frozen=True)
class ApprovalSettings:
    required: bool


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database: DatabaseSettings
    redis: RedisSettings
    grpc: GrpcSettings
    sites: SitesSettings
    approval: ApprovalSettings


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


def variable(*path: str) -> str:
    """The environment variable that sets a key: ("grpc", "port") -> SCHEDULER_GRPC__PORT."""
    return "_".join([ENV_PREFIX, "__".join(p.upper() for p in path)])


def parse(raw: Mapping[str, Any]) -> Settings:
    """Validates a merged settings mapping (lower-case keys) into `Settings`."""
    _reject_unknown(raw, defaults(), ())
    section = _Reader(raw)
    settings = Settings(
        data_dir=Path(section.string(("data_dir",), allow_empty=False)),
        database=DatabaseSettings(
            url=section.postgres_url(("database", "url")),
            migrate_on_start=section.boolean(("database", "migrate_on_start")),
            pool_min_size=section.integer(("database", "pool_min_size"), 1, 1000),
            pool_max_size=section.integer(("database", "pool_max_size"), 1, 1000),
            statement_timeout_s=section.number(("database", "statement_timeout_s"), 0.001),
        ),
        redis=RedisSettings(urls=section.redis_urls(("redis", "urls"))),
        grpc=GrpcSettings(
            host=section.string(("grpc", "host"), allow_empty=False),
            port=section.integer(("grpc", "port"), 0, 65535),
        ),
        sites=SitesSettings(allowed=section.host_patterns(("sites", "allowed"))),
        approval=ApprovalSettings(required=section.boolean(("approval", "required"))),
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
        return SettingsError(f"{variable(*path)}: {problem}, got {value!r}")

    def string(self, path: tuple[str, ...], *, allow_empty: bool = True) -> str:
        value = self._get(path)
        if not isinstance(value, str):
            raise self._fail(path, "must be a string", value)
        if not allow_empty and not value.strip():
            raise self._fail(path, "must not be empty", value)
        return value

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
