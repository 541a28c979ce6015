"""A Video Service that is a directory tree: `<root>/<website>/<foreign id>/`.

This is the "id" layout (SCHEDULER_VIDEO_SERVICE__LAYOUT; library.py is the other).
Each video's directory holds `video<ext>`, `info.json` (yt-dlp's info JSON),
`metadata.json` (the `VideoMetadata`, raw ids included), `thumbnail<ext>` when
there is one and `subtitles.<language><ext>` for each subtitle file. It is filled in
a temporary directory beside it and renamed into place, so a video directory either
is complete or does not exist.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import trio

from scheduler.video_service.base import DownloadedVideo, VideoServiceError
from scheduler.video_service.naming import safe_name, safe_suffix, subtitle_suffixes

# Temporary directories start with a dot, which no safe name does.
PARTIAL_PREFIX = ".partial-"


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
            partial = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=final.parent))
        except OSError as error:
            raise VideoServiceError(f"directory {self.root}: cannot create {final.parent}: {error}") from None
        try:
            link_or_copy(video.video_path, partial / f"video{safe_suffix(video.video_path)}")
            copy_file(video.info_json_path, partial / "info.json")
            if video.thumbnail_path is not None:
                copy_file(video.thumbnail_path, partial / f"thumbnail{safe_suffix(video.thumbnail_path)}")
            subtitles = video.subtitle_paths
            for path, suffix in zip(subtitles, subtitle_suffixes(subtitles), strict=True):
                copy_file(path, partial / f"subtitles{suffix}")
            write_file(partial / "metadata.json", json.dumps(dataclasses.asdict(meta), indent=2).encode())
            sync_directory(partial)
            # Fails (rather than replaces) when another upload got there first: the
            # final directory is never empty.
            os.rename(partial, final)
            sync_directory(final.parent)
        except OSError as error:
            raise VideoServiceError(
                f"directory {self.root}: cannot store {meta.website} video {meta.foreign_id!r}: {error}"
            ) from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return f"{final.parent.name}/{final.name}"


def copy_file(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)  # streams; sendfile where the platform has it
    with target.open("rb") as written:
        os.fsync(written.fileno())


def link_or_copy(source: Path, target: Path) -> None:
    """The video itself is linked, not copied, when the work directory is on the same file
    system (the default layout): half the disk traffic, and the pipeline deletes its own
    name for it afterwards. The data is made durable either way."""
    try:
        os.link(source, target)
    except OSError:  # another file system (EXDEV), or one without hard links
        copy_file(source, target)
        return
    with target.open("rb") as linked:
        os.fsync(linked.fileno())


def write_file(target: Path, data: bytes) -> None:
    with target.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def sync_directory(path: Path) -> None:
    """Makes the directory's entries durable, so a renamed directory is not empty after a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
