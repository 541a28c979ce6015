"""Content categories: every video is classified from its tags by the inference rules, as
Horahora's scheduler did (the newest rule whose tag the video carries; none: General);
tags come from the listing (a feed item's <category> elements); a rule added later
re-classifies the videos not yet delivered; approval shows the category, and it reaches
the Video Service's metadata."""

from __future__ import annotations

import json
from pathlib import Path

from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.content_site import ContentSite
from tests.test_pipeline import pipeline_settings, serving, wait_for


async def test_videos_are_classified_by_the_newest_matching_rule_and_reclassified_by_a_new_one(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("both", tags=("MAD", "YTPMV"))
    site.add_video("mad", tags=("mad",))  # tags match case-insensitively
    site.add_video("cats", tags=("cats",))
    site.add_video("untagged")
    feed = site.feed("feed", ["both", "mad", "cats", "untagged"])
    settings = pipeline_settings(database_url, redis_url, tmp_path, approval={"required": True})

    async with serving(settings) as (_, api):
        await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="MAD", category="Music"))
        await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="YTPMV", category="Remix"))
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos", 4)

        async def categories() -> dict[str, str]:
            listed = await api("ListUnapprovedVideos", pb.ListUnapprovedVideosRequest())
            return {v.foreign_id: v.category for v in listed.videos}

        before = await categories()
        # A rule added later applies to the videos not yet delivered.
        await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="Cats", category="Animals"))
        after = await categories()
        both = await db.value("SELECT id FROM videos WHERE foreign_id = 'both'")
        await api("ApproveVideo", pb.ApproveVideoRequest(video_id=both))
        await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'both'", "done")

    assert before == {"both": "Remix", "mad": "Music", "cats": "General", "untagged": "General"}
    assert after == {"both": "Remix", "mad": "Music", "cats": "Animals", "untagged": "General"}
    [metadata] = settings.video_service.directory.glob("*/both/metadata.json")
    assert json.loads(metadata.read_text())["category"] == "Remix"
    assert json.loads(metadata.read_text())["tags"] == []  # the download's own metadata has none
    assert await db.value("SELECT tags FROM videos WHERE foreign_id = 'both'") == ["MAD", "YTPMV"]


async def test_a_delivered_videos_category_stays_as_it_was_delivered(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("done", tags=("MAD",))
    feed = site.feed("feed", ["done"])
    settings = pipeline_settings(database_url, redis_url, tmp_path)
    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT status::text FROM videos", "done")
        await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="MAD", category="Music"))

    assert await db.value("SELECT content_category FROM videos") == "General"


async def test_with_approval_required_an_untagged_listings_videos_get_their_metadata_once(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_page_video("paged", tags=("MAD", "Touhou"), title="A page with tags")
    site.add_page_video("bare", tags=())
    site.add_video("file")  # a plain enclosure: a file, no page to read
    feed = site.feed("feed", ["paged", "bare", "file"])  # the feed itself names no tags
    settings = pipeline_settings(database_url, redis_url, tmp_path, approval={"required": True})

    async with serving(settings) as (_, api):
        await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="touhou", category="Touhou"))
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE metadata_fetched", 3)
        await wait_for(db, "SELECT content_category FROM videos WHERE foreign_id = 'paged'", "Touhou")
        listed = (await api("ListUnapprovedVideos", pb.ListUnapprovedVideosRequest())).videos
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'pending'", 3)  # nothing downloaded

    assert {v.foreign_id: v.category for v in listed} == {
        "paged": "Touhou",
        "bare": "General",
        "file": "General",
    }
    assert await db.value("SELECT tags FROM videos WHERE foreign_id = 'paged'") == ["MAD", "Touhou"]
    # One request for each page (the metadata), none for the files: nothing was approved.
    assert [r.status for r in site.requests_for("/pages/paged.html")] == [200]
    assert [r.status for r in site.requests_for("/pages/bare.html")] == [200]
    assert site.requests_for("/videos/paged.mp4") == []
    assert site.requests_for("/videos/file.mp4") == []
    # The Accept-Language the downloads send.
    [page] = site.requests_for("/pages/paged.html")
    assert page.headers["accept-language"] == settings.downloader.accept_language
