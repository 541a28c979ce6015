"""The private parts of yt-dlp (and of http.client) that scheduler/pipeline/ytdlp/
overrides or calls (overrides.py; options.py for `scheduler doctor`), held to the shape
it relies on: a yt-dlp release that renames or reshapes one fails here, loudly, instead
of silently bypassing a guard or a speed-up.

Why each one (no public hook serves):
- YoutubeDL.build_request_director: the only place to choose the request handlers; the
  guard installs its checked urllib handler alone (no requests, curl_cffi, websockets).
- UrllibRH._create_instance: where the urllib opener is built; the guard adds its
  per-request and per-connection checks to it.
- urllib HTTPHandler._make_conn_class / do_open / _context / _source_address and
  _urllib._create_http_connection, with
  networking._helper.create_connection and _socket_connect, and http.client's
  HTTPConnection._create_connection: the per-connection check (DNS rebinding) opens
  through yt-dlp's own handler with a connection that checks each address it connects to.
- UrllibRH._make_sslcontext and networking._helper.make_ssl_context: one TLS context per
  set of options for the process instead of one per download (~17 ms of CPU each).
- YoutubeDL.dl: where a format's downloader is chosen; the guard refuses downloaders that
  open their own connections.
- YoutubeDL.add_default_info_extractors: the extractor list, worked out once per
  process instead of per download (~40 ms of CPU each).
- YoutubeDL._forceprint and its params: skips rendering tables for --print templates
  that are never set.
- GenericIE._extract_rss: reads an item's <media:thumbnail> and <category> elements.
- YoutubeDL._js_runtimes, FFmpegMergerPP._versions: what `scheduler doctor` reports.
- YoutubeDL.format_selector, set by the match filter (download._Choice): the format of the
  categories that want a video is known only once its metadata is, and yt-dlp calls the
  match filter after extraction and before it chooses the formats with that attribute.
"""

from __future__ import annotations

import http.client
import inspect
from collections.abc import Callable
from typing import Any

import pytest
import yt_dlp
from yt_dlp.extractor.generic import GenericIE
from yt_dlp.networking import _helper, _urllib
from yt_dlp.postprocessor.ffmpeg import FFmpegMergerPP


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (yt_dlp.YoutubeDL.build_request_director, ["self", "handlers", "preferences"]),
        (yt_dlp.YoutubeDL.dl, ["self", "name", "info", "subtitle", "test"]),
        (yt_dlp.YoutubeDL.add_default_info_extractors, ["self"]),
        (yt_dlp.YoutubeDL._forceprint, ["self", "key", "info_dict"]),
        (_urllib.UrllibRH._create_instance, ["self", "proxies", "cookiejar", "legacy_ssl_support"]),
        (_urllib.UrllibRH._make_sslcontext, ["self", "legacy_ssl_support"]),
        (_urllib.HTTPHandler.__init__, ["self", "context", "source_address", "args", "kwargs"]),
        (_urllib.HTTPHandler._make_conn_class, ["base", "req"]),
        (_urllib.HTTPHandler.do_open, ["self", "http_class", "req", "http_conn_args"]),
        (_urllib._create_http_connection, ["http_class", "source_address", "args", "kwargs"]),
        (_helper.create_connection, ["address", "timeout", "source_address", "_create_socket_func"]),
        (_helper._socket_connect, ["ip_addr", "timeout", "source_address"]),
        (
            _helper.make_ssl_context,
            [
                "verify",
                "client_certificate",
                "client_certificate_key",
                "client_certificate_password",
                "legacy_support",
                "use_certifi",
            ],
        ),
        (GenericIE._extract_rss, ["self", "url", "video_id", "doc"]),
    ],
    ids=lambda value: getattr(value, "__qualname__", ""),
)
def test_a_private_function_keeps_its_parameters(function: Callable[..., Any], expected: list[str]) -> None:
    assert parameters(function) == expected


def test_the_private_attributes_read_are_there() -> None:
    handler = _urllib.HTTPHandler(context="a context", source_address="192.0.2.1")
    assert (handler._context, handler._source_address) == ("a context", "192.0.2.1")
    assert isinstance(vars(_urllib.HTTPHandler)["_make_conn_class"], staticmethod)
    # http.client opens its socket through this attribute, which the connection check replaces.
    assert "self._create_connection(" in inspect.getsource(http.client.HTTPConnection.connect)
    request_handler = _urllib.UrllibRH(logger=None)
    for name in ("verify", "prefer_system_certs", "legacy_ssl_support", "_client_cert"):
        assert hasattr(request_handler, name), name
    with yt_dlp.YoutubeDL({"quiet": True}) as ydl:
        assert "forceprint" in ydl.params and "print_to_file" in ydl.params
        assert isinstance(ydl._js_runtimes, dict)
    merger = FFmpegMergerPP(None)
    assert isinstance(merger._versions, dict)
    assert hasattr(merger, "executable") and hasattr(merger, "available")


def test_the_match_filter_runs_before_the_format_selector_is_read() -> None:
    """download._Choice sets `format_selector` from the match filter: yt-dlp must call the
    filter first, then read the attribute (not a copy made at construction)."""
    source = inspect.getsource(yt_dlp.YoutubeDL.process_video_result)
    filtered = source.index("self._match_entry(info_dict")
    assert filtered < source.index("format_selector = self.format_selector")
    with yt_dlp.YoutubeDL({"quiet": True, "format": "bv*+ba/b"}) as ydl:
        assert callable(ydl.format_selector)
        assert callable(ydl.build_format_selector("bv*[height<=360]+ba/b[height<=360]/wv*+ba/w"))
