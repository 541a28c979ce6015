"""Cleanup that must happen even while the task doing it is cancelled (a shutdown, a
timeout), but not forever: giving a lease or a lock back, recording that a site throttles
us, saying an instance stopped, closing a client. One helper for all of it, and one bound.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import trio

log = logging.getLogger(__name__)

# Cleanup that must happen while the instance stops gets this long.
CLEANUP_S = 5.0

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Failed:
    """A bookkeeping write that did not happen, and why (a result of `shielded`, told
    apart from any result the write itself may return, None included)."""

    reason: str


def cleanup_scope() -> trio.CancelScope:
    """A scope shielded from cancellation and bounded by CLEANUP_S: `with cleanup_scope():`
    around cleanup that must run on the way out of cancelled work."""
    return trio.move_on_after(CLEANUP_S, shield=True)


async def shielded(function: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T | Failed:
    """`await function(*args, **kwargs)` in a cleanup_scope: its result, or Failed when it raised or
    took too long. If it cannot happen (the database is away), an expiry is the backstop (a
    lease's: the work comes back to a claimer later; an instance row's: it reads dead), so
    the failure is logged and returned, not raised."""
    with cleanup_scope():
        try:
            return await function(*args, **kwargs)
        except Exception as error:
            log.warning("a bookkeeping write failed (%r); its lease or row will expire instead", error)
            return Failed(repr(error))
    log.warning("a bookkeeping write did not finish within %ss", CLEANUP_S)
    return Failed(f"no answer within {CLEANUP_S:g} s")
