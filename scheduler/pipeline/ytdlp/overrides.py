"""Every place we reach into yt-dlp's (and http.client's) private parts, gathered here,
each with why no public hook serves. tests/test_ytdlp_private_api.py pins the shape of
each private name relied on, so a yt-dlp release that changes one fails loudly there.

- `GuardedYoutubeDL.build_request_director` (public, but undocumented): the checked
  urllib handler alone. yt-dlp has no option to limit its request handlers.
- `_CheckedUrllibRH._create_instance` (private): our handlers go into each opener; the
  public `RequestHandler` API has no way to add a urllib handler.
- `_CheckedUrllibRH._make_sslcontext` (private): one TLS context per process; yt-dlp
  builds one per handler and offers no cache.
- `_CheckEveryConnection` uses `_urllib._create_http_connection`, `HTTPHandler.do_open`,
  `_make_conn_class`, `_context`, `_source_address` and `networking._helper`'s
  `create_connection`/`_socket_connect` (private): to check the very address connected
  to (DNS rebinding); yt-dlp has no hook between its lookup and its connect.
- `GuardedYoutubeDL.dl` (private in effect: yt-dlp's own entry to its downloaders): refuse
  downloaders that fetch outside the checked requests; no option limits them.
- `GuardedYoutubeDL._forceprint` (private): skip the --print rendering nobody reads (five
  tables per download); no option turns it off.
- `GuardedYoutubeDL.add_default_info_extractors` (public) and `cookiejar` (a cached
  property): the extractor list worked out once; cookies in a jar of our own, never saved.
- `FeedAwareGenericIE._extract_rss` (private): Media RSS thumbnails and RSS categories as
  tags; yt-dlp's generic extractor offers no hook for feed items.

One reach is not an override and stays with its only user: options.detect_programs reads
`YoutubeDL._js_runtimes` and `FFmpegMergerPP._versions` for `scheduler doctor`.
"""

from __future__ import annotations

import copy
import functools
import http.client
import socket
import ssl
import urllib.request
from collections.abc import Iterable
from http.cookiejar import Cookie
from typing import Any

import yt_dlp
from yt_dlp.cookies import YoutubeDLCookieJar
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

from scheduler.sites import netguard

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
def default_extractors() -> tuple[Any, ...]:
    """The extractor classes YoutubeDL adds by default, in its order: those enabled, each
    name once (tests/test_ytdlp_setup.py compares them with a stock YoutubeDL's)."""
    by_name = {ie.IE_NAME.lower(): ie for ie in gen_extractor_classes()}
    return tuple(ie for ie in by_name.values() if ie._ENABLED)


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
        for ie in default_extractors():
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
