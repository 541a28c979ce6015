"""Domain errors, raised below the API and mapped to gRPC status codes at its edge."""

from __future__ import annotations

import socket
import ssl


class RequestError(Exception):
    """A request the service refuses; str() is the message a client sees."""


class InvalidArgument(RequestError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(RequestError):
    pass


class PermissionDenied(RequestError):
    pass


class ResourceExhausted(RequestError):
    pass


class ServerUnavailable(Exception):
    """A server the service needs (PostgreSQL, Redis, the Video Service) did not answer,
    or not yet: worth another try. str() says why in a few words ("connection refused")."""


class DatabaseUnavailable(ServerUnavailable):
    """PostgreSQL cannot be reached now, is going away or is too busy (the driver's errors,
    mapped in scheduler/db/connector.py): the API answers UNAVAILABLE, the workers back off."""


class ServerRefused(Exception):
    """A server answered but refuses us in a way only a setting mends (a wrong password,
    no such database). str() says why."""


def network_problem(error: BaseException, timeout_s: float | None = None) -> str | None:
    """What went wrong on the way to a server, in the words an operator acts on, found
    anywhere in the chain of causes (clients wrap the socket's error in their own); None
    when the chain holds no such cause."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return "no answer" + (f" within {timeout_s:g} s" if timeout_s else "")
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(seen, OSError) and seen.strerror and not isinstance(seen, ssl.SSLError):
            return seen.strerror[0].lower() + seen.strerror[1:]
        if isinstance(seen, BaseExceptionGroup):  # trio: every address it tried, one error each
            seen = seen.exceptions[0]
        else:
            seen = seen.__cause__ or seen.__context__
    return None
