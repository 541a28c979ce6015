"""The directory Video Service's "library" layout: a tree media servers read.

    <root>/<channel>/<upload date> <title> [<id>].<ext>     the video
                     <same base>.nfo                        Kodi/Jellyfin metadata (nfo.py)
                     <same base>-poster.<ext>               the thumbnail, when there is one
                     <same base>.<language>.<ext>           each subtitle
                     <same base>.info.json                  yt-dlp's info JSON
    <root>/.index/<website>/<id>                            the video's entry (JSON)
    <root>/.partial-*/                                      an upload in progress

Names come from naming.py (pure). The titles in names change when a site renames a
video, so whether a video is stored is answered by the index, keyed by (website, id)
as `safe_name` spells them: one stat. Dot-prefixed names are hidden from Jellyfin and
Kodi, and no name of a video's files starts with a dot.

An upload writes every file under a temporary name in `.partial-*`, then links each
into place without ever replacing a file (a name that is taken gets " (2)", " (3)"...),
the video last so a media server finds its sidecars with it, and writes the index
entry last of all. A crash before the entry leaves a video that does not count as
stored; its files were listed with their identities (inode, size, mtime) in an intent
file first, so its retry removes them (only those same files) instead of adding a
second copy.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import trio

from scheduler.video_service.base import DownloadedVideo, VideoServiceError
from scheduler.video_service.directory import (
    PARTIAL_PREFIX,
    copy_file,
    link_or_copy,
    sync_directory,
    write_file,
)
from scheduler.video_service.naming import base_name, folder_name, safe_name, safe_suffix, subtitle_suffixes
from scheduler.video_service.nfo import nfo_document

INDEX = ".index"
_INTENT_PREFIX = ".intent-"
_MAX_COPIES = 1000


class LibraryVideoService:
    def __init__(self, root: Path) -> None:
        self.root = root

    def index_entry(self, website: str, foreign_id: str) -> Path:
        return self.root / INDEX / safe_name(website) / safe_name(foreign_id)

    async def exists(self, website: str, foreign_id: str) -> bool:
        return await trio.to_thread.run_sync(self.index_entry(website, foreign_id).is_file)

    async def upload(self, video: DownloadedVideo) -> str:
        # One thread does it all: a cancel waits for it and its cleanup.
        return await trio.to_thread.run_sync(self._store, video)

    def _store(self, video: DownloadedVideo) -> str:
        meta = video.metadata
        what = f"{meta.website} video {meta.foreign_id!r}"
        entry = self.index_entry(meta.website, meta.foreign_id)
        intent = entry.with_name(f"{_INTENT_PREFIX}{entry.name}")
        if entry.exists():
            raise VideoServiceError(f"directory {self.root}: already holds {what}")
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            _undo(self.root, intent)
            partial = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=self.root))
        except OSError as error:
            raise VideoServiceError(f"directory {self.root}: cannot prepare {what}: {error}") from None
        placed: list[Path] = []
        intended = False
        try:
            files = _prepare(video, partial)
            folder = self.root / folder_name(meta.uploader, meta.uploader_id)
            folder.mkdir(exist_ok=True)
            base = _free_base(folder, video, [suffix for suffix, _ in files])
            targets = [(folder / f"{base}{suffix}", source) for suffix, source in files]
            _write_atomically(intent, _intent(self.root, targets))
            intended = True
            for target, source in targets:
                _place(source, target)
                placed.append(target)
            sync_directory(folder)
            sync_directory(self.root)
            record = {
                "website": meta.website,
                "foreign_id": meta.foreign_id,
                "video": _relative(self.root, targets[-1][0]),
                "files": [_relative(self.root, target) for target, _ in targets],
            }
            _write_atomically(entry, json.dumps(record, indent=2).encode())
            intent.unlink()
        except OSError as error:
            for path in placed:
                path.unlink(missing_ok=True)
            if intended:
                intent.unlink(missing_ok=True)
            problem = "another upload stored it first" if entry.exists() else str(error)
            raise VideoServiceError(f"directory {self.root}: cannot store {what}: {problem}") from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return _relative(self.root, targets[-1][0])


def _prepare(video: DownloadedVideo, partial: Path) -> list[tuple[str, Path]]:
    """Every file of the video in `partial`, as (suffix after the base name, file): the
    sidecars first, the video last."""
    files: list[tuple[str, Path]] = []

    def add(suffix: str) -> Path:
        path = partial / str(len(files))
        files.append((suffix, path))
        return path

    write_file(add(".nfo"), nfo_document(video.metadata))
    copy_file(video.info_json_path, add(".info.json"))
    if video.thumbnail_path is not None:
        copy_file(video.thumbnail_path, add(f"-poster{safe_suffix(video.thumbnail_path)}"))
    for path, suffix in zip(video.subtitle_paths, subtitle_suffixes(video.subtitle_paths), strict=True):
        copy_file(path, add(suffix))
    link_or_copy(video.video_path, add(safe_suffix(video.video_path)))
    return files


def _free_base(folder: Path, video: DownloadedVideo, suffixes: list[str]) -> str:
    """The first base name none of whose files exists: the id in it keeps videos apart,
    " (2)"... the rare rest (one id on two websites, names equal to a case-insensitive
    file system)."""
    meta = video.metadata
    for copy in range(1, _MAX_COPIES + 1):
        base = base_name(meta.upload_date, meta.title, meta.foreign_id, copy)
        if not any((folder / f"{base}{suffix}").exists() for suffix in suffixes):
            return base
    raise OSError(f"{_MAX_COPIES} videos in {folder} already have its name")


def _place(source: Path, target: Path) -> None:
    """Gives `source` the name `target`; fails if that name exists, never replacing a file."""
    try:
        os.link(source, target)  # atomic, and refuses an existing name
    except FileExistsError:
        raise
    except OSError:
        # A file system without hard links: claim the name exclusively, then put the file
        # over our own claim.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        os.replace(source, target)
    else:
        source.unlink()


def _write_atomically(path: Path, data: bytes) -> None:
    """`path` holds `data` whole or does not exist; an existing `path` is an error."""
    temporary = path.with_name(f"{PARTIAL_PREFIX}{path.name}-{secrets.token_hex(4)}")
    try:
        write_file(temporary, data)
        _place(temporary, path)
        sync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _intent(root: Path, targets: list[tuple[Path, Path]]) -> bytes:
    """What an upload is about to place: each name with the identity of the file that
    will bear it, so that undoing it never removes another file of that name."""
    files = [{"path": _relative(root, target), "identity": _identity(source)} for target, source in targets]
    return json.dumps({"files": files}).encode()


def _identity(path: Path) -> list[int]:
    """Device and inode, and size and modification time: an inode number is reused as
    soon as it is freed, and neither linking nor renaming changes the latter two."""
    status = path.lstat()
    return [status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns]


def _undo(root: Path, intent: Path) -> None:
    """Removes what a crashed upload of this video placed (its intent is still there)."""
    try:
        files: list[dict[str, Any]] = json.loads(intent.read_bytes())["files"]
    except FileNotFoundError:
        return
    except (ValueError, KeyError, TypeError):
        files = []  # torn by the crash before anything was placed
    for file in files:
        path = root / file["path"]
        try:
            if _identity(path) == file["identity"]:
                path.unlink()
        except FileNotFoundError:
            continue
    intent.unlink()


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
