"""How `serve` and `migrate` start: the servers they wait for, and the one line they end
with when they cannot start.

Exit codes (docs/operations.md#exit-codes), chosen so that a supervisor can tell what a
restart may mend (systemd: `RestartPreventExitStatus=2 4`):

    1  a server (PostgreSQL, Redis, the Video Service) did not answer within
       SCHEDULER_STARTUP__WAIT_S, or an unexpected error
    2  a setting is wrong: the server answered no (a wrong password, no such database), a
       TLS file that cannot be loaded, a bad setting
    3  cannot listen: a port in use, an address that is not this host's
    4  a migration failed (its transaction rolled back: the database is as it was)
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import trio

from scheduler.errors import ServerRefused, ServerUnavailable

log = logging.getLogger(__name__)

EXIT_UNAVAILABLE = 1
EXIT_SETTING = 2
EXIT_CANNOT_LISTEN = 3
EXIT_MIGRATION = 4

# Between two attempts: FIRST_RETRY_S, doubling up to MAX_RETRY_S.
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 5.0
# One attempt may take this long (a server that does not answer at all).
ATTEMPT_TIMEOUT_S = 5.0

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


class StartupFailure(Exception):
    """`serve` or `migrate` cannot start. str() is the one line it ends with."""

    def __init__(self, line: str, exit_code: int) -> None:
        super().__init__(line)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Server:
    """A server the service needs, as an operator names it."""

    what: str  # "PostgreSQL at db:5432/scheduler"
    setting: str  # the setting that points at it: "SCHEDULER_DATABASE__URL"


class StopRequested(Exception):
    """A signal asked the service to stop while it waited for its servers."""


class Patience:
    """One deadline for every server waited for at start (SCHEDULER_STARTUP__WAIT_S from
    the first attempt), and the event that ends the waiting early: a stop asked for."""

    def __init__(self, wait_s: float, stop_requested: trio.Event | None = None) -> None:
        self.wait_s = wait_s
        self.stop_requested = trio.Event() if stop_requested is None else stop_requested
        self._deadline = trio.current_time() + wait_s

    def left_s(self) -> float:
        return max(0.0, self._deadline - trio.current_time())

    async def pause(self, seconds: float) -> None:
        """Sleeps; raises StopRequested as soon as a stop is asked for."""
        with trio.move_on_after(seconds):
            await self.stop_requested.wait()
        if self.stop_requested.is_set():
            raise StopRequested


async def wait_for(server: Server, attempt: Callable[[float], Awaitable[T]], patience: Patience) -> T:
    """`attempt(timeout_s)`, again with backoff while it raises ServerUnavailable, until
    it answers or the patience runs out (checked between attempts, so the wait may end up
    to ATTEMPT_TIMEOUT_S past it); logs each failed attempt. ServerRefused is not
    waited out: only a setting mends it. Raises StopRequested when a stop is asked for
    between two attempts."""
    delay = FIRST_RETRY_S
    while True:
        try:
            # Each attempt gets its full time, the last too: a server a slow network away
            # must not be given up on in 0.1 s because the patience is nearly spent.
            return await attempt(ATTEMPT_TIMEOUT_S)
        except ServerRefused as refused:
            raise StartupFailure(f"{server.what}: {refused} ({server.setting})", EXIT_SETTING) from refused
        except ServerUnavailable as unavailable:
            left = patience.left_s()
            if left <= 0:
                within = f" within {patience.wait_s:g} s" if patience.wait_s else ""
                raise StartupFailure(
                    f"{server.what} did not answer{within}: {unavailable} ({server.setting})",
                    EXIT_UNAVAILABLE,
                ) from unavailable
            pause = min(delay, left)
            log.warning(
                "waiting for %s: %s; next try in %.1f s (%.0f s left of SCHEDULER_STARTUP__WAIT_S)",
                server.what,
                unavailable,
                pause,
                left,
            )
            await patience.pause(pause)
            delay = min(delay * 2, MAX_RETRY_S)


def cannot_listen(
    error: OSError, host: str, port: int, host_setting: str, port_setting: str
) -> StartupFailure:
    """The line for a bind that failed."""
    if error.errno == errno.EADDRINUSE:
        return StartupFailure(f"port {port} is in use ({port_setting})", EXIT_CANNOT_LISTEN)
    if error.errno == errno.EACCES:
        return StartupFailure(
            f"port {port} needs privileges this process lacks ({port_setting})", EXIT_CANNOT_LISTEN
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return StartupFailure(f"{host} is not an address of this host ({host_setting})", EXIT_CANNOT_LISTEN)
    if isinstance(error, socket.gaierror):
        return StartupFailure(f"{host}: the host name does not resolve ({host_setting})", EXIT_CANNOT_LISTEN)
    return StartupFailure(
        f"cannot listen on {host}:{port}: {error.strerror or error} ({host_setting}, {port_setting})",
        EXIT_CANNOT_LISTEN,
    )


def find(error: BaseException, kind: type[E]) -> E | None:
    """The error of this kind that `error` is or holds (nurseries wrap errors in groups)."""
    if isinstance(error, kind):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if (found := find(inner, kind)) is not None:
                return found
    return None


def as_failure(error: BaseException) -> StartupFailure:
    """The StartupFailure an error holds, else one for the error nobody foresaw."""
    if found := find(error, StartupFailure):
        return found
    first = first_error(error)
    problem = " ".join(str(first).split())
    if not isinstance(first, OSError):
        problem = f"{type(first).__name__}: {problem}" if problem else type(first).__name__
    return StartupFailure(problem, EXIT_UNAVAILABLE)


def first_error(error: BaseException) -> BaseException:
    """The first error a group holds that is not a cancellation, else the group itself."""
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            if not isinstance(first := first_error(inner), trio.Cancelled):
                return first
    return error
