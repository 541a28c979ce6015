"""What every worker of one instance shares: its settings, the store, the site gate, the
wake-ups, the metrics and the cookies; and the small helpers they all use."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import trio

from scheduler.db.trio_store import TrioStore
from scheduler.metrics import Metrics
from scheduler.pipeline.failures import retry_delay
from scheduler.pipeline.site_gate import SiteGate
from scheduler.pipeline.wakeup import Wakeup
from scheduler.pipeline.ytdlp.pool import WorkerPool
from scheduler.settings import Settings
from scheduler.sites import breaker
from scheduler.sites.cookies import CookieJars
from scheduler.work import ClaimedCategory, ClaimedVideo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shared:
    settings: Settings
    db: TrioStore
    sites: SiteGate
    wakeup: Wakeup
    metrics: Metrics
    cookies: CookieJars
    ytdlp: WorkerPool  # yt-dlp's listings, metadata fetches and downloads, in worker processes

    @property
    def owner(self) -> str:
        """This instance's id (scheduler/serve/instances.py): the owner of its leases."""
        return self.db.owner

    def holder(self, work: ClaimedVideo | ClaimedCategory) -> str:
        """Who holds a site's place for this work (scheduler/sites/limiter.py)."""
        kind = "video" if isinstance(work, ClaimedVideo) else "category"
        return f"{self.owner}:{kind}:{work.id}"

    def explained(self, website: str, error: str) -> str:
        """yt-dlp's error, led by what to do when the site wants a logged-in session."""
        login = breaker.login_reason(error)
        if login is None:
            return error
        if (pattern := self.cookies.pattern_of(website)) is not None:
            fix = f"the cookies for {pattern} in SCHEDULER_SITES__COOKIES were not enough: export them again"
        else:
            fix = f"set SCHEDULER_SITES__COOKIES for {website}"
        return f"{login} ({fix}): {error}"


def request_lease_s(settings: Settings) -> float:
    """A request to a site (a download; a listing, from its last page stored) may take up
    to the download timeout: a listing's lease, and a probe, outlast it by a lease."""
    return settings.downloader.timeout_s + settings.schedule.lease_s


def video_context(video: ClaimedVideo) -> dict[str, object]:
    """A log line's context: which video, on which site."""
    return {"video_id": video.id, "website": video.website}


def category_context(category: ClaimedCategory) -> dict[str, object]:
    return {"category_id": category.id, "website": category.website}


class Backoff:
    """Pauses after consecutive failures (the database away): 0.5 s, 1 s, 2 s, ... 30 s (pure)."""

    def __init__(self, first_s: float = 0.5, most_s: float = 30.0) -> None:
        self.first_s, self.most_s, self.failures = first_s, most_s, 0

    def failed(self) -> float:
        self.failures += 1
        return retry_delay(self.failures, self.first_s, self.most_s)

    def succeeded(self) -> None:
        self.failures = 0


async def pause_after(backoff: Backoff, doing: str, error: Exception) -> None:
    """A claim failed (the database is away): says so, and sleeps the backoff's next pause."""
    pause = backoff.failed()
    log.warning("%s failed (%s); pausing %.1fs", doing, error, pause)
    await trio.sleep(pause)
