"""A Video Service behind a small HTTP contract (docs/video-services.md).

    GET  {base}/videos/{website}/{foreign_id}  -> 200: has it, 404: has not
    POST {base}/videos  multipart/form-data: metadata, video, info[, thumbnail][, subtitle...]
                        -> 200/201 {"id": "..."}

Path components are percent-encoded UTF-8 with everything but letters, digits, "-",
"_" and "~" escaped ("." too, so an id of ".." is never a dot segment).

httpx runs on Trio natively, so this is plain Trio code (no trio-asyncio bridge).
The multipart body is made here rather than by httpx's `files=`: httpx reads
those files with blocking reads on the event loop, this reads them in a thread,
one CHUNK_SIZE piece at a time, so memory stays constant whatever the file's size
and the loop never waits on the disk. Sizes are known up front, so the request
carries a Content-Length instead of chunked encoding.
"""

from __future__ import annotations

import dataclasses
import json
import mimetypes
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import httpx
import trio

from scheduler.cleanup import cleanup_scope
from scheduler.video_service.base import DownloadedVideo, VideoServiceError
from scheduler.video_service.naming import safe_suffix, subtitle_suffixes

CHUNK_SIZE = 1024 * 1024
# Subtitle formats yt-dlp writes; guessed from the system's MIME table, ".ass" can come out
# as AAC audio.
SUBTITLE_TYPES = {
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
    ".ass": "text/x-ssa",
    ".ssa": "text/x-ssa",
    ".ttml": "application/ttml+xml",
    ".json3": "application/json",
    ".srv3": "application/xml",
}


def path_component(value: str) -> str:
    return quote(value, safe="").replace(".", "%2E")


class HttpVideoService:
    """Use as `async with HttpVideoService(url, timeout_s) as service:` (closes its client)."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._base = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def __aenter__(self) -> HttpVideoService:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        with cleanup_scope():
            await self._client.aclose()

    async def exists(self, website: str, foreign_id: str) -> bool:
        url = f"{self._base}/videos/{path_component(website)}/{path_component(foreign_id)}"
        what = f"existence check of {website} video {foreign_id!r}"
        response = await self._request(what, "GET", url)
        if response.status_code == 404:
            return False
        if response.status_code == 200:
            return True
        raise _status_error(self._base, what, response)

    async def upload(self, video: DownloadedVideo) -> str:
        meta = video.metadata
        what = f"upload of {meta.website} video {meta.foreign_id!r}"
        try:
            body = await trio.to_thread.run_sync(_Multipart.of, video)
        except OSError as error:
            raise VideoServiceError(f"http {self._base}: {what}: {error}") from None
        headers = {"Content-Type": body.content_type, "Content-Length": str(body.length)}
        response = await self._request(what, "POST", f"{self._base}/videos", body.chunks(), headers)
        if response.status_code not in (200, 201):
            raise _status_error(self._base, what, response)
        try:
            video_id = response.json()["id"]
        except (ValueError, KeyError, TypeError):
            raise VideoServiceError(
                f'http {self._base}: {what}: the answer is not JSON with an "id": {_snippet(response)}'
            ) from None
        return str(video_id)

    async def _request(
        self,
        what: str,
        method: str,
        url: str,
        content: AsyncIterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One request under one deadline for all of it (httpx's timeout is per read/write)."""
        cause: BaseException
        try:
            with trio.fail_after(self._timeout_s):
                return await self._client.request(method, url, content=content, headers=headers)
        except trio.TooSlowError as error:
            problem, cause = f"no answer within {self._timeout_s:g}s", error
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
            problem, cause = str(error) or type(error).__name__, error
        raise VideoServiceError(f"http {self._base}: {what}: {' '.join(problem.split())}") from cause


def _status_error(base: str, what: str, response: httpx.Response) -> VideoServiceError:
    return VideoServiceError(f"http {base}: {what}: HTTP {response.status_code}: {_snippet(response)}")


def _snippet(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return (text[:200] + "...") if len(text) > 200 else text or "(empty body)"


@dataclass(frozen=True)
class _Part:
    head: bytes  # boundary line and part headers
    data: bytes | Path
    size: int


@dataclass(frozen=True)
class _Multipart:
    """A multipart/form-data body whose files are read while it is sent."""

    boundary: str
    parts: Sequence[_Part]

    @classmethod
    def of(cls, video: DownloadedVideo) -> _Multipart:
        """Blocking (stats the files): run in a thread."""
        boundary = secrets.token_hex(16)
        metadata = json.dumps(dataclasses.asdict(video.metadata)).encode()
        files = [("video", f"video{safe_suffix(video.video_path)}", video.video_path)]
        files.append(("info", "info.json", video.info_json_path))
        if video.thumbnail_path is not None:
            files.append(("thumbnail", f"thumbnail{safe_suffix(video.thumbnail_path)}", video.thumbnail_path))
        subtitles = video.subtitle_paths
        for path, suffix in zip(subtitles, subtitle_suffixes(subtitles), strict=True):
            files.append(("subtitle", suffix.removeprefix("."), path))  # "ja.vtt"
        parts = [_part(boundary, "metadata", None, "application/json", metadata, len(metadata))]
        for name, filename, path in files:
            if name == "subtitle":
                content_type = SUBTITLE_TYPES.get(Path(filename).suffix, "application/octet-stream")
            else:
                content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            parts.append(_part(boundary, name, filename, content_type, path, path.stat().st_size))
        return cls(boundary, parts)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        return sum(len(p.head) + p.size + 2 for p in self.parts) + len(self._tail)

    async def chunks(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part.head
            if isinstance(part.data, bytes):
                yield part.data
            else:
                # Exactly `size` bytes: the Content-Length promised them.
                async with await trio.open_file(part.data, "rb") as file:
                    remaining = part.size
                    while remaining:
                        data = await file.read(min(CHUNK_SIZE, remaining))
                        if not data:
                            raise OSError(f"{part.data} shrank while it was being sent")
                        remaining -= len(data)
                        yield data
            yield b"\r\n"
        yield self._tail


def _part(
    boundary: str, name: str, filename: str | None, content_type: str, data: bytes | Path, size: int
) -> _Part:
    # Names and file names are ours (fixed words, safe suffixes, languages of letters,
    # digits, "-" and "_"): no quoting needed.
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
    return _Part(head.encode(), data, size)
