"""A Kodi/Jellyfin `.nfo` for a video of the library layout (pure: no I/O).

A `<movie>` document: Kodi reads `<video file name>.nfo` with that root for any video
in a movies source, and Jellyfin reads the same file for a movie or any video of a
mixed library (MediaBrowser.XbmcMetadata: BaseVideoNfoProvider -> MovieNfoParser,
which does not look at the root's name). Only elements Jellyfin's BaseNfoParser reads
are written; docs/video-services.md lists them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from scheduler.video_service.base import VideoMetadata
from scheduler.video_service.naming import iso_date

# Characters XML 1.0 does not allow at all (most C0 controls, lone surrogates, U+FFFE
# and U+FFFF), and the DEL and C1 controls it discourages (Jellyfin's own NFO writer
# drops those too): a parser refuses the whole file over one of the former.
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` without the characters an XML 1.0 document cannot carry (ElementTree escapes
    "&", "<" and ">", but writes these as they are)."""
    return _NOT_XML.sub("", text)


def one_line(text: str) -> str:
    """A field shown on one line (a title, a name): whitespace runs as one space."""
    return " ".join(xml_text(text).split())


def paragraphs(text: str) -> str:
    """A field with lines (the plot): every line break a line feed, as an XML parser reads them."""
    return xml_text(text).replace("\r\n", "\n").replace("\r", "\n").strip()


def nfo_document(meta: VideoMetadata) -> bytes:
    """The NFO of one video, UTF-8 XML."""
    movie = ET.Element("movie")

    def add(tag: str, text: str, **attributes: str) -> None:
        if text:
            ET.SubElement(movie, tag, {k: one_line(v) for k, v in attributes.items()}).text = text

    add("title", one_line(meta.title) or one_line(meta.foreign_id))
    # Neither Kodi nor Jellyfin reads a source URL from any element; ytdl-sub's presets put
    # it in the plot, where a viewer sees it. Here it follows the description.
    add("plot", "\n\n".join(part for part in (paragraphs(meta.description), one_line(meta.url)) if part))
    day = iso_date(meta.upload_date)
    if day:
        add("premiered", day)
        add("year", day[:4])
    add("studio", one_line(meta.uploader) or one_line(meta.uploader_id))
    add("genre", one_line(meta.category))
    for tag in meta.tags:
        add("tag", one_line(tag))
    # The video's identity; Jellyfin keeps it as a provider id named after the website.
    add("uniqueid", xml_text(meta.foreign_id), type=meta.website, default="true")
    ET.indent(movie)
    body = ET.tostring(movie, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{body}\n'.encode()
