"""Thumbnails and the content category reaching the Video Service: a feed entry's image
(<itunes:image> or <media:thumbnail>) when the download made none, fetched through the SSRF
guard and capped in size; a video with no image anywhere is still delivered, and its event
says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.content_site import JPEG, ContentSite
from tests.fake_video_service import HorahoraUpload, running_fake_horahora
from tests.test_pipeline import pipeline_settings, serving, wait_for


async def deliver_to_horahora(
    feed: str,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    db: Database,
    rules: dict[str, str] | None = None,
) -> tuple[HorahoraUpload, list[str]]:
    """The feed's one video delivered to the Horahora Video Service fake (after adding the
    inference `rules`, tag -> category): what it received, and the events."""
    async with running_fake_horahora() as fake:
        settings = pipeline_settings(
            database_url, redis_url, tmp_path, video_service={"kind": "horahora", "address": fake.address}
        )
        async with serving(settings) as (_, api):
            for tag, category in (rules or {}).items():
                await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag=tag, category=category))
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT status::text FROM videos", "done")
            events = (await api("ListEvents", pb.ListEventsRequest(show_all=True))).events
    [upload] = fake.uploads
    assert upload.meta is not None
    return upload, [e.message for e in events]


@pytest.mark.parametrize("thumbnails", ["itunes", "media"])
async def test_a_feed_entrys_image_is_delivered_as_the_thumbnail(
    thumbnails: str, database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("pictured", tags=("MAD",))
    feed = site.feed("feed", ["pictured"], thumbnails=thumbnails)
    upload, events = await deliver_to_horahora(feed, database_url, redis_url, tmp_path, db, {"MAD": "Music"})

    assert upload.meta is not None and upload.meta.thumbnail == JPEG
    # Horahora's upload has no field for the content category: it rides in the raw metadata.
    assert json.loads(upload.rawmeta)["content_category"] == "Music"
    assert upload.meta.originalID == "pictured"
    assert [r.status for r in site.requests_for("/thumbs/pictured.jpg")] == [200]
    assert f"delivered to the Video Service as {upload.video_id}" in events


async def test_without_an_image_anywhere_the_video_is_delivered_and_its_event_says_so(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("plain")
    upload, events = await deliver_to_horahora(
        site.feed("feed", ["plain"]), database_url, redis_url, tmp_path, db
    )

    assert upload.meta is not None and upload.meta.thumbnail == b""
    assert f"delivered to the Video Service as {upload.video_id} (no thumbnail anywhere)" in events


async def test_an_image_that_is_too_large_or_not_an_image_is_not_delivered(
    database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("huge")
    site.add_video("fake")
    feed = site.feed("feed", ["huge", "fake"], thumbnails="itunes")
    site.set_thumbnail("huge", b"\xff\xd8\xff" + b"\0" * (5 * 2**20))  # over 5 MiB
    site.set_thumbnail("fake", b"<html>not an image</html>")
    settings = pipeline_settings(database_url, redis_url, tmp_path)
    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)

    media = settings.video_service.directory
    assert sorted(p.name for p in media.glob("*/*/thumbnail*")) == []
    for name in ("huge", "fake"):
        assert [r.status for r in site.requests_for(f"/thumbs/{name}.jpg")] == [200]
