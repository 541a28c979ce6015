"""Fake Video Services on real sockets, recording what they receive.

Horahora (gRPC, grpclib on trio-asyncio's loop), from a Trio test:

    async with running_fake_horahora() as fake:
        async with HorahoraVideoService.connect(fake.address, timeout_s=5) as service:
            await service.upload(video)
        assert fake.uploads[0].meta.title == "..."
        fake.fail_next_uploads = 2  # the next two uploads fail with UNAVAILABLE
        fake.hang = True            # every call waits until the server closes

HTTP (the contract of scheduler/video_service/http.py; http.server in a thread):

    async with running_fake_http() as fake:
        async with HttpVideoService(fake.url, timeout_s=5) as service: ...
        fake.uploads, fake.requests, fake.fail_next_uploads, fake.hang
        fake.uploads[0].subtitles  # {"ja.vtt": b"WEBVTT..."}: the `subtitle` parts
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import random
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import trio
import trio_asyncio
from grpclib import GRPCError, Status
from grpclib.server import Server, Stream

from scheduler.horahora.video_service_grpc import VideoServiceBase
from scheduler.horahora.video_service_pb2 import (
    ForeignVideoCheck,
    InputFileMetadata,
    InputVideoChunk,
    VideoExistenceResponse,
    uploadResponse,
)

CLOSE_TIMEOUT_S = 5.0
HANG_S = 3600.0


# --- Horahora -----------------------------------------------------------------------


@dataclass
class HorahoraUpload:
    meta: InputFileMetadata | None
    video: bytearray = field(default_factory=bytearray)  # empty unless keep_bytes
    rawmeta: bytearray = field(default_factory=bytearray)
    video_size: int = 0
    video_sha256: Any = field(default_factory=hashlib.sha256)
    chunks: list[tuple[str, int]] = field(default_factory=list)  # (payload kind, bytes) in order
    video_id: int = 0


class FakeHorahora(VideoServiceBase):
    """Answers like Horahora's Video Service; holds what it was sent."""

    def __init__(self) -> None:
        self.port = 0
        self.uploads: list[HorahoraUpload] = []  # the accepted ones
        self.checks: list[ForeignVideoCheck] = []
        self.fail_next_uploads = 0
        self.fail_ratio = 0.0  # refuse this share of uploads at random (the soak's fault)
        self.duplicates_refused = 0  # a second upload of one video: must stay 0
        self.hang = False
        self.keep_bytes = True  # False: only size and hash of the video (for big files)
        self._ids = itertools.count(1000)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def has(self, site: str, foreign_id: str) -> bool:
        return any(
            u.meta is not None and (u.meta.originalSite, u.meta.originalID) == (site, foreign_id)
            for u in self.uploads
        )

    async def foreignVideoExists(self, stream: Stream[ForeignVideoCheck, VideoExistenceResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        self.checks.append(request)
        if self.hang:
            await asyncio.sleep(HANG_S)  # cancelled when the server closes
        await stream.send_message(
            VideoExistenceResponse(Exists=self.has(request.ForeignWebsite, request.ForeignVideoID))
        )

    async def uploadVideo(self, stream: Stream[InputVideoChunk, uploadResponse]) -> None:
        upload = HorahoraUpload(meta=None)
        async for chunk in stream:
            kind = chunk.WhichOneof("Payload")
            if kind == "meta":
                if upload.meta is not None:
                    raise GRPCError(Status.UNKNOWN, "duplicate metadata in stream")  # as Horahora
                upload.meta = chunk.meta
                upload.chunks.append((kind, len(chunk.meta.SerializeToString())))
            elif kind == "content":
                data = chunk.content.Data
                upload.video_size += len(data)
                upload.video_sha256.update(data)
                if self.keep_bytes:
                    upload.video += data
                upload.chunks.append((kind, len(data)))
            elif kind == "rawmeta":
                upload.rawmeta += chunk.rawmeta.Data
                upload.chunks.append((kind, len(chunk.rawmeta.Data)))
        if self.hang:
            await asyncio.sleep(HANG_S)
        if self.fail_next_uploads > 0 or random.random() < self.fail_ratio:
            self.fail_next_uploads = max(0, self.fail_next_uploads - 1)
            raise GRPCError(Status.UNAVAILABLE, "fake: storage backend unavailable")
        if upload.meta is None:
            raise GRPCError(Status.UNKNOWN, "no metadata in stream")
        if self.has(upload.meta.originalSite, upload.meta.originalID):
            self.duplicates_refused += 1
            # Horahora's SaveForeignVideo fails on the unique key; a plain Go error is UNKNOWN.
            raise GRPCError(
                Status.UNKNOWN,
                "failed to save video to postgres. Err: pq: duplicate key value violates unique constraint",
            )
        upload.video_id = next(self._ids)
        self.uploads.append(upload)
        await stream.send_message(uploadResponse(videoID=upload.video_id))


@asynccontextmanager
async def running_fake_horahora() -> AsyncIterator[FakeHorahora]:
    """A FakeHorahora listening on 127.0.0.1 (a free port); Trio code inside trio-asyncio."""
    fake = FakeHorahora()
    server = await trio_asyncio.aio_as_trio(_start_grpc)(fake)
    try:
        yield fake
    finally:
        with trio.CancelScope(shield=True):
            await trio_asyncio.aio_as_trio(_close_grpc)(server)


async def _start_grpc(fake: FakeHorahora) -> Server:
    server = Server([fake])
    sock = socket.create_server(("127.0.0.1", 0))
    await server.start(sock=sock)
    fake.port = sock.getsockname()[1]
    return server


async def _close_grpc(server: Server) -> None:
    server.close()  # cancels running handlers, hanging ones too
    # Idle client connections can keep wait_closed() waiting (grpclib #107).
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT_S)


# --- HTTP ---------------------------------------------------------------------------


@dataclass
class HttpUpload:
    metadata: dict[str, Any]
    files: dict[str, bytes]  # part name -> bytes (video, info, thumbnail)
    filenames: dict[str, str]
    content_types: dict[str, str]
    headers: dict[str, str]  # the request's headers, lower-case names
    video_id: str
    # The `subtitle` parts (there may be several): file name ("ja.vtt") -> bytes, and Content-Type.
    subtitles: dict[str, bytes] = field(default_factory=dict)
    subtitle_types: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeHttp:
    port: int = 0
    prefix: str = "/api"  # the base URL has a path, as behind a reverse proxy
    uploads: list[HttpUpload] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, raw path)
    fail_next_uploads: int = 0
    hang: bool = False
    discard: bool = False  # True: read the body in pieces and keep nothing
    discarded_bytes: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def has(self, website: str, foreign_id: str) -> bool:
        return any(
            (u.metadata["website"], u.metadata["foreign_id"]) == (website, foreign_id) for u in self.uploads
        )


def _handler(fake: FakeHttp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path))
            segments = self.path.removeprefix(fake.prefix).split("/")
            if len(segments) != 4 or segments[:2] != ["", "videos"]:
                return self._reply(400, {"error": "bad path"})
            if fake.hang:
                fake.released.wait(HANG_S)
                return  # closes the connection unanswered: the fake is shutting down
            website, foreign_id = (unquote(s) for s in segments[2:])
            with fake.lock:
                found = fake.has(website, foreign_id)
            self._reply(200 if found else 404, {"exists": found})

        def do_POST(self) -> None:
            fake.requests.append(("POST", self.path))
            if self.path != f"{fake.prefix}/videos":
                return self._reply(404, {"error": "no such endpoint"})
            length = int(self.headers["Content-Length"])
            if fake.discard:
                while length:
                    piece = self.rfile.read(min(length, 64 * 1024))
                    length -= len(piece)
                    fake.discarded_bytes += len(piece)
                return self._reply(201, {"id": "discarded"})
            body = self.rfile.read(length)
            if fake.hang:
                fake.released.wait(HANG_S)
                return
            with fake.lock:
                if fake.fail_next_uploads > 0:
                    fake.fail_next_uploads -= 1
                    return self._reply(503, {"error": "fake: storage backend unavailable"})
                try:
                    upload = _parse_upload(self.headers["Content-Type"], body, dict(self.headers.items()))
                except Exception as error:  # a malformed body: the client's bug, shown in its error
                    return self._reply(400, {"error": f"malformed multipart body: {error!r}"})
                if fake.has(upload.metadata["website"], upload.metadata["foreign_id"]):
                    return self._reply(409, {"error": "already have this video"})
                upload.video_id = f"v{len(fake.uploads) + 1}"
                fake.uploads.append(upload)
            self._reply(201, {"id": upload.video_id})

    return Handler


def _parse_upload(content_type: str, body: bytes, headers: dict[str, str]) -> HttpUpload:
    """A strict multipart/form-data reader: any deviation from the format fails the test."""
    kind, _, boundary_param = content_type.partition("; boundary=")
    assert kind == "multipart/form-data", content_type
    delimiter = b"--" + boundary_param.encode()
    pieces = body.split(delimiter)
    assert pieces[0] == b"" and pieces[-1] == b"--\r\n", "bad framing"
    upload = HttpUpload({}, {}, {}, {}, {k.lower(): v for k, v in headers.items()}, "")
    for piece in pieces[1:-1]:
        assert piece.startswith(b"\r\n") and piece.endswith(b"\r\n"), "bad part framing"
        head, _, data = piece[2:-2].partition(b"\r\n\r\n")
        part_headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        disposition = dict(
            item.strip().split("=", 1) for item in part_headers["Content-Disposition"].split(";")[1:]
        )
        name = disposition["name"].strip('"')
        if name == "metadata":
            upload.metadata = json.loads(data)
        elif name == "subtitle":
            filename = disposition["filename"].strip('"')
            assert filename not in upload.subtitles, f"two subtitles named {filename}"
            upload.subtitles[filename] = data
            upload.subtitle_types[filename] = part_headers["Content-Type"]
            continue
        else:
            upload.files[name] = data
            upload.filenames[name] = disposition["filename"].strip('"')
        upload.content_types[name] = part_headers["Content-Type"]
    return upload


@asynccontextmanager
async def running_fake_http(port: int = 0) -> AsyncIterator[FakeHttp]:
    """A FakeHttp on 127.0.0.1 (`port`, else a free one), served by a background thread."""
    fake = FakeHttp()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(fake))
    server.daemon_threads = True  # a hanging handler must not hold up the close
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.released.set()
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(server.shutdown)
            server.server_close()
            await trio.to_thread.run_sync(thread.join)
