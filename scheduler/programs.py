"""Where the programs yt-dlp runs are: the JavaScript runtime that solves YouTube's player
challenges, and ffmpeg, which merges separate video and audio streams; and how old
yt-dlp itself is.

Both programs ship with the package (the `deno` and `imageio-ffmpeg` wheels), so a pip
install and the image have them with nothing else installed; a setting names another one.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import shutil
import sysconfig
from datetime import UTC, date, datetime

import deno
import imageio_ffmpeg

AUTO = "auto"
# sysconfig builds its variables on first use, and not thread-safely: a second thread may
# read EXE as None meanwhile (deno.find_deno_bin, yt-dlp's own lookup). Built here, on import.
sysconfig.get_config_vars()


@functools.cache
def js_runtime(setting: str) -> str | None:
    """The deno yt-dlp runs: the package's own for "auto", none for "", else the path given
    (settings checked that it is an executable file)."""
    if setting != AUTO:
        return setting or None
    try:
        return str(deno.find_deno_bin())
    except FileNotFoundError:
        return None


@functools.cache
def ffmpeg(setting: str) -> str | None:
    """The ffmpeg yt-dlp runs: for "auto", the one on PATH (the host's, kept current by its
    package manager), else the package's static build; else the path given."""
    if setting != AUTO:
        return setting
    try:
        return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # imageio-ffmpeg has no build for this platform
        return None


def release_date(version: str) -> date | None:
    """A yt-dlp version's release day ("2026.10.26", "2026.10.26.1", nightly "2026.11.02.232925")."""
    match = re.match(r"(\d{4})\.(\d{1,2})\.(\d{1,2})", version)
    try:
        return date(int(match[1]), int(match[2]), int(match[3])) if match else None
    except ValueError:
        return None


@functools.cache
def ytdlp_version() -> str:
    """The installed yt-dlp's version, read without importing it (the service never does)."""
    return importlib.metadata.version("yt-dlp")


def release_age_days(version: str | None = None, today: date | None = None) -> float:
    """Days since the yt-dlp release (the metric scheduler_ytdlp_release_age_days); NaN if unknown."""
    released = release_date(ytdlp_version() if version is None else version)
    if released is None:
        return float("nan")
    return float(((today or datetime.now(UTC).date()) - released).days)
