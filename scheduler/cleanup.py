"""Bookkeeping writes that must happen even while the task doing them is cancelled (a
shutdown, a timeout): giving a lease back, recording that a site throttles us, saying an
instance stopped."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

log = logging.getLogger(__name__)

# Writes that must happen even while the instance stops get this long.
CLEANUP_S = 5.0


async def shielded(function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """`await function(*args)` shielded from cancellation and bounded by CLEANUP_S; its
    result, or None when it failed or took too long. If it cannot happen (the database is
    away), an expiry is the backstop (a lease's: the work comes back to a claimer later; an
    instance row's: it reads dead), so the failure is logged, not raised."""
    with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_S):
        try:
            return await function(*args)
        except Exception as error:
            log.warning("a bookkeeping write failed (%r); its lease or row will expire instead", error)
            return None
    log.warning("a bookkeeping write did not finish within %ss", CLEANUP_S)
    return None
