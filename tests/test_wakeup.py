"""Claimers' wake-ups in Trio's virtual time (MockClock): no test here sleeps for real."""

from __future__ import annotations

import trio
import trio.testing

from scheduler.pipeline.wakeup import DEBOUNCE_S, Wakeup


async def test_without_a_notification_a_claimer_waits_the_poll_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    wakeup = Wakeup()
    start = trio.current_time()

    await wakeup.wait(wakeup.generation, 5.0)

    assert trio.current_time() - start == 5.0 + DEBOUNCE_S


async def test_a_notification_wakes_a_waiting_claimer_at_once(autojump_clock: trio.testing.MockClock) -> None:
    wakeup = Wakeup()
    woken_after: list[float] = []

    async def claimer() -> None:
        start = trio.current_time()
        await wakeup.wait(wakeup.generation, 60.0)
        woken_after.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(claimer)
        await trio.sleep(1.0)
        wakeup.notify()

    assert woken_after == [1.0 + DEBOUNCE_S]


async def test_a_notification_during_a_claim_is_not_lost(autojump_clock: trio.testing.MockClock) -> None:
    wakeup = Wakeup()
    seen = wakeup.generation  # the claimer looks for work...
    wakeup.notify()  # ...while new work arrives
    start = trio.current_time()

    await wakeup.wait(seen, 60.0)

    assert trio.current_time() - start == DEBOUNCE_S  # no poll interval: it looks again at once


async def test_every_waiting_claimer_wakes(autojump_clock: trio.testing.MockClock) -> None:
    wakeup = Wakeup()
    woken = 0

    async def claimer() -> None:
        nonlocal woken
        await wakeup.wait(wakeup.generation, 60.0)
        woken += 1

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(claimer)
        await trio.sleep(0.5)
        wakeup.notify()
        await trio.sleep(1.0)
        assert woken == 3
