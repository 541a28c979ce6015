"""Per-site limits (SCHEDULER_SITES__LIMITS): which limit a website falls under, the
Redis semaphore and start gate every instance shares, and the pipeline obeying them as
the content sites' own access logs show."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trio

from scheduler.settings import Settings, SettingsError, from_overrides
from scheduler.sites.limiter import Kind, Refusal, SiteLimiter
from scheduler.sites.limits import SiteLimit, SiteLimits
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import ALLOWED_SITES, Api, Database
from tests.content_site import Request, content_site
from tests.test_pipeline import pipeline_settings, serving, wait_for

LIMITS = SiteLimits(
    {
        "*": SiteLimit(downloads=2, listings=1, interval_s=1.0),
        "*.nicovideo.jp": SiteLimit(downloads=1, listings=1, interval_s=3.0),
        "*.sp.nicovideo.jp": SiteLimit(downloads=5, listings=1, interval_s=0.0),
        "www.youtube.com": SiteLimit(downloads=3, listings=2, interval_s=2.0),
    }
)


@pytest.mark.parametrize(
    ("website", "site"),
    [
        ("www.nicovideo.jp", "*.nicovideo.jp"),
        ("nicovideo.jp", "*.nicovideo.jp"),  # the domain itself too
        ("a.sp.nicovideo.jp", "*.sp.nicovideo.jp"),  # the longest domain wins
        ("www.youtube.com", "www.youtube.com"),
        ("m.youtube.com", "m.youtube.com"),  # an exact host is only itself...
        ("example.org", "example.org"),  # ...and every other site is its own, under "*"
        ("WWW.NicoVideo.jp", "*.nicovideo.jp"),
    ],
)
def test_a_website_falls_under_its_most_specific_pattern(website: str, site: str) -> None:
    assert LIMITS.site_of(website) == site


def test_a_site_without_a_pattern_takes_the_default_limit() -> None:
    assert LIMITS.limit_of("example.org") == SiteLimit(downloads=2, listings=1, interval_s=1.0)
    assert LIMITS.limit_of("www.youtube.com").listings == 2


def test_the_defaults_limit_the_seed_sites_and_every_other() -> None:
    limits = from_overrides({}).sites.limits

    assert limits.limit_of(limits.site_of("www.nicovideo.jp")) == SiteLimit(2, 1, 3.0)
    assert limits.site_of("www.youtube.com") == "*.youtube.com"
    assert limits.site_of("www.bilibili.com") == "*.bilibili.com"
    assert limits.limit_of("example.org") == SiteLimit(2, 1, 1.0)


def test_a_partial_entry_takes_the_rest_from_the_default() -> None:
    limits = from_overrides({"sites": {"limits": {"Example.ORG": {"downloads": 7}}}}).sites.limits

    assert limits.limit_of("example.org") == SiteLimit(downloads=7, listings=1, interval_s=1.0)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"x.org": {"downloads": 0}}, '"x.org".downloads: must be an integer from 1 to 1000, got 0'),
        ({"x.org": {"interval_s": "1s"}}, "\"x.org\".interval_s: must be a number from 0 to 86400, got '1s'"),
        ({"x.org": {"rate": 1}}, '"x.org".rate: unknown; use downloads, listings, interval_s'),
        ({"bad host": {"downloads": 1}}, '"bad host" must be a host name, an IP address, "*.domain" or "*"'),
        ({"x.org": 3}, '"x.org" must be a table such as {downloads = 2, listings = 1, interval_s = 1.0}'),
    ],
    ids=["zero", "not-a-number", "unknown-key", "bad-pattern", "not-a-table"],
)
def test_a_bad_limit_names_the_setting_and_the_site(limits: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        from_overrides({"sites": {"limits": limits}})

    assert str(raised.value).startswith(f"SCHEDULER_SITES__LIMITS: {message}")


@pytest.fixture
async def limiters(redis_url: str) -> AsyncIterator[list[SiteLimiter]]:
    """Two instances' limiters on one Redis."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(SiteLimiter.open([redis_url], LIMITS, 0.5)) for _ in "ab"]


def a_website() -> str:
    """A site of this test's own (the Redis server is shared)."""
    return f"{uuid.uuid4().hex[:12]}.example"


async def take(limiter: SiteLimiter, kind: Kind, website: str, holder: str) -> Refusal | None:
    [refusal] = await limiter.acquire(kind, [(website, holder)])
    return refusal


async def test_one_call_takes_the_places_of_a_whole_claim(limiters: list[SiteLimiter]) -> None:
    limiter, busy, other = limiters[0], a_website(), a_website()

    refusals = await limiter.acquire(
        "downloads", [(busy, "a:video:1"), (other, "a:video:2"), (busy, "a:video:3"), (busy, "a:video:4")]
    )

    assert [r is None for r in refusals] == [True, True, True, False]  # "*": 2 at once per site
    assert refusals[3] is not None and refusals[3].site == busy


async def test_places_are_shared_by_every_instance(limiters: list[SiteLimiter]) -> None:
    first, second = limiters
    website = a_website()

    assert await take(first, "downloads", website, "a:video:1") is None
    assert await take(second, "downloads", website, "b:video:2") is None
    refused = await take(second, "downloads", website, "b:video:3")
    assert await take(first, "listings", website, "a:category:1") is None  # a limit of its own

    assert refused is not None
    assert (refused.site, refused.reason) == (website, "2 downloads at once")
    await first.release("downloads", website, "a:video:1")
    assert await take(second, "downloads", website, "b:video:3") is None


async def test_a_place_held_again_by_its_holder_is_not_counted_twice(limiters: list[SiteLimiter]) -> None:
    limiter, website = limiters[0], a_website()

    for _ in range(3):
        assert await take(limiter, "downloads", website, "a:video:1") is None
    assert await take(limiter, "downloads", website, "a:video:2") is None


async def test_a_crashed_holders_place_lapses_and_a_live_ones_is_renewed(
    limiters: list[SiteLimiter], nursery: trio.Nursery
) -> None:
    live, crashed = limiters
    website = a_website()
    await nursery.start(live.keep_alive)
    assert await take(live, "downloads", website, "a:video:1") is None
    assert await take(crashed, "downloads", website, "b:video:2") is None

    await trio.sleep(1.0)  # two holder TTLs of Redis' own clock: no virtual time reaches it

    assert await take(live, "downloads", website, "a:video:3") is None  # b's place lapsed
    assert await take(crashed, "downloads", website, "b:video:4") is not None  # a's did not


async def test_starts_are_spaced_by_the_interval_across_instances(limiters: list[SiteLimiter]) -> None:
    first, second = limiters
    website = "m.youtube.com"  # under "*": a second apart
    started = []

    async def start(limiter: SiteLimiter) -> None:
        await limiter.wait_turn(website)
        started.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for limiter in (first, second, first):
            nursery.start_soon(start, limiter)

    gaps = [b - a for a, b in itertools.pairwise(sorted(started))]
    assert len(gaps) == 2
    assert min(gaps) >= 0.95


def spans(requests: list[Request]) -> dict[str, tuple[float, float]]:
    """Each video's requests, from the first one's start to the last one's end."""
    found: dict[str, tuple[float, float]] = {}
    for r in requests:
        if r.path.startswith("/videos/"):
            assert r.end is not None
            start, end = found.get(r.path, (r.start, r.end))
            found[r.path] = (min(start, r.start), max(end, r.end))
    return found


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def limited(
    database_url: str, redis_url: str, data_dir: Path, limits: dict[str, Any], workers: int
) -> Settings:
    return pipeline_settings(
        database_url,
        redis_url,
        data_dir,
        sites={"allowed": [*ALLOWED_SITES, "127.0.0.2"], "limits": limits},
        downloader={"workers": workers},
    )


async def test_several_instances_together_keep_to_a_sites_limits(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    limits = {"*": {"downloads": 2, "listings": 1, "interval_s": 1.0}}
    names = [f"v{n}" for n in range(6)]
    with content_site() as site:
        for name in names:
            site.add_video(name, size=1_200_000)
        site.set_rate(400_000)  # 3 s a video, starts 1 s apart: three would overlap but for the limit
        feed = site.feed("feed", names)
        async with AsyncExitStack() as stack:
            apis: list[Api] = []
            for n in range(2):
                settings = limited(database_url, redis_url, tmp_path / f"i{n}", limits, workers=3)
                apis.append((await stack.enter_async_context(serving(settings)))[1])
            await apis[0]("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT count(*) FROM previous_downloads", 6)
        site.wait_idle()
        requests = list(site.requests)

    videos = spans(requests)
    assert sorted(videos) == [f"/videos/{name}.mp4" for name in names]
    assert most_at_once(list(videos.values())) <= 2
    feeds = [r.start for r in requests if r.path.startswith("/feeds/")]
    starts = sorted([start for start, _ in videos.values()] + feeds)
    # The gate spaces the starts by 1 s; yt-dlp's own start-up after it varies by tens of
    # milliseconds on a loaded machine, so the requests' starts are compared with a margin.
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.85
    owners = await db.fetch("SELECT DISTINCT lease_owner FROM videos")
    assert [dict(o) for o in owners] == [{"lease_owner": None}]
    assert await db.value("SELECT sum(attempts) FROM videos") == 0  # a wait is not a failure
    events = await db.fetch("SELECT message FROM archival_events WHERE message LIKE '%at once%'")
    assert events == []  # waiting for a place is no news


async def test_a_full_site_does_not_hold_a_downloader_another_site_could_use(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    limits = {"*": {"downloads": 1, "listings": 1, "interval_s": 0.0}}
    settings = limited(database_url, redis_url, tmp_path, limits, workers=2)
    with content_site() as slow, content_site("127.0.0.2") as fast:
        for name in ("s1", "s2"):
            slow.add_video(name, size=300_000)
        slow.set_rate(200_000)  # 1.5 s each, one at a time
        for name in ("f1", "f2", "f3"):
            fast.add_video(name, size=20_000)
        async with serving(settings) as (_, api):
            for feed in (slow.feed("s", ["s1", "s2"]), fast.feed("f", ["f1", "f2", "f3"])):
                await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT count(*) FROM previous_downloads", 5)
        slow.wait_idle()
        fast.wait_idle()
        slow_spans, fast_spans = spans(slow.requests), spans(fast.requests)

    assert most_at_once(list(slow_spans.values())) == 1
    second_slow_start = max(start for start, _ in slow_spans.values())
    assert all(end <= second_slow_start for _, end in fast_spans.values())  # not behind the slow site
    assert await db.value("SELECT sum(attempts) FROM videos") == 0
