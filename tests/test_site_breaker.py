"""A circuit breaker per site: throttling opens it, nothing reaches the site while it is
open (the content site's access log shows it), one probe after the cool-down, and the
probe's success closes it; ordinary failures do not open it; an operator can close it."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.settings import Settings
from scheduler.sites.breaker import throttle_reason
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.content_site import ContentSite, Request, content_site
from tests.test_pipeline import pipeline_settings, serving, wait_for


@pytest.mark.parametrize(
    ("error", "served", "reason"),
    [
        ("ERROR: [generic] Unable to download webpage: HTTP Error 429: Too Many Requests", False, "HTTP 429"),
        ("ERROR: unable to download video data: HTTP Error 403: Forbidden", True, "HTTP 403 Forbidden"),
        ("ERROR: unable to download video data: HTTP Error 403: Forbidden", False, None),  # never served us
        ("ERROR: [youtube] x: Sign in to confirm you\u2019re not a bot", False, "asked to sign in"),
        ("ERROR: [niconico] x: Rate limit exceeded", False, "rate limited"),
        ("ERROR: [generic] Unable to download webpage: HTTP Error 404: Not Found", True, None),
        ("ERROR: [youtube] x: Private video", True, None),
    ],
    ids=["429", "403-served", "403-never-served", "bot-check", "rate-limit", "404", "private"],
)
def test_only_throttling_errors_open_the_breaker(error: str, served: bool, reason: str | None) -> None:
    found = throttle_reason(error, served)

    assert found == reason or (reason is not None and found is not None and found.startswith(reason))


def breaker_settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """One request at a time to the site, so the access log is a plain sequence."""
    return pipeline_settings(
        database_url,
        redis_url,
        tmp_path,
        sites={
            "limits": {"*": {"downloads": 1, "listings": 1, "interval_s": 0.0}},
            "breaker_min_s": 1.0,
            "breaker_max_s": 4.0,
        },
    )


def video_requests(site: ContentSite) -> list[Request]:
    return sorted((r for r in site.requests if r.path.startswith("/videos/")), key=lambda r: r.start)


async def test_a_throttling_site_is_left_alone_then_probed_and_every_video_delivered_once(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    names = ["a", "b", "c"]
    with content_site() as site:
        for name in names:
            site.add_video(name, size=50_000)
            site.set_mode(name, "429")  # the site throttles us for a while
        async with serving(breaker_settings(database_url, redis_url, tmp_path)) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=site.feed("f", names), user_id=1))
            # Opened, then reopened by a failed probe.
            await wait_for(db, "SELECT openings FROM site_breakers WHERE state = 'open'", 2)
            listed = (await api("ListSites", pb.ListSitesRequest())).sites
            for name in names:
                site.set_mode(name, "ok")  # the site has calmed down
            await wait_for(db, "SELECT count(*) FROM previous_downloads", 3)
            events = [
                e.message for e in (await api("ListEvents", pb.ListEventsRequest(show_all=True))).events
            ]
            closed = (await api("ListSites", pb.ListSitesRequest())).sites
        site.wait_idle()
        requests = video_requests(site)

    throttled = [n for n, r in enumerate(requests) if r.status == 429]
    assert len(throttled) == 2
    for n, cool_down in zip(throttled, (1.0, 2.0), strict=True):  # doubled after the failed probe
        assert requests[n].end is not None
        assert requests[n + 1].start - requests[n].end >= cool_down * 0.9, "a request while open"
    assert {r.path for r in requests if r.status == 200 and r.method == "GET"} == {
        f"/videos/{n}.mp4" for n in names
    }
    [local] = [s for s in listed if s.site == "127.0.0.1"]
    assert (local.breaker, local.reason, local.openings) == (pb.OPEN, "HTTP 429 Too Many Requests", 2)
    assert [s.breaker for s in closed if s.site == "127.0.0.1"] == [pb.CLOSED]
    assert "site 127.0.0.1: breaker opened (HTTP 429 Too Many Requests); probing in 1s" in events
    assert "site 127.0.0.1: breaker opened again (HTTP 429 Too Many Requests); probing in 2s" in events
    assert "site 127.0.0.1: breaker closed: the probe got through" in events
    assert await db.value("SELECT sum(attempts) FROM videos") == 0  # throttled is not failed
    assert await db.value("SELECT count(DISTINCT video_id) FROM previous_downloads") == 3


async def test_an_ordinary_failure_does_not_open_the_breaker(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    with content_site() as site:
        site.add_video("gone")
        site.set_mode("gone", "404")
        site.add_video("fine")
        async with serving(breaker_settings(database_url, redis_url, tmp_path)) as (_, api):
            await api(
                "ScheduleCategory",
                pb.ScheduleCategoryRequest(url=site.feed("f", ["gone", "fine"]), user_id=1),
            )
            await wait_for(db, "SELECT count(*) FROM previous_downloads", 1)
            await wait_for(db, "SELECT attempts > 0 FROM videos WHERE foreign_id = 'gone'", True)

    assert await db.value("SELECT count(*) FROM site_breakers WHERE state <> 'closed'") == 0
    assert await db.value("SELECT served FROM site_breakers WHERE site = '127.0.0.1'") is True


async def test_an_operator_closes_a_breaker_and_the_sites_work_goes_at_once(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    await db.fetch(
        """
        INSERT INTO site_breakers (site, state, reason, openings, opened_at, probe_at, served)
        VALUES ('127.0.0.1', 'open', 'HTTP 429 Too Many Requests', 3, now(), now() + interval '1 hour', true)
        """
    )
    with content_site() as site:
        site.add_video("waiting")
        async with serving(breaker_settings(database_url, redis_url, tmp_path)) as (_, api):
            await api(
                "ScheduleCategory", pb.ScheduleCategoryRequest(url=site.feed("f", ["waiting"]), user_id=1)
            )
            await wait_for(db, "SELECT next_sync_at > now() + interval '30 minutes' FROM categories", True)
            assert site.requests == []  # not even the listing while open
            before = (await api("ListSites", pb.ListSitesRequest())).sites

            reset = await api("ResetSite", pb.ResetSiteRequest(site=" 127.0.0.1 "))
            again = await api("ResetSite", pb.ResetSiteRequest(site="127.0.0.1"))
            await wait_for(db, "SELECT count(*) FROM previous_downloads", 1)
            events = [
                e.message for e in (await api("ListEvents", pb.ListEventsRequest(show_all=True))).events
            ]

    [local] = [s for s in before if s.site == "127.0.0.1"]
    assert (local.breaker, local.openings, local.downloads) == (pb.OPEN, 3, 1)
    assert local.probe_at > local.opened_at
    assert (reset.site, reset.was_open, again.was_open) == ("127.0.0.1", True, False)
    assert "site 127.0.0.1: breaker closed by an operator" in events
