"""The API's gatekeeping: bearer tokens, TLS, and the request size limit.

Installed on the grpclib server through its RecvRequest event, which runs before any
handler: a request without a valid token never reaches a servicer, and a message
larger than the limit is refused before its bytes are read.
"""

from __future__ import annotations

import hmac
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from grpclib import GRPCError, Status
from grpclib.events import RecvRequest, listen
from grpclib.server import Server

from scheduler.settings import GrpcSettings

HEALTH_PREFIX = "/grpc.health.v1.Health/"  # probes need no token
Handler = Callable[[Any], Coroutine[Any, Any, None]]


def tls_context(grpc: GrpcSettings) -> ssl.SSLContext | None:
    if grpc.tls_cert is None or grpc.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(grpc.tls_cert, grpc.tls_key)
    context.set_alpn_protocols(["h2"])
    if grpc.tls_client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(grpc.tls_client_ca)
    return context


def token_valid(authorization: str | None, tokens: tuple[str, ...]) -> bool:
    """Compares against every token in constant time, so timing tells nothing."""
    scheme, _, presented = (authorization or "").partition(" ")
    valid = False
    for token in tokens:
        valid |= hmac.compare_digest(presented.encode(), token.encode())
    return valid and scheme.lower() == "bearer"


def install(server: Server, grpc: GrpcSettings) -> None:
    async def on_request(event: RecvRequest) -> None:
        needs_token = bool(grpc.tokens) and not event.method_name.startswith(HEALTH_PREFIX)
        if needs_token and not token_valid(_header(event.metadata, "authorization"), grpc.tokens):
            raise GRPCError(Status.UNAUTHENTICATED, "authorization: a valid bearer token is required")
        event.method_func = _size_limited(event.method_func, grpc.max_message_bytes)  # type: ignore[assignment]

    listen(server, RecvRequest, on_request)


def _header(metadata: Any, name: str) -> str | None:
    value = metadata.get(name)
    return value if isinstance(value, str) else None


def _size_limited(handler: Handler, limit: int) -> Handler:
    """grpclib reads a message's declared length in one recv_data call; refusing a
    length over the limit there means the body is never buffered."""

    async def limited(stream: Any) -> None:
        connection_stream = stream._stream  # grpclib.protocol.Stream (pinned by a test)
        recv_data = connection_stream.recv_data

        async def checked(size: int) -> bytes:
            if size > limit:
                raise GRPCError(
                    Status.RESOURCE_EXHAUSTED,
                    f"request: message of {size} bytes exceeds the {limit}-byte limit",
                )
            data: bytes = await recv_data(size)
            return data

        connection_stream.recv_data = checked
        await handler(stream)

    return limited
