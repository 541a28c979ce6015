"""Domain errors, raised below the API and mapped to gRPC status codes at its edge."""

from __future__ import annotations


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
