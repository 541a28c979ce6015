"""Download profiles end to end: the service lists the content site's feeds, skips what a
category's filters leave out (from the listing entry, else from the video's metadata,
never fetching a byte of video), downloads the rest at the format the profile asks for,
and decides again when a subscriber changes the profile."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio_asyncio
from grpclib.client import Channel
from grpclib.const import Status

from scheduler.horahora import scheduler_pb2 as hh
from scheduler.horahora.scheduler_grpc import SchedulerStub as HorahoraStub
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Api, Database
from tests.content_site import ContentSite
from tests.stream_media import LOW, Stream, StreamMedia, make, probe
from tests.test_commands import cli
from tests.test_pipeline import pipeline_settings, serving, wait_for


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamMedia]:
    yield make(tmp_path_factory.mktemp("streams"))


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def statuses(db: Database) -> dict[str, tuple[str, str | None]]:
    rows = await db.fetch("SELECT foreign_id, status::text, skip_reason FROM videos")
    return {r["foreign_id"]: (r["status"], r["skip_reason"]) for r in rows}


def delivered(root: Path) -> dict[str, Path]:
    """foreign id -> the delivered media file (video or audio alone), by the id layout."""
    return {info.parent.name: next(info.parent.glob("video.*")) for info in root.glob("*/*/info.json")}


async def category(api: Api, user_id: int = 1) -> pb.Category:
    [found] = (await api("ListCategories", pb.ListCategoriesRequest(user_id=user_id))).categories
    return found


async def test_the_listings_dates_durations_titles_and_shorts_skip_videos_never_fetched(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("old", published=day("2023-06-01"), duration=60)
    site.add_video("long", published=day("2024-02-01"), duration=3 * 3600)
    site.add_video("short", published=day("2024-02-02"), duration=30, short=True)
    site.add_video("trailer", published=day("2024-02-03"), duration=90, title="Official TRAILER")
    site.add_video("wanted", published=day("2024-02-04"), duration=90, title="A video")
    feed = site.feed("channel", ["old", "long", "short", "trailer", "wanted"])
    profile = pb.DownloadProfile(
        uploaded_after="2024-01-01", max_duration_s=7200, exclude_shorts=True, title_exclude="trailer"
    )
    settings = pipeline_settings(database_url, redis_url, tmp_path)

    async with serving(settings) as (_, api):
        scheduled = await api(
            "ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1, profile=profile)
        )
        await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'wanted'", "done")
        listed = await category(api)
        events = (await api("ListEvents", pb.ListEventsRequest(category_id=listed.id))).events
        channel = Channel("127.0.0.1", api.port)
        try:
            horahora = HorahoraStub(channel).listArchivalEntries
            [entry] = (
                await trio_asyncio.aio_as_trio(horahora)(hh.listArchivalEntriesRequest(UserID=1))
            ).entries
        finally:
            channel.close()

    assert scheduled.profile == profile
    assert await statuses(db) == {
        "old": ("skipped", "uploaded 2023-06-01, before 2024-01-01"),
        "long": ("skipped", "3h long, more than 2h"),
        "short": ("skipped", "a short"),
        "trailer": ("skipped", "title matches 'trailer'"),
        "wanted": ("done", None),
    }
    # Decided from the feed: not one request for a skipped video.
    assert not [
        r.path for r in site.requests if any(v in r.path for v in ("old", "long", "short", "trailer"))
    ]
    counts = (
        listed.total_videos,
        listed.archived_videos,
        listed.undownloadable_videos,
        listed.skipped_videos,
    )
    assert counts == (5, 1, 0, 4)
    assert listed.profile == profile
    # Horahora's API: a skipped video is neither archived nor undownloadable.
    assert (entry.CurrentTotalVideos, entry.ArchivedVideos, entry.UndownloadableVideos) == (5, 1, 0)
    messages = [e.message for e in events]
    assert f"skipped {site.video('old').url}: uploaded 2023-06-01, before 2024-01-01" in messages
    assert any(m.startswith("synced: 5 listed, 5 new (4 skipped by the profile)") for m in messages)
    assert delivered(settings.video_service.directory).keys() == {"wanted"}


async def test_a_live_stream_is_skipped_from_its_metadata_before_any_segment_is_fetched(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database, media: StreamMedia
) -> None:
    site.add_stream("live", media.hls, "master.m3u8", live=True)
    site.add_stream("recorded", media.hls, "master.m3u8")
    feed = site.feed("streams", ["live", "recorded"])  # a feed item says nothing of live
    settings = pipeline_settings(database_url, redis_url, tmp_path)

    async with serving(settings) as (_, api):
        profile = pb.DownloadProfile(exclude_live=True)
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1, profile=profile))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status IN ('done', 'skipped')", 2)
        listed = await category(api)
        events = (await api("ListEvents", pb.ListEventsRequest(category_id=listed.id))).events

    assert await statuses(db) == {"live": ("skipped", "a live stream (is_live)"), "recorded": ("done", None)}
    live_files = {r.path.rsplit("/", 1)[-1] for r in site.requests if r.path.startswith("/streams/live/")}
    assert live_files and not [name for name in live_files if name.endswith(".ts")]  # playlists only
    assert "skipped: a live stream (is_live)" in [e.message for e in events]
    # What the metadata said is kept with the video: a change of profile decides from it.
    assert (
        await db.value("SELECT listed ->> 'live_status' FROM videos WHERE foreign_id = 'live'") == "is_live"
    )
    assert listed.skipped_videos == 1


async def test_a_height_cap_and_audio_only_pick_their_renditions(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database, media: StreamMedia
) -> None:
    site.add_stream("capped", media.dash, "manifest.mpd")
    site.add_stream("audio", media.dash, "manifest.mpd")
    capped, audio = site.feed("capped", ["capped"]), site.feed("audio", ["audio"])
    settings = pipeline_settings(database_url, redis_url, tmp_path)

    async with serving(settings) as (_, api):
        await api(
            "ScheduleCategory",
            pb.ScheduleCategoryRequest(url=capped, user_id=1, profile=pb.DownloadProfile(max_height=400)),
        )
        await api(
            "ScheduleCategory",
            pb.ScheduleCategoryRequest(url=audio, user_id=1, profile=pb.DownloadProfile(audio_only=True)),
        )
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)

    files = delivered(settings.video_service.directory)
    assert probe(files["capped"]) == [Stream("video", "h264", *LOW), Stream("audio", "aac")]
    assert probe(files["audio"]) == [Stream("audio", "aac")]


async def test_subtitles_in_the_languages_asked_for_are_delivered_beside_the_video(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database, media: StreamMedia
) -> None:
    site.add_stream("subbed", media.hls, "master.m3u8", title="With subtitles")
    feed = site.feed("subbed", ["subbed"])
    settings = pipeline_settings(database_url, redis_url, tmp_path)

    async with serving(settings) as (_, api):
        profile = pb.DownloadProfile(subtitles=["ja"], max_height=400)
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1, profile=profile))
        await wait_for(db, "SELECT status::text FROM videos", "done")

    [directory] = settings.video_service.directory.glob("*/subbed")
    subtitles = sorted(p.name for p in directory.glob("subtitles.*"))
    assert subtitles == ["subtitles.ja.vtt"]  # English was not asked for
    assert "こんにちは" in (directory / "subtitles.ja.vtt").read_text(encoding="utf-8")
    assert not site.requests_for("/streams/subbed/subs_en.m3u8")


async def test_a_video_in_two_categories_is_downloaded_once_at_the_most_generous_profile_that_wants_it(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database, media: StreamMedia
) -> None:
    site.add_stream("shared", media.dash, "manifest.mpd", title="Shared clip")
    site.add_stream("unwanted", media.dash, "manifest.mpd", title="A trailer")
    music, clips = site.feed("music", ["shared", "unwanted"]), site.feed("clips", ["shared", "unwanted"])
    # Held for approval until both categories list them: a video is decided when it is
    # downloaded, by the categories listing it then.
    settings = pipeline_settings(database_url, redis_url, tmp_path, approval={"required": True})

    async with serving(settings) as (_, api):
        # Audio for every video; video at 360p for all but trailers.
        for url, profile in (
            (music, pb.DownloadProfile(audio_only=True)),
            (clips, pb.DownloadProfile(max_height=400, title_exclude="trailer")),
        ):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=url, user_id=1, profile=profile))
        await wait_for(db, "SELECT count(*) FROM category_videos", 4)
        await db.value("UPDATE videos SET approval = 'approved'")
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)

    files = delivered(settings.video_service.directory)
    assert probe(files["shared"]) == [Stream("video", "h264", *LOW), Stream("audio", "aac")]
    assert probe(files["unwanted"]) == [Stream("audio", "aac")]  # only the music category wants it
    assert await db.value("SELECT count(*) FROM previous_downloads") == 2


async def test_a_profile_change_skips_pending_videos_and_brings_skipped_ones_back_oldest_first(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    for n in range(1, 5):
        site.add_video(f"v{n}", published=day(f"2024-0{n}-15"), duration=60 * n)
    feed = site.feed("channel", ["v1", "v2", "v3", "v4"])
    # Nothing is downloaded until approved: the test sees pending videos stay pending. One
    # downloader: the order of deliveries is the order of claims.
    settings = pipeline_settings(
        database_url, redis_url, tmp_path, approval={"required": True}, downloader={"workers": 1}
    )

    async with serving(settings) as (_, api):
        request = pb.ScheduleCategoryRequest(
            url=feed, user_id=1, profile=pb.DownloadProfile(uploaded_after="2024-03-01")
        )
        category_id = (await api("ScheduleCategory", request)).category_id
        await wait_for(db, "SELECT count(*) FROM videos", 4)
        assert await statuses(db) == {
            "v1": ("skipped", "uploaded 2024-01-15, before 2024-03-01"),
            "v2": ("skipped", "uploaded 2024-02-15, before 2024-03-01"),
            "v3": ("pending", None),
            "v4": ("pending", None),
        }

        # Loosened, and tightened on another field: v1 and v2 come back, v4 is now too long.
        loosened = pb.DownloadProfile(max_duration_s=180)
        changed = await api(
            "UpdateCategory", pb.UpdateCategoryRequest(user_id=1, category_id=category_id, profile=loosened)
        )
        after = await statuses(db)
        events = (await api("ListEvents", pb.ListEventsRequest(category_id=category_id))).events
        # Approved all at once (as by an operator's script), the videos brought back are
        # downloaded oldest first, before the one that never left.
        await db.value("UPDATE videos SET approval = 'approved'")
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 3)

    assert (changed.skipped, changed.restored) == (1, 2)
    assert changed.category.profile == loosened
    assert (changed.category.skipped_videos, changed.category.total_videos) == (1, 4)
    assert after == {
        "v1": ("pending", None),
        "v2": ("pending", None),
        "v3": ("pending", None),
        "v4": ("skipped", "4m long, more than 3m"),
    }
    assert events[0].message == (
        "user 1 changed the profile from after 2024-03-01 to at most 3m: "
        "1 pending videos skipped, 2 skipped videos pending again"
    )
    delivered = await db.fetch(
        "SELECT v.foreign_id FROM previous_downloads p JOIN videos v ON v.id = p.video_id ORDER BY p.id"
    )
    assert [r["foreign_id"] for r in delivered] == ["v1", "v2", "v3"]


async def test_a_video_another_category_wants_is_brought_back_from_skipped_when_that_category_lists_it(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("clip", published=day("2023-01-01"), duration=60)
    recent_only, everything = site.feed("recent", ["clip"]), site.feed("all", ["clip"])
    settings = pipeline_settings(database_url, redis_url, tmp_path)

    async with serving(settings) as (_, api):
        profile = pb.DownloadProfile(uploaded_after="2024-01-01")
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=recent_only, user_id=1, profile=profile))
        await wait_for(db, "SELECT status::text FROM videos", "skipped")
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=everything, user_id=2))
        await wait_for(db, "SELECT status::text FROM videos", "done")
        [recent] = (await api("ListCategories", pb.ListCategoriesRequest(user_id=1))).categories

    # In the archive for both now: the first category counts it archived, not skipped.
    assert (recent.archived_videos, recent.skipped_videos) == (1, 0)


async def test_a_bad_profile_is_refused_naming_its_field_and_writes_nothing(api: Api, db: Database) -> None:
    before = await db.counts()
    feed = "http://127.0.0.1/feed.xml"
    cases = [
        (pb.DownloadProfile(title_match=r"(\w+)\s\1"), "profile.title_match: not a pattern RE2 can match"),
        (
            pb.DownloadProfile(uploaded_after="yesterday"),
            "profile.uploaded_after: must be a day as YYYY-MM-DD",
        ),
        (pb.DownloadProfile(max_height=-720), "profile.max_height: must be between 0 and 10000"),
        (pb.DownloadProfile(format="bv*[height<=720"), "profile.format: Invalid format specification"),
    ]
    for profile, message in cases:
        error = await api.error(
            "ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1, profile=profile)
        )
        assert error.status == Status.INVALID_ARGUMENT
        assert (error.message or "").startswith(message), error.message
    assert await db.counts() == before


async def test_only_a_subscriber_may_change_a_categorys_profile(api: Api, db: Database) -> None:
    scheduled = await api(
        "ScheduleCategory", pb.ScheduleCategoryRequest(url="http://127.0.0.1/f.xml", user_id=1)
    )
    change = pb.UpdateCategoryRequest(
        user_id=2, category_id=scheduled.category_id, profile=pb.DownloadProfile(max_height=720)
    )
    error = await api.error("UpdateCategory", change)
    missing = await api.error("UpdateCategory", pb.UpdateCategoryRequest(user_id=1, category_id=999))
    bad = await api.error(
        "UpdateCategory",
        pb.UpdateCategoryRequest(
            user_id=1, category_id=scheduled.category_id, profile=pb.DownloadProfile(title_exclude="(?<=a)b")
        ),
    )

    assert (error.status, error.message) == (
        Status.PERMISSION_DENIED,
        f"user_id: user 2 does not subscribe to category {scheduled.category_id}",
    )
    assert (missing.status, missing.message) == (Status.NOT_FOUND, "category_id: no category 999")
    assert bad.status == Status.INVALID_ARGUMENT and (bad.message or "").startswith("profile.title_exclude:")
    assert await db.value("SELECT profile::text FROM categories") == "{}"


async def test_the_commands_set_show_and_change_a_profile(api: Api) -> None:
    target = ("--target", f"127.0.0.1:{api.port}")
    feed = "http://127.0.0.1/feed.xml"

    scheduled = await cli(
        "schedule", feed, "--user", "1", "--max-height", "720", "--exclude-shorts", "--max-duration", "2h",
        "--title-match", "MAD|YTPMV", *target,
    )  # fmt: skip
    changed = await cli(
        "profile", "1", "--user", "1", "--after", "2024-01-01", "--no-exclude-shorts", *target
    )
    shown = await cli("profile", "1", "--user", "1", *target)
    other = await cli("schedule", feed, "--user", "2", "--audio-only", *target)
    reset = await cli("profile", "1", "--user", "1", "--reset", "--subtitles", "ja,en", *target)
    stranger = await cli("profile", "1", "--user", "9", "--max-height", "480", *target)
    bad = await cli("schedule", feed, "--user", "1", "--max-duration", "forever", *target)

    assert scheduled.stdout.decode() == (
        f"created category 1 ({feed}): subscribed; "
        "profile: max 720p, at most 2h, no shorts, title ~ MAD|YTPMV\n"
    )
    assert changed.stdout.decode() == (
        "category 1: profile max 720p, after 2024-01-01, at most 2h, title ~ MAD|YTPMV; "
        "0 pending videos skipped, 0 skipped videos pending again\n"
    )
    header, row = shown.stdout.decode().splitlines()
    assert header.split()[:5] == ["ID", "ARCHIVED", "TOTAL", "FAILED", "SKIPPED"] and header.endswith(
        "PROFILE"
    )
    assert row.endswith(f"{feed}  max 720p, after 2024-01-01, at most 2h, title ~ MAD|YTPMV")
    assert other.returncode == 0 and other.stderr.decode() == (
        "scheduler: category 1 has a profile of its own; `scheduler profile 1 --user 2 ...` changes it\n"
    )
    assert reset.stdout.decode().startswith("category 1: profile subtitles ja,en;")
    assert (stranger.returncode, stranger.stderr) == (
        1,
        b"scheduler: user 9 does not subscribe to category 1\n",
    )
    assert bad.returncode == 2 and b"not a duration such as 2h, 90m or 45s: 'forever'" in bad.stderr
