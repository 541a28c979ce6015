"""The test content site, checked against the real yt-dlp (library, no network beyond 127.0.0.1)."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import yt_dlp
from yt_dlp.utils import DownloadError, UnsupportedError, unsmuggle_url

from tests.content_site import ContentSite, content_site

SIZE = 30_000
# The service sends every request through yt-dlp's urllib handler (GuardedYoutubeDL in
# scheduler/pipeline/ytdlp/overrides.py);
# a stock YoutubeDL prefers `requests` when it is installed (yt-dlp[default] brings it),
# whose errors are worded differently. These tests look at the site as the service does.
URLLIB = {"compat_opts": {"prefer-legacy-http-handler"}}


@pytest.fixture
def served() -> Iterator[ContentSite]:
    with content_site() as site:
        yield site


@pytest.fixture
def three(served: ContentSite) -> str:
    """A feed of vid0, vid1, vid2 (oldest first), with their thumbnails as itunes:image."""
    for i in range(3):
        served.add_video(f"vid{i}", size=SIZE + i, title=f"Title {i}")
    return served.feed("cats", ["vid0", "vid1", "vid2"], thumbnails="both")


def flat(url: str) -> dict[str, Any]:
    with yt_dlp.YoutubeDL(
        {"extract_flat": "in_playlist", "quiet": True, "no_warnings": True, **URLLIB}
    ) as ydl:
        return ydl.extract_info(url, download=False)


def download(url: str, directory: Path, **params: Any) -> dict[str, Any]:
    options = {
        "outtmpl": str(directory / "%(id)s.%(ext)s"),
        "quiet": True,
        "noprogress": True,
        **URLLIB,
        **params,
    }
    with yt_dlp.YoutubeDL(options) as ydl:
        return ydl.extract_info(url)


def files(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in directory.iterdir()}


def test_feed_lists_newest_first_with_guids_titles_and_thumbnails(served: ContentSite, three: str) -> None:
    info = flat(three)
    assert info["_type"] == "playlist"
    entries = info["entries"]
    # The XML lists the newest first and yt-dlp keeps the document's order.
    assert [e["title"] for e in entries] == ["Title 2", "Title 1", "Title 0"]
    for entry, vid in zip(entries, ["vid2", "vid1", "vid0"], strict=True):
        video = served.video(vid)
        assert entry["_type"] == "url_transparent"
        assert unsmuggle_url(entry["url"]) == (video.url, {"force_videoid": vid})
        assert entry["description"] == f"About {vid}."
        assert entry["timestamp"] == int(video.published.timestamp())
        # From <itunes:image href>; yt-dlp ignores <media:thumbnail> (see the next test).
        assert entry["thumbnail"] == video.thumbnail_url
    assert info["title"] == "cats"


def test_media_thumbnail_alone_gives_no_thumbnail(served: ContentSite) -> None:
    served.add_video("a", size=SIZE, published=datetime(2020, 5, 1, 12, tzinfo=UTC))
    entries = flat(served.feed("m", ["a"], thumbnails="media"))["entries"]
    assert entries[0]["thumbnail"] is None
    assert entries[0]["timestamp"] == int(datetime(2020, 5, 1, 12, tzinfo=UTC).timestamp())
    thumb = httpx.get(served.video("a").thumbnail_url)
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content.startswith(b"\xff\xd8") and thumb.content.endswith(b"\xff\xd9")


def test_download_is_byte_identical(served: ContentSite, three: str, tmp_path: Path) -> None:
    entry = flat(three)["entries"][1]
    info = download(entry["url"], tmp_path)
    # The id is the guid; the title is the file name's stem (the generic extractor's).
    assert (info["id"], info["title"], info["ext"]) == ("vid1", "vid1", "mp4")
    assert files(tmp_path) == {"vid1.mp4": SIZE + 1}
    assert (tmp_path / "vid1.mp4").read_bytes() == served.video_bytes("vid1")
    assert served.video_bytes("vid1") != served.video_bytes("vid0")[: SIZE + 1]
    # The extractor GETs the video once (reading only headers), the downloader once more.
    fetches = served.requests_for(served.video("vid1").path)
    assert [(r.status, r.range) for r in fetches] == [(200, None), (200, None)]
    assert fetches[-1].sent == SIZE + 1


def test_ranges(served: ContentSite) -> None:
    video = served.add_video("r", size=100_000)
    whole = served.video_bytes("r")
    cases = {
        "bytes=1000-1999": (206, whole[1000:2000], "bytes 1000-1999/100000"),
        "bytes=99990-": (206, whole[99990:], "bytes 99990-99999/100000"),
        "bytes=99990-200000": (206, whole[99990:], "bytes 99990-99999/100000"),
        "bytes=-5": (206, whole[-5:], "bytes 99995-99999/100000"),
        "bytes=100000-": (416, None, "bytes */100000"),
        "bytes=5-2": (416, None, "bytes */100000"),
        "items=0-1": (200, whole, None),  # not understood: ignored
    }
    with httpx.Client() as client:
        for header, (status, body, content_range) in cases.items():
            response = client.get(video.url, headers={"Range": header})
            assert response.status_code == status, header
            assert response.headers.get("content-range") == content_range, header
            if body is not None:
                assert response.content == body, header
                assert int(response.headers["content-length"]) == len(body)
        head = client.head(video.url)
        assert (head.status_code, head.headers["content-length"], head.content) == (200, "100000", b"")
    # urllib too (yt-dlp's fallback client).
    request = urllib.request.Request(video.url, headers={"Range": "bytes=10-19"})
    with urllib.request.urlopen(request) as response:
        assert (response.status, response.read()) == (206, whole[10:20])
    assert [r.range for r in served.requests_for(video.path)][-1] == "bytes=10-19"


def test_large_videos_are_streamed(served: ContentSite) -> None:
    video = served.add_video("big", size=1 << 30)
    response = httpx.get(video.url, headers={"Range": f"bytes={(1 << 30) - 100_000}-"})
    assert response.status_code == 206
    assert len(response.content) == 100_000
    assert response.headers["content-range"] == f"bytes {(1 << 30) - 100_000}-{(1 << 30) - 1}/{1 << 30}"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("404", "HTTP Error 404: Not Found"),
        ("500", "HTTP Error 500: Internal Server Error"),
        ("429", "HTTP Error 429: Too Many Requests"),
    ],
)
def test_http_errors_raise(served: ContentSite, three: str, tmp_path: Path, mode: str, message: str) -> None:
    entry = flat(three)["entries"][0]
    served.set_mode("vid2", mode)  # type: ignore[arg-type]
    with pytest.raises(DownloadError) as raised:
        download(entry["url"], tmp_path)
    assert str(raised.value) == (
        f"ERROR: [generic] vid2: Unable to download webpage: {message}"
        f" (caused by <HTTPError {message.removeprefix('HTTP Error ')}>)"
    )
    assert files(tmp_path) == {}
    # The extractor's one request failed; the downloader never ran.
    assert [r.status for r in served.requests_for(served.video("vid2").path)] == [int(mode)]


def test_truncated_fails_leaving_half_a_part_file(served: ContentSite, three: str, tmp_path: Path) -> None:
    entry = flat(three)["entries"][2]
    served.set_mode("vid0", "truncated")
    # YoutubeDL's "retries" defaults to 0 in the library (the command line's is 10).
    with pytest.raises(DownloadError) as raised:
        download(entry["url"], tmp_path)
    assert (
        str(raised.value)
        == f"ERROR: \r[download] Got error: Downloaded {SIZE // 2} bytes, expected {SIZE} bytes"
    )
    assert files(tmp_path) == {"vid0.mp4.part": SIZE // 2}
    assert (tmp_path / "vid0.mp4.part").read_bytes() == served.video_bytes("vid0")[: SIZE // 2]


def test_truncated_with_retries_resumes_at_the_middle_and_gives_up(
    served: ContentSite, three: str, tmp_path: Path
) -> None:
    entry = flat(three)["entries"][2]
    served.set_mode("vid0", "truncated")
    with pytest.raises(DownloadError, match=r"^ERROR: Did not get any data blocks$"):
        download(entry["url"], tmp_path, retries=3)
    assert files(tmp_path) == {"vid0.mp4.part": SIZE // 2}
    fetches = served.requests_for(served.video("vid0").path)
    assert [(r.status, r.range, r.sent) for r in fetches][1:] == [
        (200, None, SIZE // 2),
        (206, f"bytes={SIZE // 2}-", 0),
    ]


def test_mode_back_to_ok(served: ContentSite, three: str, tmp_path: Path) -> None:
    entry = flat(three)["entries"][0]
    served.set_mode("vid2", "500")
    with pytest.raises(DownloadError):
        download(entry["url"], tmp_path)
    served.set_mode("vid2", "ok")
    download(entry["url"], tmp_path)
    assert (tmp_path / "vid2.mp4").read_bytes() == served.video_bytes("vid2")


def test_feed_500(served: ContentSite, three: str) -> None:
    served.set_feed_mode("cats", "500")
    with pytest.raises(DownloadError) as raised:
        flat(three)
    assert str(raised.value) == (
        "ERROR: [generic] cats: Unable to download webpage: HTTP Error 500: Internal Server Error"
        " (caused by <HTTPError 500: Internal Server Error>)"
    )


def test_feed_garbage_is_unsupported(served: ContentSite, three: str) -> None:
    served.set_feed_mode("cats", "garbage")
    with pytest.raises(DownloadError) as raised:
        flat(three)
    assert str(raised.value) == f"ERROR: Unsupported URL: {three}"
    assert raised.value.exc_info is not None
    assert isinstance(raised.value.exc_info[1], UnsupportedError)


def test_feed_empty_and_replaced(served: ContentSite, three: str) -> None:
    served.set_feed_mode("cats", "empty")
    info = flat(three)
    assert (info["_type"], info["entries"]) == ("playlist", [])
    served.set_feed_mode("cats", "ok")
    assert served.feed("cats", ["vid2", "vid0"]) == three
    assert [e["title"] for e in flat(three)["entries"]] == ["Title 0", "Title 2"]
    assert httpx.get(served.feed_url("nope")).status_code == 404


def test_access_log(served: ContentSite, three: str) -> None:
    flat(three)
    with httpx.Client() as client:
        for vid in ["vid0", "vid0", "vid1"]:
            client.get(served.video(vid).url)
    served.wait_idle()
    log = list(served.requests)
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/feeds/cats.xml", 200),
        ("GET", "/videos/vid0.mp4", 200),
        ("GET", "/videos/vid0.mp4", 200),
        ("GET", "/videos/vid1.mp4", 200),
    ]
    assert [r.sent for r in log[1:]] == [SIZE, SIZE, SIZE + 1]
    assert all(r.start <= r.end for r in log)
    assert all(a.end <= b.start for a, b in pairwise(log[1:]))  # one connection
    assert len(served.requests_for("/videos/vid0.mp4")) == 2


def test_access_log_shows_concurrency(served: ContentSite) -> None:
    for vid in ["s0", "s1"]:
        served.add_video(vid, size=2048)  # two trickled KiB: about 0.4 s
        served.set_mode(vid, "trickle")
    bodies: dict[str, bytes] = {}
    threads = [
        threading.Thread(target=lambda v=vid: bodies.update({v: httpx.get(served.video(v).url).content}))
        for vid in ["s0", "s1"]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert bodies == {v: served.video_bytes(v) for v in ["s0", "s1"]}
    served.wait_idle()
    first, second = sorted(served.requests, key=lambda r: r.start)
    assert first.end is not None and second.start < first.end  # they overlapped
    assert first.end - first.start >= 0.2


def test_quoted_ids(served: ContentSite, tmp_path: Path) -> None:
    video = served.add_video("a b/ü?", size=SIZE, title="Odd <&> name")
    assert video.path == "/videos/a%20b%2F%C3%BC%3F.mp4"
    entry = flat(served.feed("odd feed", ["a b/ü?"]))["entries"][0]
    assert entry["title"] == "Odd <&> name"
    assert unsmuggle_url(entry["url"]) == (video.url, {"force_videoid": "a b/ü?"})
    assert httpx.get(video.url).content == served.video_bytes("a b/ü?")


def test_stop_is_prompt_while_trickling(tmp_path: Path) -> None:
    outcome: list[BaseException | None] = []
    with content_site() as site:
        site.add_video("slow", size=SIZE)
        site.set_mode("slow", "trickle")

        def fetch() -> None:
            try:
                download(site.video("slow").url, tmp_path)
                outcome.append(None)
            except BaseException as error:
                outcome.append(error)

        thread = threading.Thread(target=fetch, daemon=True)
        thread.start()
        deadline = time.monotonic() + 5
        while not (tmp_path / "slow.mp4.part").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "slow.mp4.part").exists()
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2
    thread.join(5)
    assert not thread.is_alive()
    # The server hangs up mid-body: yt-dlp reports a short download.
    assert len(outcome) == 1 and isinstance(outcome[0], DownloadError)
    assert "expected 30000 bytes" in str(outcome[0])
    assert 0 < files(tmp_path)["slow.mp4.part"] < SIZE


def test_rate_caps_each_response_on_its_own(served: ContentSite) -> None:
    for vid in ["r0", "r1"]:
        served.add_video(vid, size=50_000)
    served.add_video("big", size=2_000_000)
    served.set_rate(100_000)  # bytes/s: half a second per video, per connection
    bodies: dict[str, bytes] = {}

    def fetch(vid: str) -> None:
        bodies[vid] = httpx.get(served.video(vid).url).content

    threads = [threading.Thread(target=fetch, args=(vid,)) for vid in ["r0", "r1"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert bodies == {v: served.video_bytes(v) for v in ["r0", "r1"]}
    served.wait_idle()
    first, second = sorted(served.requests, key=lambda r: r.start)
    # Each took its half second (less its last 1/50 s piece), side by side: the cap is per response.
    assert first.end is not None and second.end is not None
    assert min(first.end - first.start, second.end - second.start) >= 0.45
    assert second.start < first.end
    # A range is capped too; None lifts the cap (capped, this one would take 20 s).
    response = httpx.get(served.video("r0").url, headers={"Range": "bytes=40000-"})
    assert response.content == served.video_bytes("r0")[40_000:]
    served.set_rate(None)
    started = time.monotonic()
    assert httpx.get(served.video("big").url).content == served.video_bytes("big")
    assert time.monotonic() - started < 5
    with pytest.raises(ValueError):
        served.set_rate(0)
