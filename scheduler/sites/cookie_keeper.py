"""Keeps the sites' cookies current and says when they run out.

Every CHECK_S (and at start) it reads again the cookies files that changed (an operator
exported new ones: no restart needed) and, for each site whose cookies have expired or
expire within 7 days, logs a warning and records a site event (once a day across every
instance). The metric scheduler_site_cookies_expiry_seconds is worked out when scraped.
"""

from __future__ import annotations

import functools
import logging
import time

import trio

from scheduler.db.trio_store import TrioStore
from scheduler.errors import DatabaseUnavailable
from scheduler.metrics import Metrics
from scheduler.sites.cookies import CookieJars

log = logging.getLogger(__name__)

CHECK_S = 3600.0


async def keep_cookies(
    jars: CookieJars,
    db: TrioStore,
    metrics: Metrics,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    for pattern in jars.sites:
        gauge = metrics.site_cookies_expiry.labels(pattern)
        gauge.set_function(functools.partial(jars.seconds_to_expiry, pattern))
    await _check(jars, db)
    task_status.started()
    while True:
        await trio.sleep(CHECK_S)
        for problem in await trio.to_thread.run_sync(jars.reload):
            log.warning("%s", problem)
        await _check(jars, db)


async def _check(jars: CookieJars, db: TrioStore) -> None:
    now = time.time()
    for site in jars.sites.values():
        if (problem := site.expiry_problem(now)) is None:
            continue
        log.warning("%s", problem)
        try:
            await db.add_site_event_daily(problem)
        except DatabaseUnavailable as error:  # the database is away: the log and the metric still say it
            log.warning("could not record the event %r: %s", problem, error)
