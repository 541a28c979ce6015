"""The client commands' transport: reach a running service over gRPC (TLS, a token, a
timeout) and map what goes wrong to one line for the user (ClientError).

A one-shot client has no task tree to speak of, so it runs grpclib on plain asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from scheduler.cli.watch_view import WatchView
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerStub

TIMEOUT_S = 10.0
# Where a client on this host reaches a service listening on every interface.
_THIS_HOST = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class ClientError(Exception):
    """One line for the user: the service refused, or could not be reached."""


def local_target(host: str, port: int) -> str:
    """HOST:PORT of a service on this host that listens on host:port."""
    host = _THIS_HOST.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_target(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClientError(f"--target: expected HOST:PORT, got {target!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Connection:
    """How to reach the service: where, with which token, over TLS or not."""

    target: str
    token: str = field(default="", repr=False)
    ca: Path | None = None  # trust this CA (or this certificate): speaks TLS
    cert: Path | None = None  # with key: a client certificate, for mutual TLS
    key: Path | None = None
    timeout_s: float = TIMEOUT_S  # for an answer, reaching the service included

    def channel(self) -> Channel:
        host, port = parse_target(self.target)
        context = None
        if self.ca is not None:
            context = ssl.create_default_context(cafile=self.ca)
            # The service's own certificate (its TLS_CERT) is trusted as it is, without its
            # issuer; the host name is checked all the same.
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            context.set_alpn_protocols(["h2"])
            if self.cert is not None:
                context.load_cert_chain(self.cert, self.key)
        return Channel(host, port, ssl=context)

    @property
    def metadata(self) -> dict[str, str] | None:
        return {"authorization": f"Bearer {self.token}"} if self.token else None


def call(connection: Connection, method: str, request: Message) -> Any:
    """Calls Scheduler.<method> and returns the response message."""

    async def invoke() -> Any:
        channel = connection.channel()
        try:
            stub_method = getattr(SchedulerStub(channel), method)
            return await stub_method(request, timeout=connection.timeout_s, metadata=connection.metadata)
        finally:
            channel.close()

    with _client_errors(connection):
        return asyncio.run(invoke())


def send_all(connection: Connection, method: str, requests: Sequence[Message], timeout_s: float) -> Any:
    """A client-streaming call: every request, then its one response, within timeout_s."""

    async def invoke() -> Any:
        channel = connection.channel()
        try:
            stub_method = getattr(SchedulerStub(channel), method)
            async with stub_method.open(timeout=timeout_s, metadata=connection.metadata) as stream:
                for request in requests:
                    await stream.send_message(request)
                await stream.end()
                return await stream.recv_message()
        finally:
            channel.close()

    with _client_errors(connection):
        return asyncio.run(invoke())


def receive_all(connection: Connection, method: str, request: Message) -> list[Any]:
    """A server-streaming call: every message it answers with."""

    async def invoke() -> list[Any]:
        channel = connection.channel()
        try:
            stub_method = getattr(SchedulerStub(channel), method)
            async with stub_method.open(timeout=connection.timeout_s, metadata=connection.metadata) as stream:
                await stream.send_message(request, end=True)
                return [message async for message in stream]
        finally:
            channel.close()

    with _client_errors(connection):
        return asyncio.run(invoke())


def health(connection: Connection) -> str:
    """The service's overall status from grpc.health.v1 (SERVING, NOT_SERVING, UNKNOWN):
    SERVING only while it is up, not draining, and its database answers."""

    async def check() -> str:
        channel = connection.channel()
        try:
            response = await HealthStub(channel).Check(
                HealthCheckRequest(service=""), timeout=connection.timeout_s, metadata=connection.metadata
            )
            return str(HealthCheckResponse.ServingStatus.Name(response.status))
        finally:
            channel.close()

    with _client_errors(connection):
        return asyncio.run(check())


@contextmanager
def _client_errors(connection: Connection) -> Iterator[None]:
    try:
        yield
    except GRPCError as error:
        raise ClientError(f"{error.status.name}: {error.message}") from None
    except (OSError, TimeoutError) as error:
        why = unreachable(error, connection.timeout_s)
        raise ClientError(f"cannot reach the service at {connection.target} ({why})") from None


def unreachable(error: OSError | TimeoutError, timeout_s: float) -> str:
    """Why the service could not be reached, in a few words."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(error, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(error, ssl.SSLError):
        return f"TLS: {error.reason or error}"
    return error.strerror or str(error) or type(error).__name__


def watch(connection: Connection, write: Callable[[str], None], terminal: bool) -> None:
    """Streams WatchDownloads until interrupted: progress bars on a terminal, plain lines otherwise."""
    view = WatchView()
    drawn = 0

    async def follow() -> None:
        nonlocal drawn
        channel = connection.channel()
        try:
            async with SchedulerStub(channel).WatchDownloads.open(metadata=connection.metadata) as stream:
                # Reaching the service is bounded; the stream then runs until interrupted.
                await asyncio.wait_for(
                    stream.send_message(pb.WatchDownloadsRequest(), end=True), connection.timeout_s
                )
                async for download in stream:
                    line = view.update(download, time.monotonic())
                    if not terminal:
                        if line:
                            write(line + "\n")
                        continue
                    # Redraw the block of bars in place; state changes scroll above it.
                    text = "\x1b[1A\x1b[2K" * drawn + (f"{line}\n" if line else "")
                    bars = view.screen()
                    write(text + "".join(f"{bar}\n" for bar in bars))
                    drawn = len(bars)
        finally:
            channel.close()

    with contextlib.suppress(KeyboardInterrupt), _client_errors(connection):
        asyncio.run(follow())
