"""yt-dlp as a library, for worker threads: list a category, download one video.

Everything here blocks; callers run it with `trio.to_thread.run_sync` (never
abandoning the thread). A YoutubeDL instance is not thread-safe, so each call makes
its own. The progress hook (downloads) and the logger (listings) ask Trio whether the
calling task was cancelled and stop yt-dlp if so: a cancelled Trio scope (a timeout,
CancelDownload, a shutdown) really stops the thread's work.

Every URL fetched passes `netguard.check_url` (against SSRF): the listing's entries, the
video's URL, and every request yt-dlp then sends, each redirect included (see
`GuardedYoutubeDL`); and every connection, at the address it connects to
(`_CheckEveryConnection`, against DNS rebinding).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import http.client
import logging
import socket
import ssl
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio
import yt_dlp
from yt_dlp.cookies import YoutubeDLCookieJar
from yt_dlp.dependencies import yt_dlp_ejs
from yt_dlp.downloader import get_suitable_downloader
from yt_dlp.downloader.dash import DashSegmentsFD
from yt_dlp.downloader.f4m import F4mFD
from yt_dlp.downloader.hls import HlsFD
from yt_dlp.downloader.http import HttpFD
from yt_dlp.downloader.ism import IsmFD
from yt_dlp.downloader.mhtml import MhtmlFD
from yt_dlp.extractor import gen_extractor_classes
from yt_dlp.extractor.generic import GenericIE
from yt_dlp.networking._helper import _socket_connect as socket_connect
from yt_dlp.networking._helper import create_connection, make_ssl_context
from yt_dlp.networking._urllib import HTTPHandler as YtdlpHTTPHandler
from yt_dlp.networking._urllib import UrllibRH
from yt_dlp.networking._urllib import _create_http_connection as create_http_connection
from yt_dlp.networking.exceptions import TransportError
from yt_dlp.postprocessor.ffmpeg import FFmpegMergerPP
from yt_dlp.utils import KNOWN_EXTENSIONS, DownloadCancelled, determine_ext, unsmuggle_url

from scheduler import netguard, programs
from scheduler.pipeline.sanitize import MAX_THUMBNAIL, clean_tags, image_suffix, without_cookies
from scheduler.settings import DownloaderSettings
from scheduler.work import ListedVideo

log = logging.getLogger(__name__)
VIDEO_STEM = "video"
THUMBNAIL_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")


class YtdlpError(Exception):
    """yt-dlp could not list or download; str() is its one-line reason."""


class TooLarge(YtdlpError):
    pass


class RefusedUrl(YtdlpError):
    """A URL it needed (the video's, a redirect's, ...) failed netguard.check_url;
    str() is the Refused reason."""


def stop_if_cancelled() -> None:
    """Raises DownloadCancelled in the worker thread once the Trio task that runs it is cancelled."""
    try:
        trio.from_thread.check_cancelled()
    except trio.Cancelled:
        raise DownloadCancelled() from None
    except RuntimeError:
        pass  # called outside trio.to_thread (a plain call): nothing can cancel it


class _Logger:
    """yt-dlp's output goes to our log (never stdout), and every line is a chance to stop."""

    def debug(self, message: str) -> None:
        stop_if_cancelled()
        log.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        stop_if_cancelled()
        log.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        log.debug("yt-dlp: %s", message)


def _common_options(settings: DownloaderSettings) -> dict[str, Any]:
    runtime, ffmpeg = programs.js_runtime(settings.js_runtime), programs.ffmpeg(settings.ffmpeg)
    options: dict[str, Any] = {
        "quiet": True,
        "noprogress": True,
        "no_warnings": True,
        "logger": _Logger(),
        "socket_timeout": settings.socket_timeout_s,
        "http_headers": {"Accept-Language": settings.accept_language} if settings.accept_language else {},
        "noplaylist": True,
        "color": {"stdout": "never", "stderr": "never"},
        # yt-dlp's default is a deno from PATH: name the one we ship, or none at all.
        "js_runtimes": {"deno": {"path": runtime}} if runtime else {},
    }
    if ffmpeg:
        options["ffmpeg_location"] = ffmpeg
    if settings.proxy:
        options["proxy"] = settings.proxy
    return options


# Downloaders that fetch only through ydl.urlopen, so through the checked handler. Others
# (ffmpeg, aria2c, rtmpdump, websockets) open connections of their own.
_CHECKED_DOWNLOADERS = (HttpFD, HlsFD, DashSegmentsFD, IsmFD, F4mFD, MhtmlFD)
_GUARD_OPTIONS: dict[str, Any] = {
    "enable_file_urls": False,
    "hls_prefer_native": True,  # HLS by HlsFD, not ffmpeg
    # A fragment that cannot be fetched (refused among others) fails the download instead
    # of leaving a video with a hole in it.
    "skip_unavailable_fragments": False,
    # HlsFD hands streams it cannot read (some encryptions) to ffmpeg itself, bypassing
    # `dl`: no network protocol for ffmpeg's input, so that fails instead of fetching.
    "external_downloader_args": {"ffmpeg_i": ["-protocol_whitelist", "crypto,data"]},
    # The challenge solver's scripts come from the yt-dlp-ejs package; none is fetched from
    # npm or GitHub at run time (yt-dlp's default too, stated here as a guard).
    "remote_components": [],
}


class _RefusedRequest(TransportError):  # type: ignore[misc]  # yt-dlp is untyped
    """A refused request, as yt-dlp's networking reports failures: a RequestError (yt-dlp
    passes those on; any other exception from a handler is logged as a bug and the next
    handler tried), a TransportError (yt-dlp treats it as an unreachable server: an
    optional request such as a thumbnail is skipped, a needed one fails)."""


class _CheckEveryRequest(urllib.request.BaseHandler):
    """In a urllib opener: check_url on each request it opens, before connecting. A
    redirect is opened as a new request, so every hop passes here."""

    handler_order = 1000  # after yt-dlp's preprocessing rewrote the URL: check what is sent

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self._allowed = allowed

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        try:
            netguard.check_url(request.full_url, self._allowed)
        except netguard.Refused as refused:
            raise _RefusedRequest(str(refused), cause=refused) from refused
        return request

    # ftp is refused by check_url; urllib would otherwise follow a redirect to it.
    https_request = ftp_request = http_request


class _CheckEveryConnection(urllib.request.BaseHandler):
    """In a urllib opener, before yt-dlp's HTTPHandler: opens http(s) requests through it,
    with connections that look the host up once and connect only to an address that
    passes netguard.check_connection (against DNS rebinding: the request's check looked
    the name up a moment before, and may have got another answer). TLS still verifies the
    host name. A request through an HTTP proxy is left to yt-dlp's handler: the proxy
    connects, not us; a SOCKS proxy's connection class connects on its own likewise."""

    handler_order = 499  # before yt-dlp's HTTPHandler (500), which opens what this leaves

    def __init__(self, http: YtdlpHTTPHandler, allowed: tuple[str, ...]) -> None:
        self._http = http
        self._allowed = allowed

    def http_open(self, request: urllib.request.Request) -> Any:
        return self._open(request, http.client.HTTPConnection)

    def https_open(self, request: urllib.request.Request) -> Any:
        return self._open(request, http.client.HTTPSConnection, context=self._http._context)

    def _open(self, request: urllib.request.Request, base: type, **kwargs: Any) -> Any:
        if request.has_proxy():
            return None
        connection_class = self._http._make_conn_class(base, request)
        return self._http.do_open(functools.partial(self._connection, connection_class), request, **kwargs)

    def _connection(self, connection_class: type, *args: Any, **kwargs: Any) -> Any:
        # yt-dlp's own connection factory (source address and all), then our connect.
        connection = create_http_connection(connection_class, self._http._source_address, *args, **kwargs)
        connection._create_connection = self._connect
        return connection

    def _connect(self, address: tuple[str, int], timeout: Any, source_address: Any = None) -> socket.socket:
        host = address[0]

        def checked(info: tuple[Any, ...], timeout: Any, source_address: Any) -> socket.socket:
            try:
                netguard.check_connection(host, str(info[4][0]), self._allowed)
            except netguard.Refused as refused:
                raise _RefusedRequest(str(refused), cause=refused) from refused
            connected: socket.socket = socket_connect(info, timeout, source_address)
            return connected

        # yt-dlp's own: one lookup, then each address in turn (each checked first).
        sock: socket.socket = create_connection(address, timeout, source_address, _create_socket_func=checked)
        return sock


class _CheckedUrllibRH(UrllibRH):  # type: ignore[misc]
    """yt-dlp's urllib request handler, its openers checking every request and every
    connection."""

    def __init__(self, *, allowed: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._allowed = allowed

    def _make_sslcontext(self, legacy_ssl_support: bool | None = None) -> ssl.SSLContext:
        # One context per set of options for the process: each handler would load the CA
        # bundle again (about 17 ms of CPU per download); contexts are safe to share.
        legacy = legacy_ssl_support if legacy_ssl_support is not None else self.legacy_ssl_support
        return _ssl_context(self.verify, legacy, self.prefer_system_certs, *self._client_cert.items())

    def _create_instance(self, *args: Any, **kwargs: Any) -> Any:
        opener = super()._create_instance(*args, **kwargs)
        opener.add_handler(_CheckEveryRequest(self._allowed))
        http_handler = next(h for h in opener.handlers if isinstance(h, YtdlpHTTPHandler))
        opener.add_handler(_CheckEveryConnection(http_handler, self._allowed))
        return opener


@functools.cache
def _ssl_context(
    verify: bool, legacy: bool, system_certs: bool, *client_cert: tuple[str, Any]
) -> ssl.SSLContext:
    context: ssl.SSLContext = make_ssl_context(
        verify=verify, legacy_support=legacy, use_certifi=not system_certs, **dict(client_cert)
    )
    return context


MEDIA_RSS = "http://search.yahoo.com/mrss/"


class FeedAwareGenericIE(GenericIE):  # type: ignore[misc]
    """yt-dlp's generic extractor, reading more of a feed item than yt-dlp does: Media
    RSS's <media:thumbnail> where there is no <itunes:image>, and the item's <category>
    elements as its tags (RSS 2.0's way to tag an item; the content categories use them)."""

    @classmethod
    def ie_key(cls) -> str:
        return str(GenericIE.ie_key())

    def _extract_rss(self, url: str, video_id: str, doc: Any) -> Any:
        info = super()._extract_rss(url, video_id, doc)
        # The entries are the items with an enclosure or a link, in order (as yt-dlp makes them).
        items = [it for it in doc.findall("./channel/item") if it.find("./enclosure") is not None
                 or (it.findtext("link") or "").strip()]  # fmt: skip
        for item, entry in zip(items, info["entries"], strict=False):
            image = item.find(f"./{{{MEDIA_RSS}}}thumbnail")
            if not entry.get("thumbnail") and image is not None and image.get("url"):
                entry["thumbnail"] = image.get("url")
            tags = [c.text.strip() for c in item.findall("./category") if c.text and c.text.strip()]
            if tags and not entry.get("tags"):
                entry["tags"] = tags
        return info


@functools.cache
def _default_extractors() -> tuple[Any, ...]:
    """The extractor classes YoutubeDL adds by default, in its order: those enabled, each
    name once (tests/test_ytdlp_setup.py compares them with a stock YoutubeDL's)."""
    by_name = {ie.IE_NAME.lower(): ie for ie in gen_extractor_classes()}
    return tuple(ie for ie in by_name.values() if ie._ENABLED)


@dataclass(frozen=True)
class Programs:
    """What yt-dlp, set up as for a download, finds to run."""

    js_runtime: str | None  # "deno 2.9.8 at /path" when it would solve challenges with it
    js_runtime_problem: str  # why it would not ("" when it would)
    ffmpeg: str | None  # "ffmpeg 9.0.2 at /path" when it can merge streams
    solver_scripts: str | None  # the yt-dlp-ejs version, when installed


def detect_programs(settings: DownloaderSettings) -> Programs:
    """yt-dlp's own detection (it runs each program's --version), for `scheduler doctor`."""
    with GuardedYoutubeDL(_common_options(settings), ()) as ydl:
        runtime = ydl._js_runtimes.get("deno")
        info = runtime.info if runtime is not None else None
        if info is None:
            problem = "none configured" if runtime is None else "it does not run"
        else:
            problem = "" if info.supported else f"version {info.version} is older than yt-dlp supports"
        merger = FFmpegMergerPP(ydl)
        ffmpeg = f"ffmpeg {merger._versions['ffmpeg']} at {merger.executable}" if merger.available else None
    js = f"deno {info.version} at {info.path}" if info is not None else None
    return Programs(js, problem, ffmpeg, getattr(yt_dlp_ejs, "version", None) if yt_dlp_ejs else None)


def prepare(settings: DownloaderSettings) -> None:
    """What yt-dlp sets up lazily on first use (its extractor registry) and where the
    programs it runs are, done once in the calling thread before any worker thread starts:
    that lazy set-up is not thread-safe (Python's sysconfig read None for EXE under the
    start's concurrent first calls; one CI run had a process whose every listing then found
    no extractor), and the first listing, the warm-up and the start's checks would race."""
    _default_extractors()
    programs.js_runtime(settings.js_runtime)
    programs.ffmpeg(settings.ffmpeg)


def warm_up() -> None:
    """What the first downloads would otherwise all pay for at once, done in a thread at
    start: yt-dlp compiles an extractor's URL patterns the first time it tries it, and a
    URL only the generic extractor takes is tried against ~1,800 (0.4 s of CPU)."""
    for ie in (*_default_extractors(), FeedAwareGenericIE):
        try:
            ie.suitable("")
        except Exception as error:  # only a head start: the download would try it again
            log.debug("warming up %s: %r", ie.ie_key(), error)


class GuardedYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]
    """A YoutubeDL whose every request and redirect passes check_url, and which
    downloads only with downloaders that fetch through those requests. `cookies` (a
    site's logged-in session) go into a jar of its own, never saved anywhere."""

    def __init__(
        self, params: dict[str, Any], allowed: tuple[str, ...], cookies: Iterable[Cookie] = ()
    ) -> None:
        self._allowed = allowed  # before YoutubeDL.__init__, which may send requests
        self._cookies = tuple(cookies)
        super().__init__(params | _GUARD_OPTIONS)

    @functools.cached_property
    def cookiejar(self) -> YoutubeDLCookieJar:
        # yt-dlp's own loads `cookiefile` and writes it back on close; this one is a copy
        # of the site's cookies for this instance alone (the jar changes them as sites
        # answer), and with no `cookiefile` yt-dlp has nothing to save.
        jar = YoutubeDLCookieJar()
        for cookie in self._cookies:
            jar.set_cookie(copy.copy(cookie))
        return jar

    def add_default_info_extractors(self) -> None:
        # YoutubeDL works this list out per instance in quadratic time (orderedSet over
        # ~1,800 names): about 40 ms of CPU per download. The same list, worked out once.
        # (We never set `allowed_extractors`, the option that would change it.) yt-dlp makes
        # an extractor's instance from its own registry by name: the generic one that also
        # reads Media RSS thumbnails is added as an instance, so that it is the one used.
        for ie in _default_extractors():
            self.add_info_extractor(FeedAwareGenericIE() if ie.ie_key() == GenericIE.ie_key() else ie)

    def _forceprint(self, key: str, info_dict: Any) -> Any:
        # --print's templates: yt-dlp renders the format, thumbnail and subtitle tables for
        # them before it looks whether there are any (five times a download). We set none.
        if self.params["forceprint"].get(key) or self.params["print_to_file"].get(key):
            return super()._forceprint(key, info_dict)
        return None if info_dict is None else dict(info_dict)

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        # The checked handler alone, not every one installed (requests, curl_cffi,
        # websockets): whichever extractor or downloader calls ydl.urlopen, it sends.
        checked = functools.partial(_CheckedUrllibRH, allowed=self._allowed)
        return super().build_request_director([checked], preferences)

    def dl(self, name: str, info: dict[str, Any], subtitle: bool = False, test: bool = False) -> Any:
        # yt-dlp picks each format's downloader here; it would pick the same class again.
        downloader = get_suitable_downloader(info, self.params, to_stdout=name == "-")
        if downloader not in _CHECKED_DOWNLOADERS:
            shown = downloader.__name__ if downloader else "several downloaders"
            raise netguard.Refused(str(info.get("url")), f"needs {shown}, which fetches outside the checks")
        return super().dl(name, info, subtitle, test)


def _check(url: str, allowed: tuple[str, ...]) -> None:
    try:
        netguard.check_url(url, allowed)
    except netguard.Refused as refused:
        raise RefusedUrl(str(refused)) from None


def _refusal(error: BaseException) -> netguard.Refused | None:
    """The Refused behind a yt-dlp error, however yt-dlp wrapped it (`cause`,
    `exc_info`, or Python's own chaining)."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, netguard.Refused):
            return current
        seen.add(id(current))
        exc_info = getattr(current, "exc_info", None)
        pending += [current.__cause__, current.__context__, getattr(current, "cause", None)]
        pending += [exc_info[1]] if isinstance(exc_info, tuple) and len(exc_info) > 1 else []
    return None


def _failure(error: Exception) -> YtdlpError:
    refused = _refusal(error)
    return RefusedUrl(str(refused)) if refused else YtdlpError(_one_line(error))


@dataclass(frozen=True)
class Listing:
    videos: list[ListedVideo]  # oldest first
    refused: list[str]  # one line per entry dropped by check_url: its Refused reason


# A re-sync stops after this many entries in a row that the category holds already (as
# yt-dlp's --break-on-existing does after one): what follows them is older, and known.
KNOWN_RUN = 5


class _PageNotStored(Exception):
    """Raised when handing a page over failed: the listing ends with `error` (a page's store
    failed, or the lease was lost)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


# Listings nest (a channel's tabs, a URL that leads to a playlist) only so deep.
MAX_NESTING = 5


def list_category(
    url: str,
    website: str,
    settings: DownloaderSettings,
    allowed: tuple[str, ...],
    first: int = 0,
    known: frozenset[tuple[str, str]] | None = None,
    on_page: Callable[[Listing], None] | None = None,
    page_entries: int = 0,
    cookies: Iterable[Cookie] = (),
) -> Listing:
    """The category's videos, oldest first, from a flat listing (no page per video), and
    the entries refused. `first` > 0 reads only that many entries from the top (the newest);
    `known` (the category's newest (website, foreign id) pairs) stops the listing after a
    run of KNOWN_RUN of them. With `on_page`, the listing is handed over in pages while
    it is read, newest page first: the first `page_entries` entries, then twice as many,
    and so on; the entries after the last full page are returned. An exception from
    `on_page` ends the listing with it. `cookies`: the site's logged-in session. Raises
    RefusedUrl when the category's URL, or a request of the listing, is refused.

    Linear in the listing's length, and holding one page of entries at a time: the
    extractor's entries are iterated as it yields them (`_entries`), not through yt-dlp's
    playlist processing, whose duplicate check compares each entry with every one before
    it (docs/performance.md); a duplicate is dropped here by its identity, in O(1)."""
    _check(url, allowed)
    options = _common_options(settings) | {"extract_flat": "in_playlist", "noplaylist": False}
    # Entries mostly share a few hosts: resolve each once per listing.
    resolve = functools.lru_cache(maxsize=64)(socket.getaddrinfo)
    check = functools.partial(netguard.check_url, allowed=allowed, resolve=resolve)
    pending: list[Any] = []  # entries read since the last page was handed over
    seen: set[tuple[str, str]] = set()  # the listing's identities so far
    page = page_entries
    in_a_row = read = 0
    try:
        with GuardedYoutubeDL(options, allowed, cookies) as ydl:
            for entry in _entries(ydl, url):
                stop_if_cancelled()
                identity = _identity(entry, website)
                if identity is not None:
                    if identity[1:] in seen:
                        continue
                    seen.add(identity[1:])
                pending.append(dict(entry))
                read += 1
                if known:
                    in_a_row = in_a_row + 1 if identity and identity[1:] in known else 0
                    if in_a_row >= KNOWN_RUN:
                        break  # what follows is older, and known
                if first and read >= first:
                    break
                if on_page is not None and page and len(pending) >= page:
                    listing, pending, page = listed_videos(pending, website, check), [], page * 2
                    try:
                        on_page(listing)
                    except trio.Cancelled:
                        raise DownloadCancelled() from None  # the Trio side re-raises it (_in_thread)
                    except Exception as error:
                        raise _PageNotStored(error) from error
    except _PageNotStored as failed:
        raise failed.error from None
    except (DownloadCancelled, RefusedUrl):
        raise
    except Exception as error:  # yt-dlp raises many kinds; all mean "this listing failed"
        raise _failure(error) from None
    return listed_videos(pending, website, check)


def _entries(ydl: GuardedYoutubeDL, url: str) -> Iterator[dict[str, Any]]:
    """The listing's entries as the extractors yield them: a URL result that leads elsewhere
    is followed, a playlist's entries (and those of the playlists it holds, such as a
    channel's tabs) are yielded in order, each as it is read (the extractor fetches its next
    page when asked for the next entry); a single video is the one entry."""
    result = ydl.extract_info(url, download=False, process=False)
    if not isinstance(result, dict):
        raise YtdlpError("yt-dlp returned nothing")
    yield from _flattened(ydl, result, 0)


def _flattened(ydl: GuardedYoutubeDL, result: dict[str, Any], depth: int) -> Iterator[dict[str, Any]]:
    if depth > MAX_NESTING:
        raise YtdlpError(f"the listing nests more than {MAX_NESTING} deep")
    kind = result.get("_type", "video")
    if kind in ("url", "url_transparent"):  # a listing that leads elsewhere (never a playlist's entry)
        followed = ydl.extract_info(result["url"], download=False, process=False, ie_key=result.get("ie_key"))
        if not isinstance(followed, dict):
            raise YtdlpError("yt-dlp returned nothing")
        yield from _flattened(ydl, followed, depth + 1)
    elif kind in ("playlist", "multi_video"):
        for entry in result.get("entries") or ():
            if isinstance(entry, dict) and entry.get("_type") in ("playlist", "multi_video"):
                yield from _flattened(ydl, entry, depth + 1)
            elif isinstance(entry, dict):
                yield entry
    else:
        yield result


def listed_videos(entries: Iterable[Any], website: str, check: Callable[[str], None]) -> Listing:
    """Flat entries (newest first, as sites and feeds list them) -> videos oldest first,
    each once, without the entries whose URL `check` refuses. An entry without an id (a
    feed's enclosure) gets a stable one: the feed item's guid that yt-dlp smuggles into
    the URL, else a hash of the URL."""
    seen: set[tuple[str, str]] = set()
    videos = []
    refused = []
    for entry in entries:
        if not isinstance(entry, dict) or (identity := _identity(entry, website)) is None:
            continue
        url, host, foreign_id = identity
        try:
            check(url)
        except netguard.Refused as error:
            refused.append(str(error))
            continue
        if (host, foreign_id) in seen:
            continue
        seen.add((host, foreign_id))
        listed = {k: str(entry[k]) for k in ("title", "description", "uploader", "thumbnail") if entry.get(k)}
        tags = entry.get("tags")
        listed_tags = (
            tuple(str(t) for t in tags if isinstance(t, str | int)) if isinstance(tags, list) else ()
        )
        videos.append(ListedVideo(host, foreign_id, url, listed.get("title", ""), listed, listed_tags))
    videos.reverse()
    return Listing(videos, refused)


def _identity(entry: Any, website: str) -> tuple[str, str, str] | None:
    """A flat entry's URL, website (its host) and foreign id; None when it has no URL."""
    raw_url = entry.get("url") or entry.get("webpage_url")
    if not isinstance(raw_url, str) or not raw_url:
        return None
    url, smuggled = unsmuggle_url(raw_url, {})
    host = (urlsplit(url).hostname or "").lower() or website
    return url, host, str(entry.get("id") or (smuggled or {}).get("force_videoid") or _url_id(url))


def _url_id(url: str) -> str:
    return "url-" + hashlib.sha256(url.encode()).hexdigest()[:32]


def names_a_media_file(url: str) -> bool:
    """Whether the URL names a media file or stream (by yt-dlp's own list of extensions),
    as a feed's enclosure does: it has no page that could carry tags."""
    return determine_ext(unsmuggle_url(url, {})[0]) in KNOWN_EXTENSIONS


def video_tags(
    url: str, settings: DownloaderSettings, allowed: tuple[str, ...], cookies: Iterable[Cookie] = ()
) -> tuple[str, ...]:
    """The video's tags from its metadata, fetched without downloading it (through the
    same checks as a download, with the configured Accept-Language). Raises YtdlpError (or
    RefusedUrl) when yt-dlp cannot read it."""
    _check(url, allowed)
    try:
        with GuardedYoutubeDL(_common_options(settings), allowed, cookies) as ydl:
            info = ydl.extract_info(url, download=False, process=False)
    except DownloadCancelled:
        raise
    except Exception as error:
        raise _failure(error) from None
    tags = info.get("tags") if isinstance(info, dict) else None
    return clean_tags(tags) if isinstance(tags, list) else ()


@dataclass
class Progress:
    """Written by the download thread, read by Trio (plain attribute writes)."""

    bytes_done: int = 0
    bytes_total: int = 0


@dataclass(frozen=True)
class Downloaded:
    info: dict[str, Any]
    video_path: Path
    info_json_path: Path
    thumbnail_path: Path | None


def download(
    url: str,
    workdir: Path,
    settings: DownloaderSettings,
    progress: Progress,
    allowed: tuple[str, ...],
    cookies: Iterable[Cookie] = (),
    listed_thumbnail: str = "",
) -> Downloaded:
    """Downloads one video with its info JSON and thumbnail into `workdir`, with the
    site's logged-in session (`cookies`); the info holds no cookie (the info JSON yt-dlp
    wrote does: it is cleaned on its way out, sanitize.delivered_info_json).
    When yt-dlp wrote no thumbnail, the info's or else the listing's (`listed_thumbnail`)
    is fetched. Raises RefusedUrl when its URL, or a request of the download, is refused."""
    _check(url, allowed)

    def hook(status: dict[str, Any]) -> None:
        stop_if_cancelled()
        done = int(status.get("downloaded_bytes") or 0)
        total = int(status.get("total_bytes") or status.get("total_bytes_estimate") or 0)
        progress.bytes_done, progress.bytes_total = done, total
        limit = settings.max_filesize
        if limit and max(done, total) > limit:
            raise TooLarge(f"larger than the {limit}-byte limit")

    options = _common_options(settings) | {
        "outtmpl": str(workdir / f"{VIDEO_STEM}.%(ext)s"),
        "writeinfojson": True,
        "writethumbnail": True,
        "progress_hooks": [hook],
        # yt-dlp formats a progress line for every block it reads, printed or not (about a
        # quarter of its CPU time on a fast download); it prints none for us. `hook` still
        # sees every block.
        "progress_delta": 3600.0,
        "retries": 0,
        "fragment_retries": 0,
        "format": settings.format,
        # Separate streams merged by ffmpeg: into MP4 when their codecs allow it, else MKV.
        "merge_output_format": "mp4/mkv",
    }
    # No max_filesize option: yt-dlp then skips the file and says so only in its log.
    # The hook refuses it instead, at the first progress report (Content-Length known).
    if settings.format_sort:
        options["format_sort"] = list(settings.format_sort)
    try:
        with GuardedYoutubeDL(options, allowed, cookies) as ydl:
            info = ydl.extract_info(url, download=True)
            info = without_cookies(ydl.sanitize_info(info))
            if _thumbnail_file(workdir) is None:
                _fetch_thumbnail(ydl, workdir, [str(info.get("thumbnail") or ""), listed_thumbnail])
    except DownloadCancelled:
        raise
    except TooLarge:
        raise
    except yt_dlp.utils.DownloadError as error:
        cause = error.exc_info[1] if error.exc_info else None
        if isinstance(cause, TooLarge | DownloadCancelled):
            raise cause from None
        raise _failure(error) from None
    except Exception as error:
        raise _failure(error) from None
    return _collect(workdir, info)


def _collect(workdir: Path, info: dict[str, Any]) -> Downloaded:
    requested = info.get("requested_downloads") or []
    path = Path(requested[0]["filepath"]) if requested and requested[0].get("filepath") else None
    if path is None or not path.is_file():
        raise YtdlpError("yt-dlp finished without a video file")
    return Downloaded(info, path, workdir / f"{VIDEO_STEM}.info.json", _thumbnail_file(workdir))


def _thumbnail_file(workdir: Path) -> Path | None:
    return next(
        (p for p in workdir.iterdir() if p.stem == VIDEO_STEM and p.suffix in THUMBNAIL_SUFFIXES), None
    )


def _fetch_thumbnail(ydl: GuardedYoutubeDL, workdir: Path, urls: list[str]) -> None:
    """The first of `urls` that gives an image of at most MAX_THUMBNAIL bytes, written as
    video.<ext>. Through yt-dlp's checked requests (the allow-list, the site's cookies);
    a thumbnail is optional, so a failure only moves on to the next URL."""
    for url in dict.fromkeys(u for u in urls if u):
        try:
            with ydl.urlopen(url) as response:
                data = response.read(MAX_THUMBNAIL + 1)
        except DownloadCancelled:
            raise
        except Exception as error:
            log.debug("thumbnail %s: %s", url, error)
            continue
        if len(data) <= MAX_THUMBNAIL and (suffix := image_suffix(data[:12])) is not None:
            (workdir / f"{VIDEO_STEM}{suffix}").write_bytes(data)
            return


def _one_line(error: BaseException) -> str:
    """yt-dlp's message without its "ERROR:" prefix, on one line (it may carry a \r)."""
    lines = [line.strip() for line in str(error).replace("ERROR:", "", 1).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:500]
