"""The pipeline's side of being a good citizen of the sites: before any request to a
site, its work passes the site's gate.

- limits (scheduler/sites/limiter.py, in Redis): a place among the site's downloads or
  listings, and the interval between starts;
- the site's circuit breaker (migrations/0008, in PostgreSQL): while it is open nobody
  sends the site a request; once the cool-down is over, one request is the probe.

Work that may not go now goes back to the queue unheld, and the claimers pass its
website by until it may (`busy_websites`), so a full or tripped site holds no
downloader another site could use.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import trio

from scheduler.cleanup import Failed, cleanup_scope, shielded
from scheduler.db.records import TrippedBreaker
from scheduler.db.trio_store import TrioStore
from scheduler.errors import DatabaseUnavailable
from scheduler.metrics import Metrics
from scheduler.pipeline.wakeup import Wakeup
from scheduler.sites import breaker
from scheduler.sites.limiter import Kind, SiteLimiter
from scheduler.work import ClaimedCategory, ClaimedVideo

log = logging.getLogger(__name__)

# What a request told of its site: it got the content; it got an ordinary error (the site
# answered: a removed video, a 404); or it was throttled. None: no request went out.
Outcome = Literal["served", "answered", "throttled"] | None
# A tripped site's probe is out (this instance's or another's): look again after this long.
PROBE_HELD_RECHECK_S = 5.0
REFRESH_S = 1.0


class SiteGate:
    def __init__(
        self,
        limiter: SiteLimiter,
        db: TrioStore,
        wakeup: Wakeup,
        metrics: Metrics,
        *,
        probe_s: float,
        breaker_min_s: float,
        breaker_max_s: float,
    ) -> None:
        self._limiter = limiter
        self.limits = limiter.limits
        self._db = db
        self._wakeup = wakeup
        self._metrics = metrics
        self._probe_s = probe_s  # a probe that never reports back lapses after this long
        self.breaker_min_s, self.breaker_max_s = breaker_min_s, breaker_max_s
        self._busy: dict[str, float] = {}  # website -> until when (trio time) claims pass it by
        self._behind_breaker: set[str] = set()  # busy websites waiting for a tripped breaker
        self._tripped: dict[str, TrippedBreaker] = {}  # by site, as of the last refresh
        self._probes: set[str] = set()  # holders whose request is a site's probe
        self._served: set[str] = set()  # sites known to have served us
        self._refreshed_at = -math.inf

    def site_of(self, website: str) -> str:
        return self.limits.site_of(website)

    async def refresh(self) -> None:
        """Reads which breakers are tripped, at most every REFRESH_S (a claim calls it): a
        breaker another instance opened is obeyed here within a second; one this instance
        opened, at once."""
        if trio.current_time() < self._refreshed_at + REFRESH_S:
            return
        self._refreshed_at = trio.current_time()
        tripped = await self._db.tripped_breakers()
        for site in self._tripped.keys() - {b.site for b in tripped}:
            self._metrics.site_breaker_open.labels(site).set(0)
        self._tripped = {b.site: b for b in tripped}
        for website in [w for w in self._behind_breaker if self.site_of(w) not in self._tripped]:
            self._behind_breaker.discard(website)  # closed (a probe, an operator): its work may go
            self._busy.pop(website, None)
        for site in self._tripped:
            self._metrics.site_breaker_open.labels(site).set(1)

    async def enter(self, kind: Kind, wanted: list[tuple[str, str]]) -> list[float | None]:
        """For each (website, holder): None when the holder may send the site its request (a
        place is taken; if the site's breaker is tripped, this request is its probe), else
        the seconds to wait, the website being busy here until then. One round trip to the
        limiter for them all."""
        waits: list[float | None] = []
        for (website, holder), refusal in zip(wanted, await self._limiter.acquire(kind, wanted), strict=True):
            if refusal is not None:
                log.debug("%s: %s; other sites' work goes first", refusal.site, refusal.reason)
                waits.append(self._wait(website, refusal.retry_after_s))
            elif (wait := await self._breaker_wait(website, holder)) is not None:
                await self._limiter.release(kind, website, holder)
                self._behind_breaker.add(website)
                waits.append(self._wait(website, wait))
            else:
                waits.append(None)
        return waits

    async def _breaker_wait(self, website: str, holder: str) -> float | None:
        tripped = self._tripped.get(site := self.site_of(website))
        if tripped is None:
            return None
        if tripped.probe_in_s > 0:
            # Open: until the probe may go. Probing: probe_at is when the probe lapses, but
            # it may get through any moment; look again soon.
            return (
                tripped.probe_in_s
                if tripped.state == "open"
                else min(tripped.probe_in_s, PROBE_HELD_RECHECK_S)
            )
        if await self._db.take_probe(site, holder, self._probe_s):
            log.info("site %s: probing with %s (breaker %s: %s)", site, holder, tripped.state, tripped.reason)
            self._probes.add(holder)
            return None
        return PROBE_HELD_RECHECK_S

    def _wait(self, website: str, seconds: float) -> float:
        self._busy[website] = trio.current_time() + seconds
        return seconds

    async def wait_turn(self, website: str) -> None:
        """The site's interval since the last start, on any instance."""
        await self._limiter.wait_turn(website)

    async def throttle_reason(self, website: str, error: str) -> str | None:
        """Why `error` (yt-dlp's) means the site throttles or blocks us, or None."""
        site = self.site_of(website)
        served = site in self._served or await self._db.site_served(site)
        return breaker.throttle_reason(error, served)

    async def throttled_video(self, video: ClaimedVideo, reason: str) -> None:
        """The site throttled the video's request: its breaker opens (or stays open) and
        the video waits for the probe, no attempt counted (one transaction)."""
        site = self.site_of(video.website)
        probe_in_s = await shielded(
            self._db.throttle_video, video, site, reason, self.breaker_min_s, self.breaker_max_s
        )
        self._wait_for_probe(video.website, probe_in_s)

    async def throttled_listing(self, category: ClaimedCategory, reason: str) -> None:
        """As throttled_video, for a category's listing."""
        site = self.site_of(category.website)
        probe_in_s = await shielded(
            self._db.throttle_sync, category, site, reason, self.breaker_min_s, self.breaker_max_s
        )
        self._wait_for_probe(category.website, probe_in_s)

    def _wait_for_probe(self, website: str, probe_in_s: float | Failed) -> None:
        if isinstance(probe_in_s, Failed):  # not recorded: this instance waits the least cool-down alone
            probe_in_s = self.breaker_min_s
        self._behind_breaker.add(website)  # this instance passes the site by till the probe
        self._wait(website, probe_in_s)

    async def leave(self, kind: Kind, website: str, holder: str, outcome: Outcome) -> None:
        """The request is over: the place goes back, a probe closes the breaker (its site
        answered) or gives the probe back (it never asked), and the claimers look again.
        Shielded: this runs on the way out of cancelled work too."""
        with cleanup_scope():
            await self._limiter.release(kind, website, holder)
            site = self.site_of(website)
            try:
                if holder in self._probes:
                    self._probes.discard(holder)
                    await self._end_probe(site, holder, outcome)
                if outcome == "served" and site not in self._served:
                    await self._db.mark_served(site)
                    self._served.add(site)
            except DatabaseUnavailable as error:  # the probe lapses by itself
                log.warning("site %s: could not record the outcome of %s: %s", site, holder, error)
        freed = [w for w in self._busy if self.site_of(w) == site and w not in self._behind_breaker]
        for website in freed:
            del self._busy[website]
        if freed:
            self._wakeup.notify()  # claims passed the site by: they may take its work again

    async def _end_probe(self, site: str, holder: str, outcome: Outcome) -> None:
        if outcome in ("served", "answered"):
            if await self._db.close_breaker(site, holder):
                log.info("site %s: breaker closed: the probe got through", site)
                self._tripped.pop(site, None)
                self._metrics.site_breaker_open.labels(site).set(0)
        elif outcome is None:
            await self._db.give_probe_back(site, holder)
        # "throttled": the failure reopened it already.

    def busy_websites(self) -> list[str]:
        now = trio.current_time()
        for website in [w for w, until in self._busy.items() if until <= now]:
            del self._busy[website]
            self._behind_breaker.discard(website)
        return list(self._busy)

    def poll_wait(self, poll_interval_s: float) -> float:
        """The poll interval, or less when a busy site may have room sooner."""
        soonest = min(self._busy.values(), default=math.inf) - trio.current_time()
        return max(0.0, min(poll_interval_s, soonest))

    async def keep_alive(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._limiter.keep_alive(task_status=task_status)
