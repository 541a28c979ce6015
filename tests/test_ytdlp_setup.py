"""GuardedYoutubeDL's setup, made once per process instead of once per download, must be
what a stock YoutubeDL would make (the same extractors, equally strict TLS); the warm-up
at start leaves no extractor's URL patterns for the first download to compile."""

from __future__ import annotations

import ssl
from typing import Any

import yt_dlp

from scheduler.pipeline.ytdlp.options import warm_up
from scheduler.pipeline.ytdlp.overrides import FeedAwareGenericIE, GuardedYoutubeDL

ALLOWED = ("127.0.0.1",)


def handler(params: dict[str, Any]) -> Any:
    ydl = GuardedYoutubeDL({"quiet": True, **params}, ALLOWED)
    (only,) = ydl._request_director.handlers.values()
    return only


def test_the_extractors_are_a_stock_youtubedls_in_its_order() -> None:
    stock = yt_dlp.YoutubeDL({"quiet": True})
    guarded = GuardedYoutubeDL({"quiet": True}, ALLOWED)
    assert len(stock._ies) > 1000
    assert list(guarded._ies) == list(stock._ies)
    others = [(k, v) for k, v in guarded._ies.items() if k != "Generic"]
    assert others == [(k, v) for k, v in stock._ies.items() if k != "Generic"]
    # The generic one also reads a feed's Media RSS thumbnails: an instance of our own.
    assert isinstance(guarded._ies["Generic"], FeedAwareGenericIE)
    assert list(guarded._ies_instances) == ["Generic"] and stock._ies_instances == {}


def test_handlers_share_one_tls_context_per_set_of_options() -> None:
    first, second = handler({}), handler({})
    context = first._make_sslcontext()
    assert context is second._make_sslcontext()
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA bundle is loaded
    unverified = handler({"nocheckcertificate": True})._make_sslcontext()
    assert unverified is not context
    assert unverified.verify_mode == ssl.CERT_NONE
    legacy = first._make_sslcontext(legacy_ssl_support=True)
    assert legacy is not context and legacy.options & 4  # SSL_OP_LEGACY_SERVER_CONNECT


def test_warm_up_compiles_every_extractors_url_patterns() -> None:
    warm_up()
    extractors = GuardedYoutubeDL({"quiet": True}, ALLOWED)._ies.values()
    classes = [
        ie if isinstance(ie, type) else type(ie) for ie in extractors
    ]  # the generic one is an instance
    cold = [ie for ie in classes if ie._VALID_URL is not False and "_VALID_URL_RE" not in ie.__dict__]
    assert cold == []


def test_print_templates_are_rendered_only_when_some_are_set() -> None:
    info = {"id": "v1", "title": "T", "ext": "mp4", "url": "http://127.0.0.1/v1.mp4"}
    plain = GuardedYoutubeDL({"quiet": True}, ALLOWED)._forceprint("video", info)
    assert plain == info and plain is not info  # no tables rendered for nobody
    printing = GuardedYoutubeDL({"quiet": True, "forceprint": {"video": ["%(id)s"]}}, ALLOWED)
    assert "formats_table" in printing._forceprint("video", info)
