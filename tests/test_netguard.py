"""Every URL the service fetches passes the allow-list and refuses internal addresses:
netguard.check_url with a fake resolver, then real yt-dlp against local servers (a feed
enclosing other hosts' URLs, redirects to them), where a trap server on an address the
tests do not list proves that a refused request never reaches its target."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yt_dlp
from yt_dlp.downloader.external import FFmpegFD

from scheduler.pipeline import ytdlp
from scheduler.pipeline.ytdlp.download import download as download_video
from scheduler.pipeline.ytdlp.listing import list_category, listed_videos
from scheduler.pipeline.ytdlp.overrides import GuardedYoutubeDL
from scheduler.settings import DownloaderSettings, from_overrides
from scheduler.sites import netguard
from scheduler.sites.netguard import Refused, check_url
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Database
from tests.content_site import ContentSite, content_site
from tests.test_pipeline import pipeline_settings, wait_for
from tests.test_pipeline import serving as running_pipeline

ALLOWED = ("127.0.0.1",)  # where the test servers listen; 127.0.0.2 and 127.0.0.3 are not listed


# check_url, with a fake resolver.


def resolver(*addresses: str) -> netguard.Resolver:
    """Resolves every name to `addresses`, as getaddrinfo would."""

    def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
        return [(socket.AF_UNSPEC, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def refusal(url: str, allowed: tuple[str, ...], resolve: netguard.Resolver | None = None) -> str:
    with pytest.raises(Refused) as caught:
        check_url(url, allowed, resolver("203.0.113.9") if resolve is None else resolve)
    return str(caught.value)


def test_a_public_address_passes() -> None:
    check_url("https://www.example.com/v.mp4", ("*.example.com",), resolver("93.184.215.14", "2606:2800::1"))


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: judged as its IPv4
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-global"),  # shared (carrier-grade NAT)
    ],
)
def test_internal_addresses_are_refused(address: str, kind: str) -> None:
    shown = ipaddress.ip_address(address.partition("%")[0])  # ::ffff:7f00:1 in Python 3.11
    assert refusal("https://cdn.example.com/v", ("*.example.com",), resolver(address)) == (
        f"refused https://cdn.example.com/v: host cdn.example.com resolves to {shown}, a {kind} address"
    )


def test_one_internal_address_among_public_ones_refuses() -> None:
    resolve = resolver("93.184.215.14", "10.0.0.7")
    assert "resolves to 10.0.0.7, a private address" in refusal(
        "http://a.example.com/", ("*.example.com",), resolve
    )


def test_an_address_listed_exactly_passes() -> None:
    check_url("http://media.example.com/v", ("*.example.com", "10.0.0.7"), resolver("10.0.0.7"))
    assert "10.0.0.8, a private" in refusal(
        "http://media.example.com/v", ("*.example.com", "10.0.0.7"), resolver("10.0.0.7", "10.0.0.8")
    )


def test_a_host_listed_exactly_is_trusted_wherever_it_points() -> None:
    def no_lookup(host: str, port: int) -> list[tuple[Any, ...]]:
        raise AssertionError("resolved a host listed exactly")

    check_url("http://mirror.internal:8080/v", ("mirror.internal",), no_lookup)
    check_url("http://127.0.0.1:5432/", ("127.0.0.1",), no_lookup)  # any port of a listed address


def test_a_wildcard_never_allows_an_internal_address() -> None:
    allowed = ("*.example.com", "example.com")
    assert "a loopback address" in refusal("http://evil.example.com/", allowed, resolver("127.0.0.1"))
    assert "a link-local address" in refusal("http://x.y.example.com/", allowed, resolver("169.254.169.254"))


def test_the_name_is_compared_canonically_and_resolved_with_the_port() -> None:
    calls = []

    def resolve(host: str, port: int) -> Sequence[tuple[Any, ...]]:
        calls.append((host, port))
        return resolver("93.184.215.14")(host, port)

    check_url("HTTPS://WWW.Example.COM./v", ("*.example.com",), resolve)
    check_url("http://www.example.com:8080/v", ("*.example.com",), resolve)
    assert calls == [("www.example.com", 443), ("www.example.com", 8080)]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https URLs are fetched"),
        ("ftp://127.0.0.1/x", "only http and https URLs are fetched"),
        ("gopher://127.0.0.1:6379/_INFO", "only http and https URLs are fetched"),
        ("data:text/plain,hi", "only http and https URLs are fetched"),
        ("//127.0.0.1/x", "only http and https URLs are fetched"),
        ("http:///x", "names no host"),
        ("http://127.0.0.1:99999/", "not a valid URL"),
        ("http://169.254.169.254/latest/meta-data", "host 169.254.169.254 is not allowed"),
        ("http://127.0.0.2:5432/", "host 127.0.0.2 is not allowed"),
        ("http://[::1]/", "host ::1 is not allowed"),
        ("http://localhost/", "host localhost is not allowed"),
        ("http://evil.com/", "host evil.com is not allowed"),
        # Numeric shorthands of 127.0.0.1, around an address allow-list.
        ("http://2130706433/", "host '2130706433' is not a valid host name"),
        ("http://127.1/", "host '127.1' is not a valid host name"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    assert refusal(url, ("127.0.0.1", "*.example.com")) == f"refused {url}: {reason}"


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def fails(host: str, port: int) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert refusal("http://gone.example.com/", ("*.example.com",), fails).endswith(
        "host gone.example.com does not resolve ([Errno -2] Name or service not known)"
    )
    assert refusal("http://gone.example.com/", ("*.example.com",), resolver()).endswith("does not resolve")


def test_refused_is_one_short_line() -> None:
    text = refusal("http://evil.com/" + "a\nb" * 100, ())
    assert text.startswith("refused http://evil.com/a\\nba\\nb") and "\n" not in text
    assert text.endswith("...: host evil.com is not allowed") and len(text) < 200


def test_listed_videos_drops_and_reports_refused_entries() -> None:
    entries = [
        {"url": "http://127.0.0.1:1/new.mp4", "id": "new"},
        {"url": "http://169.254.169.254/latest/meta-data", "id": "meta"},
        {"url": "http://127.0.0.1:1/old.mp4", "id": "old"},
        {"url": "file:///etc/passwd"},
    ]
    listing = listed_videos(entries, "127.0.0.1", lambda url: check_url(url, ALLOWED))
    assert [v.foreign_id for v in listing.videos] == ["old", "new"]
    assert listing.refused == [
        "refused http://169.254.169.254/latest/meta-data: host 169.254.169.254 is not allowed",
        "refused file:///etc/passwd: only http and https URLs are fetched",
    ]


# Real yt-dlp against local servers.


class Server(ThreadingHTTPServer):
    """A tiny site: fixed responses by path; every request's path is logged."""

    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.base = f"http://{host}:{self.server_address[1]}"
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []

    def redirect(self, path: str, location: str) -> str:
        self.routes[path] = (302, {"Location": location}, b"")
        return self.base + path

    def page(self, path: str, content_type: str, body: str | bytes) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = (200, {"Content-Type": content_type}, data)
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        status, headers, body = self.server.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in (headers | {"Content-Length": str(len(body))}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def serving(host: str) -> Iterator[Server]:
    server = Server(host)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def origin() -> Iterator[Server]:
    """On 127.0.0.1, which the tests allow: feeds and redirects."""
    with serving("127.0.0.1") as server:
        yield server


@pytest.fixture
def trap() -> Iterator[Server]:
    """On 127.0.0.3, which no test allows: it must never see a request."""
    with serving("127.0.0.3") as server:
        server.page("/v.mp4", "video/mp4", b"\0" * 1000)
        yield server


@pytest.fixture
def site() -> Iterator[ContentSite]:
    with content_site() as s:
        s.add_video("a", size=20_000)
        yield s


@pytest.fixture
def settings() -> DownloaderSettings:
    return from_overrides({}).downloader


@pytest.fixture
def trap_name(monkeypatch: pytest.MonkeyPatch, trap: Server) -> str:
    """trap.test, a name under an allowed "*.test", resolves to the trap's 127.0.0.3 for
    everyone: the check and the connection yt-dlp would make."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.3" if host == "trap.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "trap.test"


def download(
    url: str, tmp_path: Path, settings: DownloaderSettings, allowed: tuple[str, ...] = ALLOWED
) -> Any:
    return download_video(url, tmp_path, settings, ytdlp.Progress(), allowed)


def test_listing_drops_and_reports_entries_that_point_elsewhere(
    origin: Server, site: ContentSite, trap_name: str, settings: DownloaderSettings
) -> None:
    enclosures = [
        site.video("a").url,
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.2:5432/",
        f"http://{trap_name}/v.mp4",
        "file:///etc/passwd",
    ]
    items = "".join(
        f'<item><title>t{i}</title><guid>g{i}</guid><enclosure url="{url}" type="video/mp4"/></item>'
        for i, url in enumerate(enclosures)
    )
    feed = origin.page(
        "/feed.xml",
        "application/rss+xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>c</title><link>{origin.base}</link>'
        f"<description>d</description>{items}</channel></rss>",
    )
    listing = list_category(feed, "127.0.0.1", settings, (*ALLOWED, "*.test"))
    assert [(v.foreign_id, v.url) for v in listing.videos] == [("g0", site.video("a").url)]
    assert listing.refused == [
        "refused http://169.254.169.254/latest/meta-data: host 169.254.169.254 is not allowed",
        "refused http://127.0.0.2:5432/: host 127.0.0.2 is not allowed",
        "refused http://trap.test/v.mp4: host trap.test resolves to 127.0.0.3, a loopback address",
        "refused file:///etc/passwd: only http and https URLs are fetched",
    ]


def test_a_listing_redirected_to_a_refused_host_fails(
    origin: Server, trap: Server, settings: DownloaderSettings
) -> None:
    feed = origin.redirect("/feed.xml", trap.base + "/feed.xml")
    with pytest.raises(
        ytdlp.RefusedUrl, match=r"^refused http://127\.0\.0\.3:\d+/feed\.xml: host 127\.0\.0\.3 is"
    ):
        list_category(feed, "127.0.0.1", settings, ALLOWED)
    assert trap.requests == []


@pytest.mark.parametrize("hops", [0, 2])
def test_a_download_redirected_to_a_refused_host_fails_before_reaching_it(
    hops: int, origin: Server, trap: Server, tmp_path: Path, settings: DownloaderSettings
) -> None:
    url = origin.redirect("/hop0", trap.base + "/v.mp4")
    for hop in range(1, hops + 1):  # allowed hops first: every hop is checked, not only the first
        url = origin.redirect(f"/hop{hop}", url)
    with pytest.raises(ytdlp.RefusedUrl) as caught:
        download(url, tmp_path, settings)
    assert str(caught.value) == f"refused {trap.base}/v.mp4: host 127.0.0.3 is not allowed"
    assert trap.requests == []
    assert len(origin.requests) >= hops + 1


def test_a_redirect_to_localhost_is_refused_though_127_0_0_1_is_allowed(
    origin: Server, tmp_path: Path, settings: DownloaderSettings
) -> None:
    origin.page("/secret", "video/mp4", b"\0" * 1000)
    url = origin.redirect("/go", f"http://localhost:{origin.server_address[1]}/secret")
    with pytest.raises(ytdlp.RefusedUrl, match="host localhost is not allowed"):
        download(url, tmp_path, settings)
    assert "/secret" not in origin.requests


def test_a_redirect_to_the_metadata_address_is_refused(
    origin: Server, tmp_path: Path, settings: DownloaderSettings
) -> None:
    url = origin.redirect("/go", "http://169.254.169.254/latest/meta-data")
    with pytest.raises(ytdlp.RefusedUrl, match=re.escape("host 169.254.169.254 is not allowed")):
        download(url, tmp_path, settings)


def test_a_redirect_to_a_file_is_not_followed(
    origin: Server, tmp_path: Path, settings: DownloaderSettings
) -> None:
    url = origin.redirect("/go", "file:///etc/passwd")
    with pytest.raises(ytdlp.YtdlpError, match="HTTP Error 302"):  # urllib refuses it before we would
        download(url, tmp_path, settings)
    assert list(tmp_path.iterdir()) == []


def test_a_name_an_allowed_wildcard_covers_is_refused_when_it_resolves_to_loopback(
    origin: Server, trap: Server, trap_name: str, tmp_path: Path, settings: DownloaderSettings
) -> None:
    url = origin.redirect("/go", f"http://{trap_name}:{trap.server_address[1]}/v.mp4")
    with pytest.raises(
        ytdlp.RefusedUrl, match=re.escape("host trap.test resolves to 127.0.0.3, a loopback address")
    ):
        download(url, tmp_path, settings, (*ALLOWED, "*.test"))
    assert trap.requests == []
    # The control: yt-dlp unguarded does follow it to the trap.
    with yt_dlp.YoutubeDL({"quiet": True, "outtmpl": str(tmp_path / "plain.%(ext)s")}) as ydl:
        ydl.extract_info(url)
    assert trap.requests


@pytest.fixture
def rebinding_name(monkeypatch: pytest.MonkeyPatch, trap: Server) -> Iterator[tuple[str, list[str]]]:
    """rebind.test, under an allowed "*.test": a name that answers a public address to
    the check's lookup and the trap's 127.0.0.3 to the connection's (yt-dlp asks for
    SOCK_STREAM addresses, the check for any): what a rebinding name does between the
    two. Yields the name and, per lookup of it, what was answered."""
    real = socket.getaddrinfo
    answered: list[str] = []

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, *args: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, family, type, *args)
        address = "127.0.0.3" if type == socket.SOCK_STREAM else "93.184.216.34"
        answered.append(address)
        return real(address, port, family, type, *args)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield "rebind.test", answered


def test_a_name_that_rebinds_between_the_check_and_the_connection_is_refused(
    origin: Server,
    trap: Server,
    rebinding_name: tuple[str, list[str]],
    tmp_path: Path,
    settings: DownloaderSettings,
) -> None:
    name, answered = rebinding_name
    url = f"http://{name}:{trap.server_address[1]}/v.mp4"
    with pytest.raises(ytdlp.RefusedUrl) as caught:
        download(url, tmp_path, settings, (*ALLOWED, "*.test"))

    assert str(caught.value) == (
        "refused rebind.test: host rebind.test resolves to 127.0.0.3, a loopback address, when connecting"
    )
    assert "93.184.216.34" in answered and "127.0.0.3" in answered  # the check passed; the connection did not
    assert trap.requests == []


def test_a_thumbnail_behind_a_rebinding_name_is_not_fetched(
    origin: Server,
    trap: Server,
    rebinding_name: tuple[str, list[str]],
    tmp_path: Path,
    settings: DownloaderSettings,
) -> None:
    origin.page("/v.mp4", "video/mp4", b"\0" * 2000)
    page = origin.page(
        "/page.html",
        "text/html",
        f'<html><head><title>p</title><meta property="og:image" '
        f'content="http://{rebinding_name[0]}:{trap.server_address[1]}/t.jpg"></head>'
        f'<body><video src="{origin.base}/v.mp4"></video></body></html>',
    )
    assert download(page, tmp_path, settings, (*ALLOWED, "*.test")).thumbnail_path is None
    assert trap.requests == []


def test_check_connection_judges_the_address_connected_to() -> None:
    netguard.check_connection("cdn.example", "93.184.216.34", ("*.example",))
    netguard.check_connection("db.internal", "10.0.0.5", ("db.internal",))  # the host listed exactly
    netguard.check_connection("cdn.example", "10.0.0.5", ("*.example", "10.0.0.5"))  # the address listed
    with pytest.raises(Refused, match=re.escape("resolves to 10.0.0.5, a private address, when connecting")):
        netguard.check_connection("cdn.example", "10.0.0.5", ("*.example",))
    with pytest.raises(
        Refused, match=re.escape("resolves to ::ffff:7f00:1, a loopback address, when connecting")
    ):
        netguard.check_connection("CDN.Example.", "::ffff:127.0.0.1", ("*.example",))


def test_a_redirect_within_the_allowed_host_still_downloads(
    origin: Server, site: ContentSite, tmp_path: Path, settings: DownloaderSettings
) -> None:
    url = origin.redirect("/go", site.video("a").url)
    downloaded = download(url, tmp_path, settings)
    assert downloaded.video_path.read_bytes() == site.video_bytes("a")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://127.0.0.3:{port}/v.mp4"])
def test_a_refused_video_url_is_not_fetched_at_all(
    url: str, trap: Server, tmp_path: Path, settings: DownloaderSettings
) -> None:
    with pytest.raises(ytdlp.RefusedUrl, match=r"^refused "):
        download(url.format(port=trap.server_address[1]), tmp_path, settings)
    assert trap.requests == []


def test_requests_from_downloaders_go_through_the_checks_too(
    origin: Server, trap: Server, tmp_path: Path, settings: DownloaderSettings
) -> None:
    """HLS fragments (HlsFD) and thumbnails: the trap's are refused, the allowed ones
    fetched. A refused fragment fails the download (no video with a hole in it); a
    refused thumbnail is only skipped."""
    origin.page("/seg0.ts", "video/mp2t", b"\x47" + b"\0" * 187)
    playlist = origin.page(
        "/list.m3u8",
        "application/vnd.apple.mpegurl",
        f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{origin.base}/seg0.ts\n"
        f"#EXTINF:1.0,\n{trap.base}/seg1.ts\n#EXT-X-ENDLIST\n",
    )
    with pytest.raises(ytdlp.YtdlpError, match=r"refused http://127\.0\.0\.3:\d+/seg1\.ts"):
        download(playlist, tmp_path / "hls", settings)
    page = origin.page(
        "/page.html",
        "text/html",
        f'<html><head><title>p</title><meta property="og:image" content="{trap.base}/t.jpg"></head>'
        f'<body><video src="{origin.base}/seg0.ts"></video></body></html>',
    )
    assert download(page, tmp_path / "page", settings).thumbnail_path is None
    assert "/seg0.ts" in origin.requests
    assert trap.requests == []


def test_yt_dlp_sends_through_the_checked_handler_alone_and_ffmpeg_fetches_nothing() -> None:
    with GuardedYoutubeDL({"quiet": True}, ALLOWED) as ydl:
        assert [type(h).__name__ for h in ydl._request_director.handlers.values()] == ["_CheckedUrllibRH"]
        assert ydl.params["enable_file_urls"] is False
        # HlsFD hands some streams to ffmpeg directly: ffmpeg may then open no network input.
        ffmpeg = FFmpegFD(ydl, ydl.params)
        assert ffmpeg._configuration_args(("_i1", "_i")) == ["-protocol_whitelist", "crypto,data"]


@pytest.mark.parametrize(
    ("format", "downloader"),
    [
        ({"protocol": "rtmp", "url": "rtmp://127.0.0.1/live"}, "RtmpFD"),
        ({"protocol": "m3u8_native", "url": "http://127.0.0.1/l.m3u8", "is_live": True}, "FFmpegFD"),
        ({"protocol": "websocket_frag", "url": "ws://127.0.0.1/"}, "WebSocketFragmentFD"),
    ],
)
def test_downloaders_that_connect_on_their_own_are_refused(
    format: dict[str, Any], downloader: str, tmp_path: Path
) -> None:
    info = {"id": "x", "ext": "mp4", **format}
    with GuardedYoutubeDL({"quiet": True}, ALLOWED) as ydl, pytest.raises(Refused) as caught:
        ydl.dl(str(tmp_path / "x.mp4"), info)
    assert caught.value.reason == f"needs {downloader}, which fetches outside the checks"


async def test_refused_entries_and_redirects_are_recorded_and_never_fetched(
    database_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    with content_site() as site, serving("127.0.0.1") as origin, serving("127.0.0.3") as trap:
        site.add_video("a")
        origin.redirect("/go", trap.base + "/v.mp4")
        enclosures = [site.video("a").url, "http://169.254.169.254/latest/meta-data", origin.base + "/go"]
        items = "".join(
            f'<item><title>t{i}</title><guid>g{i}</guid><enclosure url="{u}" type="video/mp4"/></item>'
            for i, u in enumerate(enclosures)
        )
        feed = origin.page(
            "/feed.xml",
            "application/rss+xml",
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>c</title><link>{origin.base}</link>'
            f"<description>d</description>{items}</channel></rss>",
        )
        settings = pipeline_settings(database_url, redis_url, tmp_path, downloader={"attempts": 1})
        async with running_pipeline(settings) as (_, api):
            await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
            await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 1)
            await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'failed'", 1)
        messages = [r[0] for r in await db.fetch("SELECT message FROM archival_events ORDER BY id")]
        assert (
            "entry refused http://169.254.169.254/latest/meta-data: host 169.254.169.254 is not allowed"
            in messages
        )
        assert "synced: 2 listed, 2 new, 1 refused" in messages
        assert any(m.endswith(f"refused {trap.base}/v.mp4: host 127.0.0.3 is not allowed") for m in messages)
        assert trap.requests == []
