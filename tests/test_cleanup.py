"""The one bounded shield: cleanup runs though its task is cancelled, gives up after
CLEANUP_S, and a write that failed is told apart from one that returned None."""

from __future__ import annotations

import trio
import trio.testing

from scheduler.cleanup import CLEANUP_S, Failed, cleanup_scope, shielded


async def test_a_result_even_none_is_returned_as_it_is(autojump_clock: trio.testing.MockClock) -> None:
    async def lease_lost() -> None:
        return None

    async def recorded() -> str:
        return "pending"

    assert await shielded(lease_lost) is None
    assert await shielded(recorded) == "pending"


async def test_a_write_that_fails_or_hangs_is_failed_not_none(autojump_clock: trio.testing.MockClock) -> None:
    async def database_away() -> str:
        raise ConnectionRefusedError(111, "Connection refused")

    async def no_answer() -> str:
        await trio.sleep_forever()
        raise AssertionError

    refused = await shielded(database_away)
    began = trio.current_time()
    hung = await shielded(no_answer)

    assert isinstance(refused, Failed) and "Connection refused" in refused.reason
    assert hung == Failed(f"no answer within {CLEANUP_S:g} s")
    assert trio.current_time() - began == CLEANUP_S


async def test_cleanup_runs_on_the_way_out_of_cancelled_work(autojump_clock: trio.testing.MockClock) -> None:
    given_back: list[str] = []

    async def give_back(what: str) -> None:
        await trio.sleep(1)  # a round trip to the database
        given_back.append(what)

    with trio.CancelScope() as work:
        work.cancel()
        try:
            await trio.sleep_forever()
        finally:
            await shielded(give_back, "the lease")
            with cleanup_scope():
                await give_back("the lock")

    assert given_back == ["the lease", "the lock"]
