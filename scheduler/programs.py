"""Where the programs yt-dlp runs are: the JavaScript runtime that solves YouTube's player
challenges, and ffmpeg, which merges separate video and audio streams.

Both ship with the package (the `deno` and `imageio-ffmpeg` wheels), so a pip install
and the image have them with nothing else installed; a setting names another one.
"""

from __future__ import annotations

import functools
import shutil

import deno
import imageio_ffmpeg

AUTO = "auto"


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
