"""Listing a category with yt-dlp: a flat listing (no page per video), read as the
extractor yields it, handed over in pages while it is read, stopped at a run of entries
the category holds; and a video's tags read without downloading it."""

from __future__ import annotations

import functools
import hashlib
import socket
from collections.abc import Callable, Iterable, Iterator
from http.cookiejar import Cookie
from typing import Any
from urllib.parse import urlsplit

from yt_dlp.utils import KNOWN_EXTENSIONS, determine_ext, unsmuggle_url

from scheduler.pipeline.sanitize import clean_tags
from scheduler.pipeline.ytdlp.errors import RefusedUrl, YtdlpError, check_allowed, failure
from scheduler.pipeline.ytdlp.options import common_options
from scheduler.pipeline.ytdlp.overrides import GuardedYoutubeDL
from scheduler.pipeline.ytdlp.results import Listing
from scheduler.profiles.filters import known_fields
from scheduler.settings import DownloaderSettings
from scheduler.sites import netguard
from scheduler.work import Listed, ListedVideo

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
    check_allowed(url, allowed)
    options = common_options(settings) | {"extract_flat": "in_playlist", "noplaylist": False}
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
                    except Exception as error:
                        raise _PageNotStored(error) from error
    except _PageNotStored as failed:
        raise failed.error from None
    except RefusedUrl:
        raise
    except Exception as error:  # yt-dlp raises many kinds; all mean "this listing failed"
        raise failure(error) from None
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
        listed: Listed = {
            k: str(entry[k]) for k in ("title", "description", "uploader", "thumbnail") if entry.get(k)
        }
        listed |= known_fields(entry)  # what the profiles' filters read
        tags = entry.get("tags")
        listed_tags = (
            tuple(str(t) for t in tags if isinstance(t, str | int)) if isinstance(tags, list) else ()
        )
        videos.append(ListedVideo(host, foreign_id, url, str(listed.get("title", "")), listed, listed_tags))
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
    check_allowed(url, allowed)
    try:
        with GuardedYoutubeDL(common_options(settings), allowed, cookies) as ydl:
            info = ydl.extract_info(url, download=False, process=False)
    except Exception as error:
        raise failure(error) from None
    tags = info.get("tags") if isinstance(info, dict) else None
    return clean_tags(tags) if isinstance(tags, list) else ()
