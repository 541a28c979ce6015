"""Streams as the real sites serve them, delivered end to end: an AES-128 HLS master
playlist with separate audio (Niconico's shape) and a DASH manifest (YouTube's), each with
two video resolutions. The service picks the best video and the best audio, downloads them
with yt-dlp's own checked downloaders, merges them with ffmpeg into one file, and delivers
a file that holds exactly those two streams and plays through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.settings import Settings
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.content_site import ContentSite
from tests.stream_media import HIGH, LOW, Stream, StreamMedia, decode_errors, make, probe
from tests.test_pipeline import pipeline_settings, serving, wait_for


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamMedia]:
    yield make(tmp_path_factory.mktemp("streams"))


async def deliver(site: ContentSite, db: Database, settings: Settings) -> Path:
    """Subscribes to a feed of the site's video "clip" and waits for its delivery; the one
    video file the directory Video Service then holds for it."""
    feed = site.feed("streams", ["clip"])
    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 1)
    [directory] = settings.video_service.directory.glob("*/clip")
    [video] = [p for p in directory.iterdir() if p.stem == "video"]
    return video


@pytest.mark.parametrize(
    ("shape", "entry", "container"),
    [
        # HLS names no codec for a separate audio rendition, so yt-dlp cannot tell MP4 would
        # take it and merges into MKV; DASH names both codecs (H.264 and AAC): MP4.
        ("hls", "master.m3u8", ".mkv"),
        ("dash", "manifest.mpd", ".mp4"),
    ],
)
async def test_the_best_video_and_the_best_audio_are_merged_into_one_file_that_plays(
    shape: str,
    entry: str,
    container: str,
    media: StreamMedia,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    site: ContentSite,
    db: Database,
) -> None:
    site.add_stream("clip", getattr(media, shape), entry, title="Separate streams")
    video = await deliver(site, db, pipeline_settings(database_url, redis_url, tmp_path))

    assert video.suffix == container
    assert probe(video) == [Stream("video", "h264", *HIGH), Stream("audio", "aac")]
    assert decode_errors(video) == ""
    fetched = {r.path.rsplit("/", 1)[-1] for r in site.requests}
    assert not any(name.startswith(("v360", "init-stream1", "chunk-stream1")) for name in fetched)
    if shape == "hls":
        assert "key.bin" in fetched  # the segments were decrypted with the playlist's key
    # ffmpeg merged local files only: every request the site saw came from yt-dlp itself
    # (ffmpeg's own requests say "Lavf" in their User-Agent).
    assert not [r.path for r in site.requests if "Lavf" in r.headers.get("user-agent", "")]


@pytest.mark.parametrize(
    "downloader",
    [{"format_sort": ["res:480"]}, {"format": "bv*[height<=480]+ba/b[height<=480]"}],
    ids=["format_sort", "format"],
)
async def test_a_format_cap_picks_the_lower_rendition(
    downloader: dict[str, object],
    media: StreamMedia,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    site: ContentSite,
    db: Database,
) -> None:
    site.add_stream("clip", media.dash, "manifest.mpd")
    video = await deliver(
        site, db, pipeline_settings(database_url, redis_url, tmp_path, downloader=downloader)
    )

    assert probe(video) == [Stream("video", "h264", *LOW), Stream("audio", "aac")]
    assert decode_errors(video) == ""
