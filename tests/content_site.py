"""A video site of our own for tests, so no test touches a real one.

It serves categories as RSS 2.0 feeds whose items enclose video files; yt-dlp's generic
extractor lists such a feed as a playlist (flat entries: ``url_transparent`` to the
enclosure, with the item's title, description and pubDate, and the item's guid smuggled
in as ``force_videoid``), and downloading an entry gives a video whose id is that guid.

    with content_site() as site:
        site.add_video("a", size=50_000, title="First")
        site.add_video("b")
        url = site.feed("cats", ["a", "b"])  # oldest first; the XML lists b, then a
        site.set_mode("b", "500")
        ...
        [r.path for r in site.requests]

Or as a fixture: ``from tests.content_site import site`` in a conftest (function scope).

Video bytes are derived from the video id (SHAKE-256 blocks), made on demand, so a
large video costs no memory; Range requests (bytes=N-, N-M, -N) get 206. Modes can be
changed at any time and apply to the next request:

- videos: "ok"; "404", "500", "429" (with Retry-After: 1); "truncated" (the full
  Content-Length is declared but nothing past the video's middle is ever sent, then the
  connection closes, so resuming cannot finish it either); "trickle" (1 KiB every 0.2 s
  until the body is done, the client goes away or the site stops); "stall" (the headers,
  then nothing until the site stops: a client blocks in its read).
- `set_rate(bytes_per_s)` caps every "ok" video response at that rate on average, each
  response on its own (a site that throttles each connection, so more connections get
  more in all): the body goes out in pieces of 1/RATE_STEPS s, each when the response's
  average is back under the rate; `None` (the default) sends as fast as it can.
- feeds: "ok"; "500"; "garbage" (200, text/html junk); "empty" (valid RSS, no items).

`require_cookie(video_id, "name=value")` serves the video (and its stream's files) only to
a request that sends that cookie: others get 401 (a login-only video).
`redirect(video_id, url)` answers the video's URL with a 302 to `url`.

`add_stream(video_id, directory, entry)` adds a video served as a stream: the feed
encloses `directory/entry` (an HLS master playlist or a DASH manifest, see
tests/stream_media.py) and every file of the directory is served beside it.
`add_stream(..., live=True)`: a stream still live (its HLS playlists are served without
their end), which yt-dlp recognises from the playlist alone.

For the download profiles' filters, a feed item carries its pubDate, its title and, given
`add_video(..., duration=S)`, its <itunes:duration>; `add_video(..., short=True)` serves
the video under /shorts/, as YouTube serves its shorts.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

import pytest

VideoMode = Literal["ok", "404", "500", "429", "truncated", "trickle", "stall"]
FeedMode = Literal["ok", "500", "garbage", "empty"]
Thumbnails = Literal["none", "media", "itunes", "both"]

VIDEO_MODES = frozenset(("ok", "404", "500", "429", "truncated", "trickle", "stall"))
FEED_MODES = frozenset(("ok", "500", "garbage", "empty"))

BLOCK = 64 * 1024
TRICKLE_CHUNK = 1024
TRICKLE_PAUSE = 0.2
RATE_STEPS = 50  # a rate-capped body goes out in pieces of 1/50 s
# The first video's default pubDate; each later video defaults to one minute newer.
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# A 1x1 grey baseline JPEG (made by Pillow).
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616"
    "183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c65676"
    "3ffc0000b080001000101011100ffc40014000100000000000000000000000000000000ffc4001410010000"
    "0000000000000000000000000000ffda0008010100003f003fffd9"
)
# HTML-looking junk: yt-dlp falls through to "Unsupported URL". (Junk that does not start
# with "<" would be taken for a direct video link instead, and extract_info would not fail.)
GARBAGE = b"<!DOCTYPE html><html><body><p>Not a feed &&& <<< >>> \x00\x01 garbage</body>"


@dataclass(frozen=True)
class Video:
    id: str
    size: int
    title: str
    published: datetime
    description: str
    url: str
    path: str
    thumbnail_url: str
    mime_type: str = "video/mp4"
    tags: tuple[str, ...] = ()  # the item's <category> elements
    stream_directory: Path | None = None  # a stream's files (add_stream)
    page: bool = False  # the feed encloses its page, which carries its tags (add_page_video)
    duration: float | None = None  # the item's <itunes:duration>
    live: bool = False  # a stream still live: its playlists have no end (add_stream)


@dataclass
class Request:
    """One request, logged when it arrives and updated as it is served: `status` is set
    before the status line goes out and `sent` before each piece of body, so a client
    that has seen a response also sees them here; `end` stays None until the handler is
    done (for a trickle, until the client goes away or the site stops), see `wait_idle`."""

    start: float  # time.monotonic()
    method: str
    path: str  # as requested, still quoted, without the query
    range: str | None  # the Range header
    headers: dict[str, str] = field(default_factory=dict)  # every header received, by lower-case name
    status: int | None = None
    sent: int = 0  # body bytes handed to the socket
    end: float | None = None


def chunk(video_id: str, block: int) -> bytes:
    """Block `block` (BLOCK bytes) of every video with this id, however large it is."""
    return hashlib.shake_256(f"{video_id}\0{block}".encode()).digest(BLOCK)


def content(video_id: str, start: int, end: int, most: int = BLOCK) -> Iterator[bytes]:
    """Bytes start..end (exclusive) of the video, in pieces of at most `most` (and BLOCK)."""
    position = start
    while position < end:
        block, offset = divmod(position, BLOCK)
        piece = chunk(video_id, block)[offset : offset + min(end - position, most)]
        yield piece
        position += len(piece)


class ContentSite(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _Handler)
        self.host = host
        self.port: int = self.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._videos: dict[str, Video] = {}
        self._video_modes: dict[str, VideoMode] = {}
        self._page_holds: dict[str, threading.Event] = {}
        self._feeds: dict[str, list[str]] = {}
        self._feed_modes: dict[str, FeedMode] = {}
        self._feed_thumbnails: dict[str, Thumbnails] = {}
        self._required_cookies: dict[str, str] = {}
        self._thumbnails: dict[str, bytes] = {}
        self._redirects: dict[str, str] = {}
        self.rate: float | None = None  # bytes/s per video response; see set_rate
        self._thread: threading.Thread | None = None

    # The test's side.

    def add_video(
        self,
        video_id: str,
        size: int = 200_000,
        title: str | None = None,
        published: datetime | None = None,
        description: str | None = None,
        tags: tuple[str, ...] = (),
        duration: float | None = None,
        short: bool = False,
    ) -> Video:
        """Add (or replace) a video. Its default pubDate is EPOCH plus one minute per video
        added before it, so videos added in order are oldest first. `duration` goes into
        its feed item (<itunes:duration>); a `short` is served under /shorts/, as YouTube's."""
        quoted = urllib.parse.quote(video_id, safe="")
        kind = "shorts" if short else "videos"
        with self._lock:
            video = Video(
                id=video_id,
                size=size,
                title=title if title is not None else f"Video {video_id}",
                published=published or EPOCH + timedelta(minutes=len(self._videos)),
                description=description if description is not None else f"About {video_id}.",
                url=f"{self.url}/{kind}/{quoted}.mp4",
                path=f"/{kind}/{quoted}.mp4",
                thumbnail_url=f"{self.url}/thumbs/{quoted}.jpg",
                tags=tuple(tags),
                duration=duration,
            )
            self._videos[video_id] = video
        return video

    def add_page_video(self, video_id: str, tags: tuple[str, ...], title: str | None = None) -> Video:
        """Add a video whose feed item encloses its page (as a site's video page): JSON-LD
        with its title, tags (`keywords`) and file; the feed itself names no tags."""
        quoted = urllib.parse.quote(video_id, safe="")
        video = replace(
            self.add_video(video_id, title=title, tags=tags),
            url=f"{self.url}/pages/{quoted}.html",
            path=f"/pages/{quoted}.html",
            mime_type="text/html",
            page=True,
        )
        with self._lock:
            self._videos[video_id] = video
        return video

    def page_html(self, video_id: str) -> bytes:
        video = self.video(video_id)
        quoted = urllib.parse.quote(video_id, safe="")
        data = {
            "@context": "https://schema.org",
            "@type": "VideoObject",
            "name": video.title,
            "description": video.description,
            "keywords": ",".join(video.tags),
            "uploadDate": video.published.date().isoformat(),
            "contentUrl": f"{self.url}/videos/{quoted}.mp4",
        }
        return (
            f"<!DOCTYPE html><html><head><title>{escape(video.title)}</title>"
            f'<script type="application/ld+json">{json.dumps(data)}</script></head><body></body></html>'
        ).encode()

    def add_stream(
        self, video_id: str, directory: Path, entry: str, title: str | None = None, live: bool = False
    ) -> Video:
        """Add a video served as the stream `directory/entry` (master.m3u8 or manifest.mpd);
        `live`: an HLS stream still live (its playlists are served without their end)."""
        quoted = urllib.parse.quote(video_id, safe="")
        mime_type = STREAM_TYPES[Path(entry).suffix]
        video = replace(
            self.add_video(video_id, size=0, title=title),
            url=f"{self.url}/streams/{quoted}/{entry}",
            path=f"/streams/{quoted}/{entry}",
            mime_type=mime_type,
            stream_directory=directory,
            live=live,
        )
        with self._lock:
            self._videos[video_id] = video
        return video

    def video(self, video_id: str) -> Video:
        with self._lock:
            return self._videos[video_id]

    def video_bytes(self, video_id: str) -> bytes:
        return b"".join(content(video_id, 0, self.video(video_id).size))

    def feed(self, name: str, video_ids: list[str], thumbnails: Thumbnails = "none") -> str:
        """Set (or replace) a feed's items, given OLDEST FIRST; the XML lists them newest
        first, as real feeds do. `thumbnails` adds <media:thumbnail url>, <itunes:image
        href> or both per item (yt-dlp's flat entries pick up only itunes:image).
        Returns the feed's URL."""
        with self._lock:
            missing = [v for v in video_ids if v not in self._videos]
            if missing:
                raise KeyError(f"no such videos: {missing}")
            self._feeds[name] = list(video_ids)
            self._feed_thumbnails[name] = thumbnails
        return self.feed_url(name)

    def feed_url(self, name: str) -> str:
        return f"{self.url}/feeds/{urllib.parse.quote(name, safe='')}.xml"

    def set_mode(self, video_id: str, mode: VideoMode) -> None:
        if mode not in VIDEO_MODES:
            raise ValueError(mode)
        with self._lock:
            self._video_modes[video_id] = mode

    def set_feed_mode(self, name: str, mode: FeedMode) -> None:
        if mode not in FEED_MODES:
            raise ValueError(mode)
        with self._lock:
            self._feed_modes[name] = mode

    def hold_page(self, video_id: str) -> threading.Event:
        """The video's page (add_page_video) is answered only once the event returned is
        set: a metadata fetch held in flight, for something to happen meanwhile."""
        release = threading.Event()
        with self._lock:
            self._page_holds[video_id] = release
        return release

    def _wait_for_page(self, video_id: str) -> None:
        with self._lock:
            release = self._page_holds.get(video_id)
        if release is not None:
            release.wait(_Handler.timeout)

    def require_cookie(self, video_id: str, cookie: str) -> None:
        """Serve the video only to requests whose Cookie header holds `cookie` ("name=value")."""
        with self._lock:
            self._required_cookies[video_id] = cookie

    def set_thumbnail(self, video_id: str, data: bytes) -> None:
        """Serve `data` as the video's thumbnail (default: a 1x1 JPEG)."""
        with self._lock:
            self._thumbnails[video_id] = data

    def thumbnail(self, video_id: str) -> bytes:
        with self._lock:
            return self._thumbnails.get(video_id, JPEG)

    def redirect(self, video_id: str, url: str) -> None:
        """Answer the video's URL with 302 Found to `url`."""
        with self._lock:
            self._redirects[video_id] = url

    def set_rate(self, bytes_per_s: float | None) -> None:
        """Caps each video response started from now on at `bytes_per_s` (None: no cap)."""
        if bytes_per_s is not None and bytes_per_s <= 0:
            raise ValueError(bytes_per_s)
        self.rate = bytes_per_s

    def requests_for(self, path: str, method: str | None = "GET") -> list[Request]:
        """The log's requests for one path (e.g. `site.video("a").path`)."""
        with self._lock:
            return [r for r in self.requests if r.path == path and method in (None, r.method)]

    def wait_idle(self, timeout: float = 5) -> None:
        """Wait until every logged request has its `end`."""
        with self._done:
            if not self._done.wait_for(lambda: all(r.end is not None for r in self.requests), timeout):
                raise TimeoutError("requests still in flight")

    def start(self) -> ContentSite:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="content-site", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Returns promptly: trickling handlers see `stopping`, others are daemon threads."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ContentSite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # The handlers' side.

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hang up mid-body all the time (yt-dlp's extractor does); say nothing."""

    def _log(self, record: Request) -> None:
        with self._lock:
            self.requests.append(record)

    def _finished(self, record: Request) -> None:
        with self._done:
            record.end = time.monotonic()
            self._done.notify_all()

    def _lookup_video(self, video_id: str) -> tuple[Video | None, VideoMode]:
        with self._lock:
            return self._videos.get(video_id), self._video_modes.get(video_id, "ok")

    def _gate(self, video_id: str, cookie_header: str) -> tuple[HTTPStatus, dict[str, str]] | None:
        """The answer instead of the video's content (a login it wants, a redirect), or None."""
        with self._lock:
            required, location = self._required_cookies.get(video_id), self._redirects.get(video_id)
        if required is not None and required not in [c.strip() for c in cookie_header.split(";")]:
            return HTTPStatus.UNAUTHORIZED, {}
        if location is not None:
            return HTTPStatus.FOUND, {"Location": location}
        return None

    def _render_feed(self, name: str) -> tuple[FeedMode, bytes] | None:
        with self._lock:
            if name not in self._feeds:
                return None
            mode = self._feed_modes.get(name, "ok")
            videos = [self._videos[v] for v in self._feeds[name]]
            thumbnails = self._feed_thumbnails[name]
        if mode == "empty":
            videos = []
        items = []
        for v in reversed(videos):
            extra = ""
            if thumbnails in ("media", "both"):
                extra += f"\n      <media:thumbnail url={quoteattr(v.thumbnail_url)}/>"
            if thumbnails in ("itunes", "both"):
                extra += f"\n      <itunes:image href={quoteattr(v.thumbnail_url)}/>"
            if not v.page:
                extra += "".join(f"\n      <category>{escape(tag)}</category>" for tag in v.tags)
            if v.duration is not None:
                extra += f"\n      <itunes:duration>{v.duration:g}</itunes:duration>"
            items.append(
                f"""    <item>
      <title>{escape(v.title)}</title>
      <guid isPermaLink="false">{escape(v.id)}</guid>
      <description>{escape(v.description)}</description>
      <pubDate>{email.utils.format_datetime(v.published.astimezone(UTC), usegmt=True)}</pubDate>
      <enclosure url={quoteattr(v.url)} length="{v.size}" type="{v.mime_type}"/>{extra}
    </item>
"""
            )
        xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"
     xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
  <channel>
    <title>{escape(name)}</title>
    <link>{escape(self.feed_url(name))}</link>
    <description>Test category {escape(name)}</description>
{"".join(items)}  </channel>
</rss>
"""
        return mode, xml.encode()


STREAM_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".vtt": "text/vtt",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    server: ContentSite
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that stops reading cannot hold a thread forever

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        path = urllib.parse.urlsplit(self.path).path
        self._record = Request(
            time.monotonic(),
            self.command,
            path,
            self.headers.get("Range"),
            {k.lower(): v for k, v in self.headers.items()},
        )
        self.server._log(self._record)
        try:
            self._route(path, body)
        finally:
            self.server._finished(self._record)

    def _route(self, path: str, body: bool) -> None:
        kind, _, rest = path.lstrip("/").partition("/")
        name, dot, ext = urllib.parse.unquote(rest).rpartition(".")
        if kind == "feeds" and dot and ext == "xml":
            self._feed(name, body)
        elif kind in ("videos", "shorts") and dot and ext == "mp4":
            self._video(name, body)
        elif kind == "pages" and dot and ext == "html" and self.server._lookup_video(name)[0]:
            self.server._wait_for_page(name)
            self._whole(HTTPStatus.OK, "text/html; charset=utf-8", self.server.page_html(name), body)
        elif kind == "streams":
            self._stream_file(*urllib.parse.unquote(rest).partition("/")[::2], body)
        elif kind == "thumbs" and dot and ext == "jpg" and self.server._lookup_video(name)[0]:
            self._whole(HTTPStatus.OK, "image/jpeg", self.server.thumbnail(name), body)
        else:
            self._error(HTTPStatus.NOT_FOUND)

    def _head(self, status: int, content_type: str, length: int, extra: dict[str, str] | None = None) -> None:
        self._record.status = int(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _write(self, data: bytes) -> None:
        self._record.sent += len(data)
        try:
            self.wfile.write(data)
        except OSError:
            self._record.sent -= len(data)
            raise

    def _whole(self, status: int, content_type: str, data: bytes, body: bool, **extra: str) -> None:
        self._head(status, content_type, len(data), extra)
        if body:
            self._write(data)

    def _error(self, status: HTTPStatus, **extra: str) -> None:
        data = f"{status.value} {status.phrase}\n".encode()
        self._whole(status, "text/plain", data, self.command != "HEAD", **extra)

    def _feed(self, name: str, body: bool) -> None:
        rendered = self.server._render_feed(name)
        if rendered is None:
            return self._error(HTTPStatus.NOT_FOUND)
        mode, xml = rendered
        if mode == "500":
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR)
        elif mode == "garbage":
            self._whole(HTTPStatus.OK, "text/html", GARBAGE, body)
        else:
            self._whole(HTTPStatus.OK, "application/rss+xml; charset=utf-8", xml, body)

    def _stream_file(self, video_id: str, name: str, body: bool) -> None:
        if (gate := self.server._gate(video_id, self.headers.get("Cookie", ""))) is not None:
            return self._error(gate[0], **gate[1])
        video = self.server._lookup_video(video_id)[0]
        directory = video.stream_directory if video else None
        if directory is None or "/" in name or not (directory / name).is_file():
            return self._error(HTTPStatus.NOT_FOUND)
        content_type = STREAM_TYPES.get(Path(name).suffix, "application/octet-stream")
        data = (directory / name).read_bytes()
        if video is not None and video.live and name.endswith(".m3u8"):
            # A live playlist has no end yet, and is no VOD.
            data = data.replace(b"#EXT-X-ENDLIST\n", b"").replace(b"#EXT-X-PLAYLIST-TYPE:VOD\n", b"")
        self._whole(HTTPStatus.OK, content_type, data, body)

    def _video(self, video_id: str, body: bool) -> None:
        video, mode = self.server._lookup_video(video_id)
        if video is None or mode == "404":
            return self._error(HTTPStatus.NOT_FOUND)
        if (gate := self.server._gate(video_id, self.headers.get("Cookie", ""))) is not None:
            return self._error(gate[0], **gate[1])
        if mode == "500":
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR)
        if mode == "429":
            return self._error(HTTPStatus.TOO_MANY_REQUESTS, **{"Retry-After": "1"})
        size = video.size
        start, end = 0, size
        extra = {"Accept-Ranges": "bytes"}
        status = HTTPStatus.OK
        # A Range this server cannot parse (another unit, several ranges) is ignored, as
        # RFC 9110 allows; one it can parse but not satisfy gets 416.
        if (match := _RANGE.match((self.headers.get("Range") or "").strip())) is not None:
            if not (match[1] or match[2]):
                return self._error(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, **{"Content-Range": f"bytes */{size}"}
                )
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]) + 1, size) if match[2] else size
            else:  # bytes=-N: the last N
                start = max(size - int(match[2]), 0)
            if start >= size or start >= end:
                return self._error(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, **{"Content-Range": f"bytes */{size}"}
                )
            status = HTTPStatus.PARTIAL_CONTENT
            extra["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        self._head(status, "video/mp4", end - start, extra)
        if not body:
            return
        if mode == "truncated":
            # Nothing past the video's middle is ever sent, so resuming cannot finish it.
            for piece in content(video_id, start, max(start, min(end, size // 2))):
                self._write(piece)
            self.close_connection = True
        elif mode == "stall":
            self.wfile.flush()
            self.server.stopping.wait()
            self.close_connection = True
        elif mode == "trickle":
            position = start
            while position < end and not self.server.stopping.is_set():
                piece = b"".join(content(video_id, position, min(position + TRICKLE_CHUNK, end)))
                self._write(piece)
                self.wfile.flush()
                position += len(piece)
                self.server.stopping.wait(TRICKLE_PAUSE)
            self.close_connection = True
        elif self.server.rate is not None:
            rate, began = self.server.rate, time.monotonic()
            for piece in content(video_id, start, end, max(1, int(rate / RATE_STEPS))):
                # Wait until sending this piece keeps the response's average at the rate.
                if self.server.stopping.wait(max(0.0, began + self._record.sent / rate - time.monotonic())):
                    self.close_connection = True
                    return
                self._write(piece)
        else:
            for piece in content(video_id, start, end):
                self._write(piece)


@contextlib.contextmanager
def content_site(host: str = "127.0.0.1") -> Iterator[ContentSite]:
    """A site on `host`: another loopback address (127.0.0.2) is another website."""
    with ContentSite(host) as site:
        yield site


@pytest.fixture
def site() -> Iterator[ContentSite]:
    """A fresh content site per test."""
    with content_site() as s:
        yield s
