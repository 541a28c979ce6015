"""Subscription files `scheduler import` reads and `scheduler export` writes (pure).

- this service's own export: JSON, {"format": "scheduler-subscriptions", "version": 1,
  "subscriptions": [{"user_id", "url", "profile", "disable_download_cache"}, ...]};
- OPML, as feed readers (and YouTube's old subscription manager) export it: each
  <outline> with an xmlUrl is a category; a YouTube channel's or playlist's feed becomes
  the channel's or playlist's own page, which yt-dlp lists whole (a feed has only the
  newest 15 videos);
- a Google Takeout of YouTube's `subscriptions.csv` (Channel Id, Channel Url, Channel
  Title): each channel is a category.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message

from scheduler.v1 import scheduler_pb2 as pb

FORMAT = "scheduler-subscriptions"
VERSION = 1
_YOUTUBE_FEED_HOSTS = {"www.youtube.com", "youtube.com", "m.youtube.com"}


@dataclass(frozen=True)
class Entry:
    """One subscription read from a file, or why it could not be read."""

    where: str  # "line 4" (CSV), "entry 3" (JSON, OPML): what the user is told
    url: str = ""
    profile: pb.DownloadProfile | None = None
    disable_download_cache: bool = False
    problem: str = ""


class UnreadableFile(Exception):
    """Not a file of any kind this reads; str() says why in one line."""


def read(text: str) -> list[Entry]:
    """The file's subscriptions, in order, by its kind (told by its content)."""
    start = text.lstrip("\ufeff \t\r\n")[:200]
    if start.startswith("{"):
        return _from_export(text)
    if start.startswith("<"):
        return _from_opml(text)
    if "channel id" in start.lower() or "channel url" in start.lower():
        return _from_takeout(text)
    raise UnreadableFile("not a scheduler export (JSON), an OPML file or a Takeout subscriptions.csv")


def _from_export(text: str) -> list[Entry]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise UnreadableFile(f"not JSON: {error}") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("subscriptions"), list)
    ):
        raise UnreadableFile(
            f'JSON, but not a scheduler export ({{"format": "{FORMAT}", "subscriptions": [...]}})'
        )
    return [_export_entry(f"entry {n}", item) for n, item in enumerate(data["subscriptions"], 1)]


def _export_entry(where: str, item: Any) -> Entry:
    if not isinstance(item, dict) or not isinstance(item.get("url"), str):
        return Entry(where, problem="no url")
    try:
        profile = ParseDict(item.get("profile") or {}, pb.DownloadProfile())
    except Exception as error:  # ParseError, or a value of the wrong type
        return Entry(where, item["url"], problem=f"profile: {str(error).splitlines()[0]}")
    return Entry(where, item["url"], profile, bool(item.get("disable_download_cache")))


def _from_opml(text: str) -> list[Entry]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise UnreadableFile(f"not XML: {error}") from None
    if root.tag != "opml":
        raise UnreadableFile(f"XML, but not OPML (its root is <{root.tag[:40]}>)")
    outlines = [o for o in root.iter("outline") if o.get("xmlUrl") or o.get("xmlurl")]
    return [
        Entry(f"entry {n}", category_url(o.get("xmlUrl") or o.get("xmlurl") or ""))
        for n, o in enumerate(outlines, 1)
    ]


def _from_takeout(text: str) -> list[Entry]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = {name.strip().lower(): name for name in reader.fieldnames or ()}
    entries = []
    for row in reader:
        if not any((value or "").strip() for value in row.values()):
            continue  # a blank line
        where = f"line {reader.line_num}"
        url = (row.get(fields.get("channel url", ""), "") or "").strip()
        channel = (row.get(fields.get("channel id", ""), "") or "").strip()
        if not url and channel:
            url = f"https://www.youtube.com/channel/{channel}"
        entries.append(Entry(where, url) if url else Entry(where, problem="no Channel Url or Channel Id"))
    return entries


def category_url(feed: str) -> str:
    """A feed's category: YouTube's channel, playlist or user feed becomes that page
    (yt-dlp lists it whole; the feed is Atom, which yt-dlp does not list, and holds the
    newest 15 only); any other feed is listed as it is."""
    parts = urlsplit(feed.strip())
    if (parts.hostname or "").lower() in _YOUTUBE_FEED_HOSTS and parts.path == "/feeds/videos.xml":
        query = parse_qs(parts.query)
        if query.get("channel_id"):
            return f"https://www.youtube.com/channel/{query['channel_id'][0]}"
        if query.get("playlist_id"):
            return f"https://www.youtube.com/playlist?list={query['playlist_id'][0]}"
        if query.get("user"):
            return f"https://www.youtube.com/user/{query['user'][0]}"
    return feed.strip()


def export(subscriptions: Iterable[pb.Subscription]) -> str:
    """This service's export file for these subscriptions."""
    items = [
        {
            "user_id": s.user_id,
            "url": s.url,
            "profile": _fields(s.profile),
            "disable_download_cache": s.disable_download_cache,
            "subscribed_at": s.subscribed_at,
        }
        for s in subscriptions
    ]
    return json.dumps(
        {"format": FORMAT, "version": VERSION, "subscriptions": items}, indent=2, ensure_ascii=False
    )


def _fields(message: Message) -> dict[str, Any]:
    fields: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return fields
