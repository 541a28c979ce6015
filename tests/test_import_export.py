"""Bringing subscriptions in and taking them out: `scheduler import` reads this service's
export, OPML and a Takeout subscriptions.csv, and streams them to ImportSubscriptions;
`scheduler export` writes every subscription back out. Through the real command, a real
socket and the real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio_asyncio

from scheduler.cli.subscription_files import UnreadableFile, category_url, read
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Api, Database
from tests.test_commands import cli

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.1">
  <body>
    <outline text="YouTube Subscriptions" title="YouTube Subscriptions">
      <outline text="A channel" type="rss"
               xmlUrl="https://www.youtube.com/feeds/videos.xml?channel_id=UCaaaaaaaaaaaaaaaaaaaaaa"/>
      <outline text="A playlist" type="rss"
               xmlUrl="https://www.youtube.com/feeds/videos.xml?playlist_id=PLbbbbbbbbbbbbbbbbbb"/>
      <outline text="A podcast" type="rss" xmlUrl="http://127.0.0.1/podcast.xml"/>
      <outline text="Somewhere else" type="rss" xmlUrl="https://example.com/feed.xml"/>
      <outline text="A folder without a feed"/>
    </outline>
  </body>
</opml>
"""

TAKEOUT = """Channel Id,Channel Url,Channel Title
UCcccccccccccccccccccccc,http://www.youtube.com/channel/UCcccccccccccccccccccccc,First
UCdddddddddddddddddddddd,http://www.youtube.com/channel/UCdddddddddddddddddddddd,Second

UCeeeeeeeeeeeeeeeeeeeeee,,Only an id
,,Nothing at all
"""


def target(api: Api) -> tuple[str, str]:
    return ("--target", f"127.0.0.1:{api.port}")


async def subscribed(db: Database, user_id: int) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT c.url, c.profile::text FROM subscriptions s JOIN categories c ON c.id = s.category_id"
        " WHERE s.user_id = $1 ORDER BY c.url",
        user_id,
    )
    return [(r["url"], r["profile"]) for r in rows]


def test_youtube_feeds_become_the_pages_yt_dlp_lists_whole() -> None:
    feeds = "https://www.youtube.com/feeds/videos.xml?"
    assert category_url(feeds + "channel_id=UCx") == "https://www.youtube.com/channel/UCx"
    assert category_url(feeds + "playlist_id=PLx") == "https://www.youtube.com/playlist?list=PLx"
    assert category_url(feeds + "user=someone") == "https://www.youtube.com/user/someone"
    assert category_url(" https://example.com/rss ") == "https://example.com/rss"


async def test_an_opml_file_subscribes_to_each_feed_and_names_what_it_refused(
    api: Api, db: Database, tmp_path: Path
) -> None:
    opml = tmp_path / "subscriptions.opml"
    opml.write_text(OPML)

    first = await cli("import", str(opml), "--user", "3", *target(api))
    again = await cli("import", str(opml), "--user", "3", *target(api))

    assert first.returncode == 1  # a line was refused
    # (A batch creates its categories in URL order: imports running at once lock alike.)
    assert first.stdout.decode().splitlines() == [
        "entry 1: subscribed to new category 2 (https://www.youtube.com/channel/UCaaaaaaaaaaaaaaaaaaaaaa)",
        "entry 2: subscribed to new category 3 (https://www.youtube.com/playlist?list=PLbbbbbbbbbbbbbbbbbb)",
        "entry 3: subscribed to new category 1 (http://127.0.0.1/podcast.xml)",
        "entry 4: refused: url: host example.com is not allowed",
        "imported: 3 created, 0 already there, 1 refused",
    ]
    # Importing twice changes nothing.
    assert again.stdout.decode().splitlines()[-1] == "imported: 0 created, 3 already there, 1 refused"
    assert await db.value("SELECT count(*) FROM categories") == 3
    assert await db.value("SELECT subscriber_count FROM categories WHERE id = 1") == 1
    events = await db.fetch("SELECT message FROM archival_events WHERE category_id = 1 ORDER BY id")
    assert [e["message"] for e in events] == [
        "category created: http://127.0.0.1/podcast.xml",
        "user 3 subscribed",
    ]


async def test_a_takeout_csv_subscribes_to_each_channel(api: Api, db: Database, tmp_path: Path) -> None:
    takeout = tmp_path / "subscriptions.csv"
    takeout.write_text(TAKEOUT)

    done = await cli("import", str(takeout), "--user", "5", *target(api))

    assert done.stdout.decode().splitlines() == [
        "line 2: subscribed to new category 1 (http://www.youtube.com/channel/UCcccccccccccccccccccccc)",
        "line 3: subscribed to new category 2 (http://www.youtube.com/channel/UCdddddddddddddddddddddd)",
        "line 5: subscribed to new category 3 (https://www.youtube.com/channel/UCeeeeeeeeeeeeeeeeeeeeee)",
        "line 6: refused: no Channel Url or Channel Id",
        "imported: 3 created, 0 already there, 1 refused",
    ]
    assert len(await subscribed(db, 5)) == 3


async def test_an_export_imported_for_another_user_gives_the_same_subscriptions_and_profiles(
    api: Api, db: Database, tmp_path: Path
) -> None:
    for url, profile in (
        ("http://127.0.0.1/a.xml", pb.DownloadProfile(max_height=720, exclude_shorts=True)),
        ("http://127.0.0.1/b.xml", pb.DownloadProfile(title_match="MAD|YTPMV", uploaded_after="2024-01-01")),
        ("http://127.0.0.1/c.xml", pb.DownloadProfile()),
    ):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=url, user_id=1, profile=profile))
    await api("ScheduleCategory", pb.ScheduleCategoryRequest(url="http://127.0.0.1/other.xml", user_id=2))

    exported = await cli("export", "--user", "1", *target(api))
    everyone = await cli("export", *target(api))
    (tmp_path / "mine.json").write_bytes(exported.stdout)
    imported = await cli("import", str(tmp_path / "mine.json"), "--user", "4", *target(api))

    data = json.loads(exported.stdout)
    assert (data["format"], data["version"]) == ("scheduler-subscriptions", 1)
    assert [(s["user_id"], s["url"], s["profile"]) for s in data["subscriptions"]] == [
        (1, "http://127.0.0.1/a.xml", {"max_height": 720, "exclude_shorts": True}),
        (1, "http://127.0.0.1/b.xml", {"uploaded_after": "2024-01-01", "title_match": "MAD|YTPMV"}),
        (1, "http://127.0.0.1/c.xml", {}),
    ]
    assert len(json.loads(everyone.stdout)["subscriptions"]) == 4
    assert imported.returncode == 0, imported.stdout
    assert imported.stdout.decode().splitlines()[-1] == "imported: 3 created, 0 already there, 0 refused"
    assert await subscribed(db, 4) == await subscribed(db, 1)


async def test_an_exported_profile_new_to_this_service_is_checked_like_any_other(
    api: Api, db: Database, tmp_path: Path
) -> None:
    exported = {
        "format": "scheduler-subscriptions",
        "version": 1,
        "subscriptions": [
            {"url": "http://127.0.0.1/ok.xml", "profile": {"audio_only": True}},
            {"url": "http://127.0.0.1/bad.xml", "profile": {"title_match": r"(\w)\1"}},
            {"url": "http://127.0.0.1/odd.xml", "profile": {"max_height": "tall"}},
            {"url": "file:///etc/passwd"},
            {"profile": {}},
        ],
    }
    (tmp_path / "export.json").write_text(json.dumps(exported))
    before = await db.counts()

    done = await cli("import", str(tmp_path / "export.json"), "--user", "6", *target(api))

    lines = done.stdout.decode().splitlines()
    assert lines[0] == "entry 1: subscribed to new category 1 (http://127.0.0.1/ok.xml)"
    assert lines[1].startswith("entry 2: refused: profile.title_match: not a pattern RE2 can match")
    assert lines[2].startswith("entry 3: refused: profile: Failed to parse max_height field")
    assert lines[3] == "entry 4: refused: url: scheme 'file' is not allowed; give an http:// or https:// URL"
    assert lines[4] == "entry 5: refused: no url"
    assert lines[5] == "imported: 1 created, 0 already there, 4 refused"
    assert await db.value("SELECT profile::text FROM categories") == '{"audio_only": true}'
    assert (await db.counts())["categories"] == before["categories"] + 1


async def test_ten_thousand_lines_stream_in_and_a_second_import_changes_nothing(
    api: Api, db: Database
) -> None:
    lines = [
        pb.ImportLine(user_id=7, url=f"http://127.0.0.1/feeds/{n}.xml", line=n + 1) for n in range(10_000)
    ]
    lines[4_321] = pb.ImportLine(user_id=7, url="gopher://127.0.0.1/x", line=4_322)  # one bad line among them

    async def send() -> list[pb.ImportSubscriptionsResponse]:
        answers = []
        for _ in range(2):
            async with api.stub.ImportSubscriptions.open(timeout=120) as stream:
                for line in lines:
                    await stream.send_message(line)
                await stream.end()
                answers.append(await stream.recv_message())
        return answers

    first, second = await trio_asyncio.aio_as_trio(send)()

    assert (first.created, first.already_there, first.refused) == (9_999, 0, 1)
    assert (second.created, second.already_there, second.refused) == (0, 9_999, 1)
    assert [r.line for r in first.results] == list(range(1, 10_001))
    assert (
        first.results[4_321].reason == "url: scheme 'gopher' is not allowed; give an http:// or https:// URL"
    )
    assert await db.value("SELECT count(*) FROM subscriptions WHERE user_id = 7") == 9_999
    assert await db.value("SELECT sum(subscriber_count) FROM categories") == 9_999


@pytest.mark.parametrize("text", ["just some words", '{"subscriptions": []}', "<rss></rss>", "<opml"])
def test_a_file_of_no_known_kind_is_refused_whole(text: str) -> None:
    with pytest.raises(UnreadableFile):
        read(text)
