"""Hostile metadata from sites: long or strange ids and titles, huge info JSON, a
thumbnail that is not an image. Nothing escapes its directory; sizes are capped; the
event log stays readable."""

from __future__ import annotations

import json
from pathlib import Path

from scheduler.pipeline import sanitize
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.work import ListedVideo
from tests.conftest import Database
from tests.content_site import content_site
from tests.test_pipeline import pipeline_settings, serving, wait_for

RLO = "\u202e"  # right-to-left override: makes "txt.exe" read "exe.txt"


def test_text_is_capped_and_rid_of_controls_and_overrides() -> None:
    assert sanitize.clean_text(f"evil{RLO}gpj.exe\x00\x1b[31m", 100) == "evilgpj.exe[31m"
    assert sanitize.clean_text("a\tb\nc", 100) == "a\tb\nc"
    assert sanitize.clean_text("x" * 5000, 1000) == "x" * 999 + "…"
    hebrew = "\u05e9\u05dc\u05d5\u05dd \u200f\u05e2\u05d5\u05dc\u05dd"  # with an RLM, a mark: it stays
    assert sanitize.clean_text(hebrew, 100) == hebrew


def test_unreasonable_ids_become_stable_hashes() -> None:
    assert sanitize.clean_id("sm12345") == "sm12345"
    long_id = "a" * 10_000
    assert sanitize.clean_id(long_id) == sanitize.clean_id(long_id)
    assert sanitize.clean_id(long_id).startswith("sha256-")
    assert sanitize.clean_id("a\x00b").startswith("sha256-")
    assert len(sanitize.clean_id(long_id)) <= sanitize.MAX_ID


def test_a_listed_entry_is_trimmed_or_dropped() -> None:
    entry = ListedVideo("x.test", "id" * 500, "https://x.test/v", "t" * 20_000, {"title": "t" * 20_000})
    cleaned = sanitize.clean_listed(entry)
    assert cleaned is not None
    assert len(cleaned.title) == sanitize.MAX_TITLE and len(cleaned.listed["title"]) == sanitize.MAX_TITLE
    assert cleaned.foreign_id.startswith("sha256-")
    assert sanitize.clean_listed(ListedVideo("x.test", "1", "https://x.test/" + "a" * 9000, "", {})) is None


def test_only_real_images_pass_as_thumbnails(tmp_path: Path) -> None:
    jpeg, png, webp, html = (tmp_path / n for n in ("a.jpg", "b.png", "c.webp", "d.jpg"))
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    webp.write_bytes(b"RIFF\0\0\0\0WEBPVP8 ")
    html.write_bytes(b"<html><script>alert(1)</script>")
    huge = tmp_path / "e.jpg"
    huge.write_bytes(b"\xff\xd8\xff" + b"\0" * (sanitize.MAX_THUMBNAIL + 1))

    assert [sanitize.is_image(p) for p in (jpeg, png, webp, html, huge)] == [True, True, True, False, False]


def test_a_huge_info_json_is_replaced_by_its_essentials(tmp_path: Path) -> None:
    info = {"id": "v", "title": "T", "formats": [{"url": "x" * 1000}] * 10_000}
    path = tmp_path / "video.info.json"
    path.write_text(json.dumps(info))
    assert path.stat().st_size > sanitize.MAX_INFO_JSON

    bounded = sanitize.delivered_info_json(path, info, "General")

    assert bounded != path
    assert json.loads(bounded.read_text()) == {"id": "v", "title": "T", "content_category": "General"}
    # A small one is delivered whole (and, like every one, with the content category).
    small = tmp_path / "small.info.json"
    small.write_text(
        '{"id": "v", "formats": [{"url": "u", "cookies": "s=1", "http_headers": {"Cookie": "s=1"}}]}'
    )
    delivered = json.loads(sanitize.delivered_info_json(small, {"id": "v"}, "Music").read_text())
    assert delivered == {
        "id": "v",
        "formats": [{"url": "u", "http_headers": {}}],
        "content_category": "Music",
    }


async def test_a_hostile_feed_item_is_delivered_safely(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    hostile_id = "../../" + "x" * 3000
    hostile_title = f"{RLO}" + "T" * 3_000  # (XML forbids control characters)
    with content_site() as site:
        site.add_video(hostile_id, title=hostile_title, description="d" * 12_000)
        site.add_video("'; DROP TABLE videos; --", title="<script>alert(1)</script>")
        feed = site.feed("feed", [hostile_id, "'; DROP TABLE videos; --"])
        settings = pipeline_settings(database_url, redis_url, tmp_path)

        async with serving(settings) as (_, api):
            response = await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)
            events = (await api("ListEvents", pb.ListEventsRequest(category_id=response.category_id))).events

    rows = {r["foreign_id"]: r["title"] for r in await db.fetch("SELECT foreign_id, title FROM videos")}
    assert "'; DROP TABLE videos; --" in rows
    [hashed] = [i for i in rows if i.startswith("sha256-")]
    assert len(rows[hashed]) == sanitize.MAX_TITLE and RLO not in rows[hashed] and "\x00" not in rows[hashed]
    media = settings.video_service.directory.resolve()
    written = [p.resolve() for p in media.rglob("*")]
    assert written and all(media in p.parents for p in written)  # nothing outside the media root
    assert not list(tmp_path.glob("etc*")) and not (tmp_path.parent / "x").exists()
    for path in media.rglob("metadata.json"):
        metadata = json.loads(path.read_text())
        assert (
            len(metadata["title"]) <= sanitize.MAX_TITLE and len(metadata["description"]) <= sanitize.MAX_TEXT
        )
    assert all(RLO not in e.message and "\x00" not in e.message for e in events)
