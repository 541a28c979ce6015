"""File names the directory Video Service gives what it stores (pure: no I/O).

Two kinds of name. `safe_name` is for machine-made paths (the "id" layout's
directories, the library's index): ASCII, reversible in spirit, never ambiguous.
The library layout's names are for people and media servers: the title as
readable as a name on Linux, macOS and Windows allows, cut to fit (docs/video-services.md,
"A library for media servers").
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from pathlib import Path

# Readable machine names keep to these characters, which mean nothing to any file system.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,16}")
_MAX_READABLE = 80

# ext4, APFS, Btrfs and XFS take 255 bytes per name; NTFS 255 UTF-16 units, which
# 255 UTF-8 bytes never exceed.
MAX_COMPONENT_BYTES = 255
# A channel's folder: shorter, so that whole paths stay well under Windows' 260-character habit.
MAX_FOLDER_BYTES = 128
_MAX_LANGUAGE = 32
# The longest thing appended to a base name: a subtitle's ".<language>.<ext>" (the
# video's extension, ".nfo", ".info.json" and "-poster.<ext>" are all shorter).
MAX_SIDECAR_SUFFIX = 1 + _MAX_LANGUAGE + 17
MAX_BASE_BYTES = MAX_COMPONENT_BYTES - MAX_SIDECAR_SUFFIX
UNKNOWN_FOLDER = "Unknown"

# What Windows refuses (and "/" everywhere), replaced as yt-dlp's default output names
# do: by look-alikes (":" by the full-width colon U+FF1A, "/" by U+29F8 BIG SOLIDUS),
# so that "Re: Zero" stays readable.
_LOOKALIKES = str.maketrans({"/": "\u29f8", "\\": "\u29f9", **{c: chr(ord(c) + 0xFEE0) for c in ':*?"<>|'}})
# Folder names Jellyfin never scans (Emby.Server.Implementations/Library/IgnorePatterns.cs):
# a channel of that name gets a "_" too.
_IGNORED_FOLDERS = {
    "metadata", "extrafanart", "extrathumbs", "lost+found", "temprec", "tempsbe", "eadir", "@eadir",
    "#recycle", "@recycle", "$recycle.bin", "system volume information", "ps3_update", "ps3_vprm",
}  # fmt: skip
# Device names Windows reserves in any folder, with any extension ("nul.txt" too).
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{d}{n}" for d in ("COM", "LPT") for n in "123456789¹²³"}


def safe_name(raw: str) -> str:
    """A single path component for `raw`, the same for the same value.

    A value that is already safe (ASCII letters, digits, ".", "_", "-", not
    starting with ".", at most 80 characters) is used as it is. Any other gets a
    sanitised, shortened readable part, "~" and a hash of the raw value; "~" is
    never in an unchanged name, so two different values never share a name.
    """
    readable = _UNSAFE.sub("_", raw)
    if readable == raw and raw and not raw.startswith(".") and len(raw) <= _MAX_READABLE:
        return raw
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    readable = readable.lstrip(".")[:_MAX_READABLE]
    return f"{readable}~{digest}"


def safe_suffix(path: Path) -> str:
    """The file's extension when it is a plain one (".mp4"), else none."""
    return path.suffix if _SAFE_SUFFIX.fullmatch(path.suffix) else ""


def subtitle_language(path: Path) -> str:
    """The language of a subtitle file named as yt-dlp names them (`video.ja.vtt` -> "ja"),
    kept to letters, digits, "-" and "_" (BCP 47 tags fit); "und" (undetermined) if none."""
    language = Path(path.stem).suffix.removeprefix(".")
    language = re.sub(r"[^A-Za-z0-9_-]", "", language)[:_MAX_LANGUAGE]
    return language or "und"


def subtitle_suffixes(paths: tuple[Path, ...]) -> list[str]:
    """The suffix ".<language>.<ext>" of each subtitle file, in order. A language that
    repeats (two formats of one track keep apart by their extensions, two tracks of one
    format do not) gets "-2", "-3"..., within the language's length bound."""
    suffixes: list[str] = []
    for path in paths:
        language, ext = subtitle_language(path), safe_suffix(path)
        suffix, n = f".{language}{ext}", 1
        while suffix in suffixes:
            n += 1
            suffix = f".{language[: _MAX_LANGUAGE - len(str(n)) - 1]}-{n}{ext}"
        suffixes.append(suffix)
    return suffixes


# --- the library layout ---------------------------------------------------------------


def _is_invisible(char: str) -> bool:
    """Control (C0, DEL, C1), format (bidi marks and overrides, zero-width characters,
    the BOM) and lone surrogate characters, and Unicode's noncharacters: nothing a
    reader can see, some able to reorder what they do see."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Cc", "Cf", "Cs")
        or 0xFDD0 <= code <= 0xFDEF
        or (code & 0xFFFE) == 0xFFFE
    )


def clean_component(text: str) -> str:
    """`text` made readable and harmless inside a file name, without a length bound: NFC,
    whitespace runs as one space, no invisible characters, look-alikes for what Windows
    refuses, no leading or trailing spaces and dots (Windows drops the trailing ones; a
    leading dot hides a file, and hidden names are the library's own). May be empty."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if c.isspace() else c for c in text if c.isspace() or not _is_invisible(c))
    text = " ".join(text.translate(_LOOKALIKES).split())
    return unicodedata.normalize("NFC", text).strip(" .")


def whole_component(name: str) -> str:
    """`name` (cleaned) fit to stand as a whole file name: not starting with "-" (an option
    to command-line tools) and not a device name Windows reserves ("CON", "nul.txt")."""
    if name.startswith("-"):
        name = "_" + name[1:]
    if name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
        name = "_" + name
    return name


def cut_to_bytes(text: str, limit: int) -> str:
    """The longest start of `text` whose UTF-8 is at most `limit` bytes, cut between
    characters, without the spaces and dots the cut may leave at its end."""
    data = text.encode("utf-8")
    while len(data) > limit:
        # Re-normalising a cut NFC string rarely changes it; if it grows, cut again.
        text = unicodedata.normalize("NFC", data[:limit].decode("utf-8", "ignore")).rstrip(" .")
        data = text.encode("utf-8")
        limit = min(limit, len(data)) if len(data) <= limit else limit - 1
    return text


def folder_name(uploader: str, uploader_id: str) -> str:
    """The channel's folder: its uploader's name, else the uploader's id, else "Unknown"."""
    for candidate in (uploader, uploader_id):
        # One byte spare for whole_component's "_".
        name = whole_component(cut_to_bytes(clean_component(candidate), MAX_FOLDER_BYTES - 1))
        if name.casefold() in _IGNORED_FOLDERS:
            return f"_{name}"
        if name:
            return name
    return UNKNOWN_FOLDER


def iso_date(upload_date: str) -> str:
    """yt-dlp's YYYYMMDD as YYYY-MM-DD, or "" when it is not a real date."""
    if not re.fullmatch(r"[0-9]{8}", upload_date):
        return ""
    try:
        return date(int(upload_date[:4]), int(upload_date[4:6]), int(upload_date[6:])).isoformat()
    except ValueError:
        return ""


def base_name(upload_date: str, title: str, foreign_id: str, copy: int = 1) -> str:
    """`<upload date> <title> [<id>]`, the name every file of a video starts with; with
    ` (<copy>)` when copy > 1 (the name was taken). At most MAX_BASE_BYTES, so that every
    sidecar's name fits in MAX_COMPONENT_BYTES: only the title is cut, never the date,
    the id or the copy number. An id that is no plain name is spelled as `safe_name`
    spells it (readable part and hash)."""
    fixed = f"[{safe_name(foreign_id)}]" + (f" ({copy})" if copy > 1 else "")
    day = iso_date(upload_date)
    prefix = f"{day} " if day else ""
    # Room for the title, its space and whole_component's "_".
    room = MAX_BASE_BYTES - len(prefix.encode()) - len(fixed.encode()) - 2
    cleaned = cut_to_bytes(clean_component(title), room)
    return whole_component(f"{prefix}{cleaned} {fixed}" if cleaned else f"{prefix}{fixed}")
