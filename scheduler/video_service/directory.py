"""A Video Service that is a directory tree: `<root>/<website>/<foreign id>/`.

Each video's directory holds `video<ext>`, `info.json` (yt-dlp's info JSON),
`metadata.json` (the `VideoMetadata`, raw ids included) and `thumbnail<ext>` when
there is one. It is filled in a temporary directory beside it and renamed into
place, so a video directory either is complete or does not exist.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import trio

from scheduler.video_service.base import DownloadedVideo, VideoServiceError

# Readable names keep to these characters, which mean nothing to any file system.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,16}")
_MAX_READABLE = 80
# Temporary directories start with a dot, which no safe name does.
_PARTIAL_PREFIX = ".partial-"


def safe_name(raw: str) -> str:
    """A single path component for `raw`, the same for the same value.

    A value that is already safe (ASCII letters, digits, ".", "_", "-", not
    starting with ".", at most 80 characters) is used as it is. Any other gets a
    sanitised, shortened readable part, "~" and a hash of the raw value; "~" is
    never in an unchanged name, so two different values never share a name.
    """
    readable = _UNSAFE.sub("_", raw)
    if readable == raw and raw and not raw.startswith(".") and len(raw) <= _MAX_READABLE:
        return raw
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    readable = readable.lstrip(".")[:_MAX_READABLE]
    return f"{readable}~{digest}"


def safe_suffix(path: Path) -> str:
    """The file's extension when it is a plain one (".mp4"), else none."""
    return path.suffix if _SAFE_SUFFIX.fullmatch(path.suffix) else ""


class DirectoryVideoService:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, website: str, foreign_id: str) -> Path:
        return self.root / safe_name(website) / safe_name(foreign_id)

    async def exists(self, website: str, foreign_id: str) -> bool:
        return await trio.to_thread.run_sync(self.path_of(website, foreign_id).is_dir)

    async def upload(self, video: DownloadedVideo) -> str:
        # One thread does the whole copy: a cancel waits for it (and its cleanup)
        # instead of leaving a half-written directory behind.
        return await trio.to_thread.run_sync(self._store, video)

    def _store(self, video: DownloadedVideo) -> str:
        meta = video.metadata
        final = self.path_of(meta.website, meta.foreign_id)
        if final.exists():
            raise VideoServiceError(
                f"directory {self.root}: already holds {meta.website} video {meta.foreign_id!r}"
            )
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=_PARTIAL_PREFIX, dir=final.parent))
        except OSError as error:
            raise VideoServiceError(f"directory {self.root}: cannot create {final.parent}: {error}") from None
        try:
            _link_or_copy(video.video_path, partial / f"video{safe_suffix(video.video_path)}")
            _copy(video.info_json_path, partial / "info.json")
            if video.thumbnail_path is not None:
                _copy(video.thumbnail_path, partial / f"thumbnail{safe_suffix(video.thumbnail_path)}")
            _write(partial / "metadata.json", json.dumps(dataclasses.asdict(meta), indent=2))
            _sync_directory(partial)
            # Fails (rather than replaces) when another upload got there first: the
            # final directory is never empty.
            os.rename(partial, final)
            _sync_directory(final.parent)
        except OSError as error:
            raise VideoServiceError(
                f"directory {self.root}: cannot store {meta.website} video {meta.foreign_id!r}: {error}"
            ) from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return f"{final.parent.name}/{final.name}"


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)  # streams; sendfile where the platform has it
    with target.open("rb") as written:
        os.fsync(written.fileno())


def _link_or_copy(source: Path, target: Path) -> None:
    """The video itself is linked, not copied, when the work directory is on the same file
    system (the default layout): half the disk traffic, and the pipeline deletes its own
    name for it afterwards. The data is made durable either way."""
    try:
        os.link(source, target)
    except OSError:  # another file system (EXDEV), or one without hard links
        _copy(source, target)
        return
    with target.open("rb") as linked:
        os.fsync(linked.fileno())


def _write(target: Path, text: str) -> None:
    with target.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def _sync_directory(path: Path) -> None:
    """Makes the directory's entries durable, so a renamed directory is not empty after a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
