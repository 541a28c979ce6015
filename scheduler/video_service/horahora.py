"""The Horahora Video Service: gRPC (grpclib, asyncio) behind trio-asyncio's bridge.

The wire contract is Horahora's (proto/scheduler/horahora/video_service.proto,
docs/video-services.md). Every call is one asyncio coroutine run through
`aio_as_trio`: a grpclib stream never outlives one crossing of the bridge, so a
Trio cancel cancels the whole coroutine and grpclib resets the stream itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import trio
import trio_asyncio
from grpclib import GRPCError
from grpclib.client import Channel, Stream
from grpclib.exceptions import ProtocolError, StreamTerminatedError

from scheduler.cleanup import cleanup_scope
from scheduler.horahora.video_service_grpc import VideoServiceStub
from scheduler.horahora.video_service_pb2 import (
    FileContent,
    ForeignVideoCheck,
    InputFileMetadata,
    InputVideoChunk,
    RawMetadata,
)
from scheduler.video_service.base import DownloadedVideo, VideoServiceError

CHUNK_SIZE = 1024 * 1024  # Horahora's own scheduler sends 1 MiB chunks
# Trio's own backstop beyond grpclib's deadline, should the deadline miss a stage.
_BACKSTOP_S = 5.0
_FAILURES = (GRPCError, StreamTerminatedError, ProtocolError, OSError, TimeoutError)

T = TypeVar("T")


def split_address(address: str) -> tuple[str, int]:
    """ "host:port" (or "[v6]:port") -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


class HorahoraVideoService:
    """Needs a Channel made inside the trio-asyncio loop: use `connect`."""

    def __init__(self, channel: Channel, address: str, timeout_s: float) -> None:
        self._stub = VideoServiceStub(channel)
        self._address = address
        self._timeout_s = timeout_s

    @classmethod
    @asynccontextmanager
    async def connect(cls, address: str, timeout_s: float) -> AsyncIterator[HorahoraVideoService]:
        """The service over a Channel that lives (and is closed) inside the asyncio loop.

        grpclib connects lazily, so this succeeds while the service is down; the
        first call then fails with `VideoServiceError`.
        """
        host, port = split_address(address)
        channel = await trio_asyncio.aio_as_trio(_open_channel)(host, port)
        try:
            yield cls(channel, address, timeout_s)
        finally:
            with cleanup_scope():
                await trio_asyncio.aio_as_trio(_close_channel)(channel)

    async def exists(self, website: str, foreign_id: str) -> bool:
        request = ForeignVideoCheck(ForeignVideoID=foreign_id, ForeignWebsite=website)

        async def check() -> bool:
            reply = await self._stub.foreignVideoExists(request, timeout=self._timeout_s)
            return bool(reply.Exists)

        return await self._bridge(check, f"existence check of {website} video {foreign_id!r}")

    async def upload(self, video: DownloadedVideo) -> str:
        meta = video.metadata
        video_id = await self._bridge(
            lambda: self._upload(video), f"upload of {meta.website} video {meta.foreign_id!r}"
        )
        return str(video_id)

    async def _upload(self, video: DownloadedVideo) -> int:
        """asyncio: meta, the video in `content` chunks, the info JSON in `rawmeta` chunks."""
        meta = video.metadata
        thumbnail = b""
        if video.thumbnail_path is not None:
            thumbnail = await asyncio.to_thread(video.thumbnail_path.read_bytes)  # small
        first = InputFileMetadata(
            title=meta.title,
            description=meta.description,
            authorUID=meta.uploader_id,
            originalVideoLink=meta.url,
            authorUsername=meta.uploader,
            originalSite=meta.website,
            originalID=meta.foreign_id,
            domesticAuthorID=0,  # a re-upload has no local author
            Tags=list(meta.tags),
            thumbnail=thumbnail,
        )
        async with self._stub.uploadVideo.open(timeout=self._timeout_s) as stream:
            await stream.send_message(InputVideoChunk(meta=first))
            await _send_file(
                stream, video.video_path, lambda data: InputVideoChunk(content=FileContent(Data=data))
            )
            await _send_file(
                stream, video.info_json_path, lambda data: InputVideoChunk(rawmeta=RawMetadata(Data=data))
            )
            await stream.end()
            reply = await stream.recv_message()
        if reply is None:
            raise StreamTerminatedError("the service closed the stream without an answer")
        return int(reply.videoID)

    async def _bridge(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """Runs the asyncio coroutine `call()` from Trio; every failure becomes one line."""
        cause: BaseException
        try:
            with trio.fail_after(self._timeout_s + _BACKSTOP_S):
                result: T = await trio_asyncio.aio_as_trio(call)()
                return result
        except (trio.TooSlowError, TimeoutError) as error:
            problem, cause = f"no answer within {self._timeout_s:g}s", error
        except GRPCError as error:
            problem, cause = f"{error.status.name}: {error.message or 'no message'}", error
        except _FAILURES as error:
            problem, cause = str(error) or type(error).__name__, error
        problem = " ".join(problem.split())  # one line, whatever the server sent
        raise VideoServiceError(f"horahora {self._address}: {what}: {problem}") from cause


async def _send_file(stream: Stream[Any, Any], path: Path, chunk: Callable[[bytes], InputVideoChunk]) -> None:
    """Sends the file CHUNK_SIZE bytes at a time, read in a thread (the loop is Trio's too)."""
    buffer = bytearray(CHUNK_SIZE)
    file = await asyncio.to_thread(path.open, "rb")
    try:
        # readinto, not read: a chunk returned through the thread's future lives on
        # in a reference cycle until the garbage collector runs, and they pile up.
        while size := await asyncio.to_thread(file.readinto, buffer):
            await stream.send_message(chunk(bytes(memoryview(buffer)[:size])))
    finally:
        file.close()


async def _open_channel(host: str, port: int) -> Channel:
    return Channel(host, port)


async def _close_channel(channel: Channel) -> None:
    channel.close()
