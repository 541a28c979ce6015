"""Settings: shipped defaults, an optional settings file, SCHEDULER_* environment
variables. The package: model.py (the frozen values and the variables' names), load.py
(reading and checking them), reader.py (each kind of value). Handed on here.
"""

from scheduler.settings.load import defaults, from_overrides, load, parse
from scheduler.settings.model import (
    TARGET_VARIABLE,
    TOKEN_VARIABLE,
    DownloaderSettings,
    GrpcSettings,
    NotifySettings,
    NotifyTarget,
    Settings,
    SettingsError,
    SitesSettings,
    VideoServiceSettings,
    open_to_anyone,
    redact,
    variable,
)

__all__ = [
    "TARGET_VARIABLE",
    "TOKEN_VARIABLE",
    "DownloaderSettings",
    "GrpcSettings",
    "NotifySettings",
    "NotifyTarget",
    "Settings",
    "SettingsError",
    "SitesSettings",
    "VideoServiceSettings",
    "defaults",
    "from_overrides",
    "load",
    "open_to_anyone",
    "parse",
    "redact",
    "variable",
]
