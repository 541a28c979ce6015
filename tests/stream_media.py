"""Streams shaped like the real sites', made with ffmpeg for the content site to serve:

- HLS as Niconico serves it: a master playlist whose video renditions (1280x720 and
  640x360) carry no audio and point at a separate audio rendition, every segment
  AES-128 encrypted, with WebVTT subtitle renditions in Japanese and English (SUBTITLES);
- DASH as YouTube serves it: one manifest, the same two video representations and an
  audio one, each its own stream.

Made once per test session (a few seconds of CPU) with the ffmpeg the service itself
would run (`programs.ffmpeg`), so a machine without one still has them.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scheduler import programs

SECONDS = 2
HIGH, LOW = (1280, 720), (640, 360)
KEY = bytes(range(16))  # the AES-128 key
# The HLS stream's subtitle tracks: language -> (its name, its one cue).
SUBTITLES = {"ja": ("日本語", "こんにちは"), "en": ("English", "Hello")}
_VIDEO = f"testsrc2=size=1280x720:rate=25:duration={SECONDS}"
_AUDIO = f"sine=frequency=440:sample_rate=44100:duration={SECONDS}"
_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"]


@dataclass(frozen=True)
class StreamMedia:
    hls: Path  # master.m3u8, its renditions, segments and key.bin
    dash: Path  # manifest.mpd and its segments


def ffmpeg() -> str:
    found = programs.ffmpeg(programs.AUTO)
    assert found is not None, "the package ships an ffmpeg"
    return found


def _run(*args: str | Path) -> None:
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def make(root: Path) -> StreamMedia:
    hls, dash = root / "hls", root / "dash"
    hls.mkdir(parents=True)
    dash.mkdir(parents=True)
    (hls / "key.bin").write_bytes(KEY)
    (hls / "key.info").write_text(f"key.bin\n{hls / 'key.bin'}\n")
    encrypted = ["-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_key_info_file"]
    for name, (width, height) in (("v720", HIGH), ("v360", LOW)):
        _run("-f", "lavfi", "-i", _VIDEO, "-an", *_X264, "-s", f"{width}x{height}",
             *encrypted, hls / "key.info", "-hls_segment_filename", hls / f"{name}_%d.ts",
             hls / f"{name}.m3u8")  # fmt: skip
    _run("-f", "lavfi", "-i", _AUDIO, "-c:a", "aac", "-b:a", "64k",
         *encrypted, hls / "key.info", "-hls_segment_filename", hls / "audio_%d.ts",
         hls / "audio.m3u8")  # fmt: skip
    subtitles = ""
    for language, (name, cue) in SUBTITLES.items():
        (hls / f"subs_{language}_0.vtt").write_text(f"WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n{cue}\n")
        (hls / f"subs_{language}.m3u8").write_text(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
            f"#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{SECONDS}.0,\nsubs_{language}_0.vtt\n#EXT-X-ENDLIST\n"
        )
        subtitles += (
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{name}",LANGUAGE="{language}",'
            f'URI="subs_{language}.m3u8"\n'
        )
    (hls / "master.m3u8").write_text(
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="main",DEFAULT=YES,AUTOSELECT=YES,URI="audio.m3u8"\n'
        + subtitles
        + '#EXT-X-STREAM-INF:BANDWIDTH=1600000,RESOLUTION=1280x720,CODECS="avc1.640020,mp4a.40.2",'
        'AUDIO="audio",SUBTITLES="subs"\n'
        "v720.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",'
        'AUDIO="audio",SUBTITLES="subs"\n'
        "v360.m3u8\n"
    )
    _run("-f", "lavfi", "-i", _VIDEO, "-f", "lavfi", "-i", _AUDIO,
         "-map", "0:v", "-map", "0:v", "-map", "1:a", *_X264,
         "-s:v:0", f"{HIGH[0]}x{HIGH[1]}", "-s:v:1", f"{LOW[0]}x{LOW[1]}", "-c:a", "aac", "-b:a", "64k",
         "-f", "dash", "-seg_duration", "1", "-use_template", "1", "-use_timeline", "1",
         "-adaptation_sets", "id=0,streams=v id=1,streams=a", dash / "manifest.mpd")  # fmt: skip
    return StreamMedia(hls, dash)


@dataclass(frozen=True)
class Stream:
    kind: str  # "video" or "audio"
    codec: str
    width: int = 0
    height: int = 0


_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: (Video|Audio): (\w+)(?:.*?, (\d+)x(\d+)[, ])?", re.M)


def probe(path: Path) -> list[Stream]:
    """The file's streams, as ffmpeg lists them (the ffmpeg that ships with the package has no
    ffprobe beside it; `ffmpeg -i` prints the same stream table)."""
    listed = subprocess.run(
        [ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False
    ).stderr
    return [
        Stream(kind.lower(), codec, int(w or 0), int(h or 0)) for kind, codec, w, h in _STREAM.findall(listed)
    ]


def decode_errors(path: Path) -> str:
    """What ffmpeg reports while decoding every frame of the file ("" when it plays through)."""
    done = subprocess.run(
        [ffmpeg(), "-hide_banner", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stderr.strip() or ("" if done.returncode == 0 else f"exit code {done.returncode}")
