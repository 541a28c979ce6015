"""The directory Video Service's "library" layout (SCHEDULER_VIDEO_SERVICE__LAYOUT =
"library"): files a media server reads, on a real disk, and through the whole pipeline
against the local content site."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from scheduler.pipeline.metadata import upload_date
from scheduler.settings import VideoServiceSettings
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.video_service.base import DownloadedVideo, VideoMetadata, VideoServiceError
from scheduler.video_service.directory import DirectoryVideoService
from scheduler.video_service.library import INDEX, LibraryVideoService
from scheduler.video_service.naming import (
    MAX_BASE_BYTES,
    MAX_COMPONENT_BYTES,
    base_name,
    folder_name,
    safe_name,
    subtitle_suffixes,
)
from scheduler.video_service.open import open_video_service
from tests.conftest import Database, scratch_database
from tests.content_site import JPEG, ContentSite
from tests.support import clean_environment, database_url_for, scheduler_command
from tests.test_pipeline import pipeline_settings, serving, wait_for

SITE = "www.nicovideo.jp"
TITLE = "新・豪血寺一族 -煩悩解放 - レッツゴー!陰陽師"
WINDOWS_FORBIDDEN = set('/\\:*?"<>|')
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{d}{n}" for d in ("COM", "LPT") for n in "123456789"}
BIDI = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def make_video(
    where: Path,
    foreign_id: str = "sm9",
    *,
    title: str = TITLE,
    uploader: str = "中の人",
    date: str = "20070306",
    website: str = SITE,
    thumbnail: bool = True,
    subtitles: tuple[str, ...] = (),
) -> DownloadedVideo:
    """A downloaded video as the downloader leaves it: files in a work directory, subtitles
    named as yt-dlp names them (`video.<language>.<ext>`)."""
    work = Path(tempfile.mkdtemp(prefix="work-", dir=where))
    metadata = VideoMetadata(
        website=website,
        foreign_id=foreign_id,
        url=f"https://{website}/watch/{foreign_id}",
        title=title,
        description="line one\nline two & <three>",
        uploader=uploader,
        uploader_id="4",
        tags=("音楽", "陰陽師", "tag with spaces"),
        category="Music",
        upload_date=date,
    )
    video_path = work / "video.mp4"
    video_path.write_bytes(os.urandom(50_000))
    info_path = work / "video.info.json"
    info_path.write_text(json.dumps({"id": foreign_id, "title": title}), "utf-8")
    thumbnail_path = None
    if thumbnail:
        thumbnail_path = work / "video.jpg"
        thumbnail_path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2_000))
    subtitle_paths = []
    for name in subtitles:  # "ja.vtt"
        path = work / f"video.{name}"
        path.write_text(f"WEBVTT\n\n00:00.000 --> 00:01.000\n{name}\n", "utf-8")
        subtitle_paths.append(path)
    return DownloadedVideo(metadata, video_path, info_path, thumbnail_path, tuple(subtitle_paths))


def visible_files(root: Path) -> list[Path]:
    """What a media server sees: every file not under a dot-prefixed name."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def xml_char(c: str) -> bool:
    """In XML 1.0's Char production, and not a DEL or C1 control (which it discourages)."""
    code = ord(c)
    return (
        c in "\t\n\r"
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )


def nfo_fields(path: Path) -> dict[str, list[str]]:
    root = ET.parse(path).getroot()
    assert root.tag == "movie"
    fields: dict[str, list[str]] = {}
    for element in root:
        fields.setdefault(element.tag, []).append(element.text or "")
    return fields


def assert_harmless(name: str) -> None:
    """One path component any of Linux, macOS and Windows takes as it is."""
    assert name not in ("", ".", ".."), name
    assert len(name.encode("utf-8")) <= MAX_COMPONENT_BYTES, name
    assert unicodedata.normalize("NFC", name) == name, name
    assert not WINDOWS_FORBIDDEN & set(name), name
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name), name
    assert not BIDI & set(name), name
    assert name == name.strip(" ") and not name.startswith(".") and not name.endswith("."), name
    assert name.split(".", 1)[0].rstrip(" ").upper() not in WINDOWS_RESERVED, name


@pytest.fixture
def library(tmp_path: Path) -> LibraryVideoService:
    return LibraryVideoService(tmp_path / "media")


# --- one video ----------------------------------------------------------------------------


async def test_a_video_becomes_the_files_a_media_server_reads(tmp_path: Path) -> None:
    settings = VideoServiceSettings("directory", tmp_path / "media", "", "", 10.0, layout="library")
    video = make_video(tmp_path, subtitles=("ja.vtt", "en.srt"))
    root = settings.directory

    async with open_video_service(settings) as service:
        assert isinstance(service, LibraryVideoService)
        assert not await service.exists(SITE, "sm9")
        stored = await service.upload(video)
        assert await service.exists(SITE, "sm9")
        assert not await service.exists("www.youtube.com", "sm9")

    base = f"2007-03-06 {TITLE} [sm9]"
    folder = root / "中の人"
    assert stored == f"中の人/{base}.mp4"
    assert visible_files(root) == sorted(
        folder / f"{base}{suffix}"
        for suffix in (".mp4", ".nfo", "-poster.jpg", ".ja.vtt", ".en.srt", ".info.json")
    )
    assert (folder / f"{base}.mp4").read_bytes() == video.video_path.read_bytes()
    assert video.thumbnail_path is not None
    assert (folder / f"{base}-poster.jpg").read_bytes() == video.thumbnail_path.read_bytes()
    assert (folder / f"{base}.info.json").read_bytes() == video.info_json_path.read_bytes()
    for path in video.subtitle_paths:
        language_and_ext = path.name.removeprefix("video")
        assert (folder / f"{base}{language_and_ext}").read_bytes() == path.read_bytes()
    # Only the index and nothing else is hidden; no upload is left half done.
    assert sorted(p.name for p in root.iterdir()) == [INDEX, "中の人"]
    entry = json.loads((root / INDEX / SITE / "sm9").read_text("utf-8"))
    assert entry["video"] == stored and (entry["website"], entry["foreign_id"]) == (SITE, "sm9")


async def test_the_nfo_carries_each_field(library: LibraryVideoService, tmp_path: Path) -> None:
    video = make_video(tmp_path)
    meta = video.metadata

    stored = Path(await library.upload(video))

    fields = nfo_fields(library.root / stored.with_suffix(".nfo"))
    assert fields == {
        "title": [TITLE],
        "plot": [f"{meta.description}\n\n{meta.url}"],
        "premiered": ["2007-03-06"],
        "year": ["2007"],
        "studio": ["中の人"],
        "genre": ["Music"],
        "tag": ["音楽", "陰陽師", "tag with spaces"],
        "uniqueid": ["sm9"],
    }
    uniqueid = ET.parse(library.root / stored.with_suffix(".nfo")).getroot().find("uniqueid")
    assert uniqueid is not None and uniqueid.attrib == {"type": SITE, "default": "true"}


async def test_without_a_date_thumbnail_or_uploader_the_names_leave_them_out(
    library: LibraryVideoService, tmp_path: Path
) -> None:
    video = make_video(tmp_path, "nodate", title="Plain", uploader="", date="", thumbnail=False)
    video = dataclasses.replace(video, metadata=dataclasses.replace(video.metadata, uploader_id=""))

    stored = await library.upload(video)

    assert stored == "Unknown/Plain [nodate].mp4"
    assert [p.name for p in visible_files(library.root)] == [
        "Plain [nodate].info.json",
        "Plain [nodate].mp4",
        "Plain [nodate].nfo",
    ]
    fields = nfo_fields(library.root / "Unknown/Plain [nodate].nfo")
    assert "premiered" not in fields and "year" not in fields and "studio" not in fields


# --- hostile titles ------------------------------------------------------------------------

HOSTILE_TITLES = {
    "slashes": "../../etc/passwd \\ a/b",
    "dot-dot": "..",
    "nul": "nul\x00byte\x01\x1f\x7f\x85",
    "long": "長" * 1000,
    "long-ascii": "a" * 1000,
    "rtl": "\u202egpj.exe\u202c \u200fright\u200e \u2066iso\u2069",
    "reserved": "CON",
    "reserved-ext": "nul.txt",
    "dots-spaces": " . .. . ",
    "emoji": "🎉👨‍👩‍👧 party 🎉" * 30,
    "cjk": "日本語のタイトル" * 40,
    "windows": 'what? "this" <is> a|b: c*d',
    "zero-width": "in\u200bvisible\ufeff",
    "newlines": "line\nbreak\r\ttab",
    "surrogate": "lone \ud800 surrogate",
    "nfd": "Cafe\u0301",
    "leading-dash": "-rf --no-preserve-root",
}


@pytest.mark.parametrize("title", HOSTILE_TITLES.values(), ids=HOSTILE_TITLES.keys())
async def test_hostile_titles_give_harmless_bounded_names_inside_the_root(
    library: LibraryVideoService, tmp_path: Path, title: str
) -> None:
    video = make_video(tmp_path, "sm9", title=title, uploader=title, subtitles=("ja.vtt",))

    stored = await library.upload(video)

    files = visible_files(library.root)
    assert len(files) == 5
    root = library.root.resolve()
    for path in files:
        assert path.resolve().is_relative_to(root)
        assert path.parent.parent == library.root  # <root>/<channel>/<file>
        for part in path.relative_to(library.root).parts:
            assert_harmless(part)
        assert "[sm9]" in path.name  # the id is never cut
    assert library.root / stored in files
    # The NFO stays well-formed XML and carries the whole title but what XML cannot hold.
    [nfo] = [p for p in files if p.suffix == ".nfo"]
    assert nfo_fields(nfo)["title"] == [" ".join("".join(filter(xml_char, title)).split()) or "sm9"]


def test_the_nfc_and_nfd_spellings_of_a_title_name_the_same_files() -> None:
    assert (
        base_name("20240101", "Cafe\u0301", "a")
        == base_name("20240101", "Café", "a")
        == "2024-01-01 Café [a]"
    )


@pytest.mark.parametrize(
    "foreign_id", ["../../etc", "a/b", "..", "", "nul\x00", "x" * 300, "CON", "\u202eid"]
)
async def test_hostile_ids_are_spelled_as_the_id_layout_spells_them(
    library: LibraryVideoService, tmp_path: Path, foreign_id: str
) -> None:
    stored = await library.upload(make_video(tmp_path, foreign_id, title="t"))

    assert await library.exists(SITE, foreign_id)
    for path in visible_files(library.root):
        for part in path.relative_to(library.root).parts:
            assert_harmless(part)
    assert stored == f"中の人/2007-03-06 t [{safe_name(foreign_id)}].mp4"
    assert "~" in stored or foreign_id == "CON"  # readable part and hash, but for a plain id


@given(st.text(), st.text(), st.text(max_size=300))
def test_every_base_name_and_folder_is_harmless_and_leaves_room_for_each_sidecar(
    title: str, uploader: str, foreign_id: str
) -> None:
    base = base_name("20240101", title, foreign_id)
    assert len(base.encode()) <= MAX_BASE_BYTES
    for suffix in (
        ".mp4",
        ".nfo",
        "-poster.jpeg",
        ".info.json",
        *subtitle_suffixes((Path("v.zh-Hant-TW.vtt"),)),
    ):
        assert_harmless(base + suffix)
    assert_harmless(folder_name(uploader, foreign_id))


@pytest.mark.parametrize(
    ("uploader", "uploader_id", "folder"),
    [
        ("CON", "", "_CON"),
        ("Metadata", "", "_Metadata"),
        ("lost+found", "", "_lost+found"),
        (" . ", "UC1", "UC1"),
        ("", "", "Unknown"),
        ("-rf", "", "_rf"),
        ("a/b: c", "", "a\u29f8b\uff1a c"),
    ],
)
def test_a_channels_folder_is_a_name_media_servers_show(uploader: str, uploader_id: str, folder: str) -> None:
    assert folder_name(uploader, uploader_id) == folder


def test_subtitle_names_keep_each_track_apart() -> None:
    names = ("v.ja.vtt", "v.ja.vtt", "v.en-US.srt", "v.vtt", "v.../x.ass", "v." + "l" * 80 + ".vtt")

    suffixes = subtitle_suffixes(tuple(Path(n) for n in names))

    assert suffixes[:4] == [".ja.vtt", ".ja-2.vtt", ".en-US.srt", ".und.vtt"]
    assert len(set(suffixes)) == len(suffixes)
    assert all(len(s) <= 50 for s in suffixes)


# --- two videos, one name ----------------------------------------------------------------


async def test_two_videos_with_one_title_keep_both_sets_of_files(
    library: LibraryVideoService, tmp_path: Path
) -> None:
    await library.upload(make_video(tmp_path, "sm1", title="Same"))
    await library.upload(make_video(tmp_path, "sm2", title="Same"))

    names = [p.name for p in visible_files(library.root)]
    assert len(names) == 8
    assert {n.partition(".")[0] for n in names} >= {"2007-03-06 Same [sm1]", "2007-03-06 Same [sm2]"}


async def test_one_id_on_two_websites_gets_a_numbered_name_and_overwrites_nothing(
    library: LibraryVideoService, tmp_path: Path
) -> None:
    first = make_video(tmp_path, "42", title="Same", website="a.example")
    second = make_video(tmp_path, "42", title="Same", website="b.example")

    one = await library.upload(first)
    two = await library.upload(second)

    assert one == "中の人/2007-03-06 Same [42].mp4"
    assert two == "中の人/2007-03-06 Same [42] (2).mp4"
    assert (library.root / one).read_bytes() == first.video_path.read_bytes()
    assert (library.root / two).read_bytes() == second.video_path.read_bytes()
    assert len(visible_files(library.root)) == 8


async def test_an_existing_file_of_the_name_is_never_replaced(
    library: LibraryVideoService, tmp_path: Path
) -> None:
    folder = library.root / "中の人"
    folder.mkdir(parents=True)
    (folder / "2007-03-06 Same [sm9].nfo").write_text("the user's own", "utf-8")

    stored = await library.upload(make_video(tmp_path, title="Same"))

    assert stored == "中の人/2007-03-06 Same [sm9] (2).mp4"
    assert (folder / "2007-03-06 Same [sm9].nfo").read_text("utf-8") == "the user's own"


# --- one video, a new title ---------------------------------------------------------------


async def test_a_retitled_video_is_known_by_its_id_and_never_stored_twice(
    library: LibraryVideoService, tmp_path: Path
) -> None:
    await library.upload(make_video(tmp_path, title="First title"))
    before = visible_files(library.root)

    assert await library.exists(SITE, "sm9")
    with pytest.raises(VideoServiceError, match="already holds") as caught:
        await library.upload(make_video(tmp_path, title="A new title"))

    assert "\n" not in str(caught.value)
    assert visible_files(library.root) == before
    assert all("First title" in p.name for p in before)


# --- failures and crashes ------------------------------------------------------------------


async def test_a_failed_upload_leaves_nothing_a_media_server_sees(
    library: LibraryVideoService, tmp_path: Path
) -> None:
    video = make_video(tmp_path)
    assert video.thumbnail_path is not None
    video.thumbnail_path.unlink()  # fails after the NFO and the info JSON were written

    with pytest.raises(VideoServiceError, match="cannot store"):
        await library.upload(video)

    assert not await library.exists(SITE, "sm9")
    assert visible_files(library.root) == []
    assert not list(library.root.glob(".partial-*"))


def identity(path: Path) -> tuple[int, int, int, int]:
    status = path.lstat()
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def crash_after_placing(library: LibraryVideoService, foreign_id: str) -> list[Path]:
    """Puts the library in the state a crash leaves after an upload placed its files and
    before it wrote the index entry: the files, the intent that lists them, no entry, and
    its `.partial-*` directory. Returns the files."""
    entry = library.index_entry(SITE, foreign_id)
    placed = [library.root / p for p in json.loads(entry.read_text("utf-8"))["files"]]
    files = [{"path": p.relative_to(library.root).as_posix(), "identity": [*identity(p)]} for p in placed]
    entry.with_name(f".intent-{entry.name}").write_text(json.dumps({"files": files}), "utf-8")
    entry.unlink()
    (library.root / ".partial-crashed").mkdir()
    return placed


async def test_leftovers_of_a_crash_never_count_as_stored_and_its_retry_replaces_them(
    library: LibraryVideoService, tmp_path: Path
) -> None:
    stored = await library.upload(make_video(tmp_path, subtitles=("ja.vtt",)))
    placed = crash_after_placing(library, "sm9")

    assert not await library.exists(SITE, "sm9")
    again = await library.upload(make_video(tmp_path, subtitles=("ja.vtt",)))

    assert again == stored  # the crashed upload's names, not " (2)"
    assert await library.exists(SITE, "sm9")
    assert visible_files(library.root) == sorted(placed)
    assert not list(library.index_entry(SITE, "sm9").parent.glob(".intent-*"))


async def test_undoing_a_crash_removes_only_the_crashed_uploads_own_files(
    library: LibraryVideoService, tmp_path: Path
) -> None:
    await library.upload(make_video(tmp_path))
    placed = crash_after_placing(library, "sm9")
    # Since the crash, someone put a file of their own under one of its names.
    placed[0].unlink()
    placed[0].write_text("someone else's", "utf-8")

    again = await library.upload(make_video(tmp_path))

    assert again.endswith(" [sm9] (2).mp4")  # that name is taken by the file kept
    assert placed[0].read_text("utf-8") == "someone else's"
    assert [p for p in visible_files(library.root) if p in placed] == [placed[0]]
    assert len(visible_files(library.root)) == 1 + 4


async def test_a_bad_layout_stops_serve_with_one_line_naming_the_setting() -> None:
    result = await trio.run_process(
        scheduler_command("serve"),
        env=clean_environment(SCHEDULER_VIDEO_SERVICE__LAYOUT="flat"),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )

    assert result.returncode == 2
    [line] = result.stderr.decode().splitlines()
    assert line == "scheduler: SCHEDULER_VIDEO_SERVICE__LAYOUT: must be one of id, library, got 'flat'"


# --- subtitles in the id layout ------------------------------------------------------------


async def test_the_id_layout_puts_subtitles_in_the_videos_directory(tmp_path: Path) -> None:
    service = DirectoryVideoService(tmp_path / "media")
    video = make_video(tmp_path, subtitles=("ja.vtt", "en-US.srt", "ja.srt"))

    stored = await service.upload(video)

    folder = tmp_path / "media" / stored
    assert sorted(p.name for p in folder.glob("subtitles*")) == [
        "subtitles.en-US.srt",
        "subtitles.ja.srt",
        "subtitles.ja.vtt",
    ]
    assert (folder / "subtitles.ja.vtt").read_bytes() == video.subtitle_paths[0].read_bytes()
    assert json.loads((folder / "metadata.json").read_text("utf-8"))["upload_date"] == "20070306"


# --- the upload date -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20240131", "20240131"),
        ("2024-01-31", ""),
        ("2024013", ""),
        (20240131, ""),
        (None, ""),
        ("\uff12\uff10\uff12\uff14\uff10\uff11\uff13\uff11", ""),  # full-width digits
    ],
)
def test_the_upload_date_is_eight_digits_or_nothing(value: object, expected: str) -> None:
    assert upload_date({"upload_date": value}) == expected


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1704153599, "20240101"),
        (1704153600, "20240102"),
        (1e20, ""),
        (float("nan"), ""),
        (True, ""),
        ("1", ""),
    ],
)
def test_without_an_upload_date_the_timestamps_utc_day_is_taken(timestamp: object, expected: str) -> None:
    assert upload_date({"timestamp": timestamp}) == expected


@pytest.mark.parametrize(("value", "name"), [("20241399", "[x]"), ("20240229", "2024-02-29 [x]")])
def test_a_date_that_is_no_calendar_date_is_left_out_of_the_name(value: str, name: str) -> None:
    assert base_name(value, "", "x") == name


# --- end to end ----------------------------------------------------------------------------


@pytest.fixture
def second_database_url(postgres_url: str, template_database: str) -> Iterator[str]:
    """Another fresh, migrated database: a scheduler that has forgotten what it delivered."""
    with scratch_database(postgres_url, "scheduler_test", template_database) as name:
        yield database_url_for(postgres_url, name)


async def test_a_feed_delivered_into_a_library(
    database_url: str,
    second_database_url: str,
    redis_url: str,
    tmp_path: Path,
    site: ContentSite,
    db: Database,
) -> None:
    """The pipeline, from the content site's feed to the files a user would see; then the
    site renames a video, and a scheduler that lists it anew finds it in the library."""
    site.add_page_video("paged", tags=("MAD", "Touhou"), title="A page: with/slashes")
    site.add_video("plain", title="Plain video")
    feed = site.feed("feed", ["paged", "plain"], thumbnails="itunes")
    settings = pipeline_settings(database_url, redis_url, tmp_path, video_service={"layout": "library"})

    async with serving(settings) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)

    root = settings.video_service.directory
    # ":" and "/" as yt-dlp spells them in names: FULLWIDTH COLON and BIG SOLIDUS.
    paged = "Unknown/2024-01-01 A page\uff1a with\u29f8slashes [paged]"
    plain = "Unknown/2024-01-01 Plain video [plain]"
    delivered = visible_files(root)
    assert [p.relative_to(root).as_posix() for p in delivered] == sorted(
        f"{base}{suffix}"
        for base in (paged, plain)
        for suffix in (".mp4", ".nfo", "-poster.jpg", ".info.json")
    )
    assert (root / f"{paged}.mp4").read_bytes() == site.video_bytes("paged")
    assert (root / f"{paged}-poster.jpg").read_bytes() == JPEG
    assert json.loads((root / f"{paged}.info.json").read_text("utf-8"))["content_category"] == "General"
    fields = nfo_fields(root / f"{paged}.nfo")
    assert fields == {
        "title": ["A page: with/slashes"],
        "plot": [f"About paged.\n\n{site.video('paged').url}"],
        "premiered": ["2024-01-01"],
        "year": ["2024"],
        "genre": ["General"],
        "tag": ["MAD", "Touhou"],
        "uniqueid": ["paged"],
    }
    # A plain enclosure's download has no date: it is the feed item's pubDate, from the listing.
    assert nfo_fields(root / f"{plain}.nfo")["premiered"] == ["2024-01-01"]

    # Renamed on the site; a scheduler with a new database lists it again.
    fetched = len(site.requests_for("/videos/paged.mp4"))
    site.add_page_video("paged", tags=("MAD",), title="A new title")
    second = pipeline_settings(second_database_url, redis_url, tmp_path, video_service={"layout": "library"})
    second_db = Database(second_database_url)
    async with serving(second) as (_, api):
        await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=feed, user_id=1))
        await wait_for(second_db, "SELECT count(*) FROM videos WHERE status = 'done'", 2)

    assert visible_files(root) == delivered
    assert len(site.requests_for("/videos/paged.mp4")) == fetched  # not downloaded again
