"""Exception mapping at the API's edge: domain errors and outages to gRPC statuses.

A client sees INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED or UNAVAILABLE with a
one-line message; anything unexpected is logged here and answered INTERNAL, never
UNKNOWN with a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from google.protobuf.message import DecodeError
from grpclib import GRPCError, Status
from grpclib.server import Stream

from scheduler.errors import (
    DatabaseUnavailable,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)

log = logging.getLogger(__name__)

Request = TypeVar("Request")
Response = TypeVar("Response")

_STATUS_OF = {
    InvalidArgument: Status.INVALID_ARGUMENT,
    NotFound: Status.NOT_FOUND,
    PermissionDenied: Status.PERMISSION_DENIED,
    ResourceExhausted: Status.RESOURCE_EXHAUSTED,
}


async def unary(
    stream: Stream[Request, Response],
    handle: Callable[[Request], Awaitable[Response]],
) -> None:
    """Receives the request, runs `handle`, sends its response, mapping errors."""
    with status_mapping(stream):
        response = await handle(await receive(stream))
    await stream.send_message(response)


async def receive(stream: Stream[Request, Any]) -> Request:
    """The request message; a body that is not one is the client's error, not ours."""
    try:
        request = await stream.recv_message()
    except DecodeError:
        raise InvalidArgument("request", "not a valid message of this method's type") from None
    if request is None:
        raise InvalidArgument("request", "the stream ended without a message")
    return request


async def receive_or_end(stream: Stream[Request, Any]) -> Request | None:
    """The next message of a client stream, or None at its end."""
    try:
        return await stream.recv_message()
    except DecodeError:
        raise InvalidArgument("request", "not a valid message of this method's type") from None


@contextmanager
def status_mapping(stream: Stream[Any, Any]) -> Iterator[None]:
    """Domain errors and outages raised inside become the gRPC statuses a client sees."""
    try:
        yield
    except (InvalidArgument, NotFound, PermissionDenied, ResourceExhausted) as error:
        raise GRPCError(_STATUS_OF[type(error)], str(error)) from None
    except DatabaseUnavailable as error:
        log.warning("%s: database unavailable: %r", _method(stream), error)
        raise GRPCError(Status.UNAVAILABLE, "database unavailable, try again later") from None
    except GRPCError:
        raise
    except Exception:
        log.exception("%s failed", _method(stream))
        raise GRPCError(Status.INTERNAL, "internal error") from None


def _method(stream: Stream[Any, Any]) -> str:
    return str(getattr(stream, "method_name", "rpc"))
