"""The three Video Services over real sockets and a real disk, against the fakes."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from scheduler.settings import VideoServiceSettings
from scheduler.video_service.base import DownloadedVideo, VideoMetadata, VideoService, VideoServiceError
from scheduler.video_service.directory import DirectoryVideoService
from scheduler.video_service.horahora import CHUNK_SIZE, HorahoraVideoService
from scheduler.video_service.http import HttpVideoService
from scheduler.video_service.naming import safe_name
from scheduler.video_service.open import open_video_service
from tests.fake_video_service import FakeHorahora, FakeHttp, running_fake_horahora, running_fake_http
from tests.support import free_port

MiB = 1024 * 1024
SITE = "www.nicovideo.jp"
KINDS = ["directory", "horahora", "http"]


def make_video(
    where: Path,
    foreign_id: str = "sm9",
    *,
    size: int = 3 * MiB + 12345,
    thumbnail: bool = True,
    info_size: int = MiB + MiB // 2,
) -> DownloadedVideo:
    """A downloaded video as the downloader leaves it: files in a work directory."""
    work = Path(tempfile.mkdtemp(prefix="work-", dir=where))
    metadata = VideoMetadata(
        website=SITE,
        foreign_id=foreign_id,
        url=f"https://{SITE}/watch/{foreign_id}",
        title="新・豪血寺一族 -煩悩解放 - レッツゴー!陰陽師",
        description="line one\nline two",
        uploader="中の人",
        uploader_id="4",
        tags=("音楽", "陰陽師", "tag with spaces"),
    )
    video_path = work / "video file.mp4"
    with video_path.open("wb") as file:
        for offset in range(0, size, MiB):
            file.write(os.urandom(min(MiB, size - offset)))
    info_path = work / "video file.info.json"
    info = {"id": foreign_id, "title": metadata.title, "padding": "x" * info_size}
    info_path.write_text(json.dumps(info), "utf-8")
    thumbnail_path = None
    if thumbnail:
        thumbnail_path = work / "video file.jpg"
        thumbnail_path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(20_000))
    return DownloadedVideo(metadata, video_path, info_path, thumbnail_path)


@dataclass
class Stored:
    """What a service holds for one video, in one shape for all kinds."""

    video: bytes
    info: bytes
    thumbnail: bytes | None
    metadata: dict[str, Any]


@dataclass
class Backend:
    service: VideoService
    stored: Callable[[str], Stored]  # by the id upload() returned


def _directory_stored(root: Path) -> Callable[[str], Stored]:
    def stored(video_id: str) -> Stored:
        folder = root / video_id
        (video,) = folder.glob("video*")
        thumbnails = list(folder.glob("thumbnail*"))
        return Stored(
            video.read_bytes(),
            (folder / "info.json").read_bytes(),
            thumbnails[0].read_bytes() if thumbnails else None,
            json.loads((folder / "metadata.json").read_text("utf-8")),
        )

    return stored


def _horahora_stored(fake: FakeHorahora) -> Callable[[str], Stored]:
    def stored(video_id: str) -> Stored:
        (upload,) = [u for u in fake.uploads if str(u.video_id) == video_id]
        meta = upload.meta
        assert meta is not None
        return Stored(
            bytes(upload.video),
            bytes(upload.rawmeta),
            meta.thumbnail or None,
            {
                "website": meta.originalSite,
                "foreign_id": meta.originalID,
                "url": meta.originalVideoLink,
                "title": meta.title,
                "description": meta.description,
                "uploader": meta.authorUsername,
                "uploader_id": meta.authorUID,
                "tags": list(meta.Tags),
            },
        )

    return stored


def _http_stored(fake: FakeHttp) -> Callable[[str], Stored]:
    def stored(video_id: str) -> Stored:
        (upload,) = [u for u in fake.uploads if u.video_id == video_id]
        return Stored(
            upload.files["video"], upload.files["info"], upload.files.get("thumbnail"), upload.metadata
        )

    return stored


@pytest.fixture(params=KINDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each kind as `open_video_service` makes it from settings, with a way to see what it holds."""
    settings = VideoServiceSettings(
        kind=request.param, directory=tmp_path / "media", address="", url="", timeout_s=10.0
    )
    if request.param == "directory":
        async with open_video_service(settings) as service:
            yield Backend(service, _directory_stored(settings.directory))
    elif request.param == "horahora":
        async with running_fake_horahora() as horahora:
            settings = VideoServiceSettings("horahora", Path(), horahora.address, "", 10.0)
            async with open_video_service(settings) as service:
                yield Backend(service, _horahora_stored(horahora))
    else:
        async with running_fake_http() as http:
            settings = VideoServiceSettings("http", Path(), "", http.url, 10.0)
            async with open_video_service(settings) as service:
                yield Backend(service, _http_stored(http))


# --- every kind -----------------------------------------------------------------------


async def test_a_video_exists_once_uploaded(backend: Backend, tmp_path: Path) -> None:
    video = make_video(tmp_path)
    assert not await backend.service.exists(SITE, "sm9")

    video_id = await backend.service.upload(video)

    assert video_id
    assert await backend.service.exists(SITE, "sm9")
    assert not await backend.service.exists(SITE, "sm10")
    assert not await backend.service.exists("www.youtube.com", "sm9")


async def test_an_upload_arrives_whole(backend: Backend, tmp_path: Path) -> None:
    video = make_video(tmp_path)

    stored = backend.stored(await backend.service.upload(video))

    assert stored.video == video.video_path.read_bytes()
    assert stored.info == video.info_json_path.read_bytes()
    assert video.thumbnail_path is not None
    assert stored.thumbnail == video.thumbnail_path.read_bytes()
    meta = video.metadata
    # Horahora's wire contract has no field for the content category or the upload date
    # (they are in its raw metadata, the info JSON); the others carry them.
    assert stored.metadata.pop("category", meta.category) == meta.category
    assert stored.metadata.pop("upload_date", meta.upload_date) == meta.upload_date
    assert stored.metadata == {
        "website": meta.website,
        "foreign_id": meta.foreign_id,
        "url": meta.url,
        "title": meta.title,
        "description": meta.description,
        "uploader": meta.uploader,
        "uploader_id": meta.uploader_id,
        "tags": list(meta.tags),
    }


async def test_a_video_without_thumbnail_or_content(backend: Backend, tmp_path: Path) -> None:
    video = make_video(tmp_path, size=0, thumbnail=False, info_size=10)

    stored = backend.stored(await backend.service.upload(video))

    assert (stored.video, stored.thumbnail) == (b"", None)
    assert stored.info == video.info_json_path.read_bytes()


async def test_a_second_upload_of_a_video_is_refused(backend: Backend, tmp_path: Path) -> None:
    await backend.service.upload(make_video(tmp_path))

    with pytest.raises(VideoServiceError) as caught:
        await backend.service.upload(make_video(tmp_path))
    assert "\n" not in str(caught.value)


# --- horahora --------------------------------------------------------------------------


@pytest.fixture
async def horahora() -> AsyncIterator[FakeHorahora]:
    async with running_fake_horahora() as fake:
        yield fake


async def test_horahora_sends_meta_then_content_then_rawmeta(horahora: FakeHorahora, tmp_path: Path) -> None:
    video = make_video(tmp_path)
    async with HorahoraVideoService.connect(horahora.address, 10.0) as service:
        video_id = await service.upload(video)

    (upload,) = horahora.uploads
    assert video_id == str(upload.video_id)
    kinds = [kind for kind, _ in upload.chunks]
    content = [size for kind, size in upload.chunks if kind == "content"]
    rawmeta = [size for kind, size in upload.chunks if kind == "rawmeta"]
    assert kinds == ["meta"] + ["content"] * len(content) + ["rawmeta"] * len(rawmeta)
    assert len(content) == 4 and len(rawmeta) == 2
    assert all(size <= CHUNK_SIZE for size in content + rawmeta)
    assert content[:-1] == [CHUNK_SIZE] * 3 and sum(content) == video.video_path.stat().st_size
    assert upload.meta is not None
    assert upload.meta.domesticAuthorID == 0
    assert upload.meta.originalSite == SITE and upload.meta.originalID == "sm9"
    assert upload.meta.authorUID == "4" and upload.meta.authorUsername == "中の人"
    assert upload.meta.originalVideoLink == f"https://{SITE}/watch/sm9"


async def test_horahora_asks_by_foreign_id_and_website(horahora: FakeHorahora) -> None:
    async with HorahoraVideoService.connect(horahora.address, 10.0) as service:
        assert not await service.exists(SITE, "sm9")

    (check,) = horahora.checks
    assert (check.ForeignVideoID, check.ForeignWebsite) == ("sm9", SITE)


async def test_a_failing_horahora_is_a_video_service_error(horahora: FakeHorahora, tmp_path: Path) -> None:
    horahora.fail_next_uploads = 1
    video = make_video(tmp_path)
    async with HorahoraVideoService.connect(horahora.address, 10.0) as service:
        with pytest.raises(VideoServiceError, match="UNAVAILABLE: fake: storage backend unavailable"):
            await service.upload(video)
        assert not await service.exists(SITE, "sm9")

        await service.upload(video)  # the retry

    assert len(horahora.uploads) == 1


async def test_a_hanging_horahora_fails_at_the_deadline(horahora: FakeHorahora, tmp_path: Path) -> None:
    horahora.hang = True
    video = make_video(tmp_path, size=MiB)
    async with HorahoraVideoService.connect(horahora.address, 0.5) as service:
        for call in (lambda: service.exists(SITE, "sm9"), lambda: service.upload(video)):
            start = trio.current_time()
            with pytest.raises(VideoServiceError, match=r"no answer within 0\.5s"):
                await call()
            assert 0.4 < trio.current_time() - start < 3


async def test_an_unreachable_horahora_is_a_video_service_error() -> None:
    async with HorahoraVideoService.connect(f"127.0.0.1:{free_port()}", 5.0) as service:
        with pytest.raises(VideoServiceError, match=r"horahora 127\.0\.0\.1:") as caught:
            await service.exists(SITE, "sm9")
    assert "\n" not in str(caught.value)


# --- http --------------------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[FakeHttp]:
    async with running_fake_http() as fake:
        yield fake


async def test_http_quotes_every_path_component(http: FakeHttp) -> None:
    async with HttpVideoService(http.url + "/", 10.0) as service:
        for foreign_id in ("..", "a/b", "é x?#%"):
            assert not await service.exists("www.example.com", foreign_id)

    assert http.requests == [
        ("GET", "/api/videos/www%2Eexample%2Ecom/%2E%2E"),
        ("GET", "/api/videos/www%2Eexample%2Ecom/a%2Fb"),
        ("GET", "/api/videos/www%2Eexample%2Ecom/%C3%A9%20x%3F%23%25"),
    ]


async def test_http_upload_is_multipart_with_a_known_length(http: FakeHttp, tmp_path: Path) -> None:
    video = make_video(tmp_path, "../x/y")
    async with HttpVideoService(http.url, 10.0) as service:
        assert await service.upload(video) == "v1"
        assert await service.exists(SITE, "../x/y")

    (upload,) = http.uploads
    assert upload.filenames == {"video": "video.mp4", "info": "info.json", "thumbnail": "thumbnail.jpg"}
    assert upload.content_types == {
        "metadata": "application/json",
        "video": "video/mp4",
        "info": "application/json",
        "thumbnail": "image/jpeg",
    }
    assert "transfer-encoding" not in upload.headers
    assert int(upload.headers["content-length"]) > video.video_path.stat().st_size


async def test_http_sends_each_subtitle_as_a_part_of_its_own(http: FakeHttp, tmp_path: Path) -> None:
    video = make_video(tmp_path, size=10, info_size=10)
    subtitles = []
    for name in ("video file.ja.vtt", "video file.en-US.srt", "video file.ja.ass"):
        path = video.video_path.with_name(name)
        path.write_text(f"subtitle {name}", "utf-8")
        subtitles.append(path)
    video = dataclasses.replace(video, subtitle_paths=tuple(subtitles))
    async with HttpVideoService(http.url, 10.0) as service:
        await service.upload(video)

    (upload,) = http.uploads
    assert upload.subtitles == {
        "ja.vtt": b"subtitle video file.ja.vtt",
        "en-US.srt": b"subtitle video file.en-US.srt",
        "ja.ass": b"subtitle video file.ja.ass",
    }
    assert upload.subtitle_types == {
        "ja.vtt": "text/vtt",
        "en-US.srt": "application/x-subrip",
        "ja.ass": "text/x-ssa",
    }
    assert upload.files["video"] == video.video_path.read_bytes()


async def test_horahora_takes_a_video_with_subtitles_without_them(
    horahora: FakeHorahora, tmp_path: Path
) -> None:
    """Its wire has no place for subtitles (docs/video-services.md): they are dropped."""
    video = make_video(tmp_path, size=10, info_size=10)
    subtitle = video.video_path.with_name("video file.ja.vtt")
    subtitle.write_text("WEBVTT", "utf-8")
    async with HorahoraVideoService.connect(horahora.address, 10.0) as service:
        await service.upload(dataclasses.replace(video, subtitle_paths=(subtitle,)))

    (upload,) = horahora.uploads
    assert bytes(upload.video) == video.video_path.read_bytes()
    assert b"WEBVTT" not in upload.rawmeta


async def test_a_failing_http_service_is_a_video_service_error(http: FakeHttp, tmp_path: Path) -> None:
    http.fail_next_uploads = 1
    video = make_video(tmp_path)
    async with HttpVideoService(http.url, 10.0) as service:
        with pytest.raises(VideoServiceError, match=r"HTTP 503: .*storage backend unavailable"):
            await service.upload(video)
        assert await service.upload(video) == "v1"


async def test_a_hanging_http_service_fails_at_the_deadline(http: FakeHttp, tmp_path: Path) -> None:
    http.hang = True
    video = make_video(tmp_path, size=MiB)
    async with HttpVideoService(http.url, 0.5) as service:
        for call in (lambda: service.exists(SITE, "sm9"), lambda: service.upload(video)):
            start = trio.current_time()
            with pytest.raises(VideoServiceError, match=f"http {http.url}: "):
                await call()
            assert 0.4 < trio.current_time() - start < 3


async def test_an_unreachable_http_service_is_a_video_service_error() -> None:
    async with HttpVideoService(f"http://127.0.0.1:{free_port()}", 5.0) as service:
        with pytest.raises(VideoServiceError, match="existence check of") as caught:
            await service.exists(SITE, "sm9")
    assert "\n" not in str(caught.value)


# --- memory --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["horahora", "http"])
async def test_uploads_stream_in_constant_memory(kind: str, tmp_path: Path) -> None:
    """A 64 MiB upload allocates a few MiB at most (client and fake, both in this process)."""
    video = make_video(tmp_path, size=64 * MiB, info_size=10)
    async with running_fake_horahora() as horahora, running_fake_http() as http:
        horahora.keep_bytes = False
        http.discard = True
        if kind == "horahora":
            opened = HorahoraVideoService.connect(horahora.address, 60.0)
        else:
            opened = HttpVideoService(http.url, 60.0)
        async with opened as service:
            tracemalloc.start()
            try:
                await service.upload(video)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()

    assert peak < 12 * MiB, f"{peak / MiB:.1f} MiB"
    if kind == "horahora":
        assert horahora.uploads[0].video_size == 64 * MiB
    else:
        assert http.discarded_bytes > 64 * MiB


# --- directory -----------------------------------------------------------------------------

HOSTILE_IDS = ["../../etc", "a/b", "..", ".", "", "nul\x00byte", "/abs", "a" * 300, ".hidden", "a\\b"]


async def test_hostile_ids_stay_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "media"
    root.mkdir()
    service = DirectoryVideoService(root)
    ids = []
    for foreign_id in HOSTILE_IDS:
        video = make_video(tmp_path, foreign_id, size=10, info_size=10)
        ids.append(await service.upload(video))
        assert await service.exists(SITE, foreign_id)

    assert len(set(ids)) == len(HOSTILE_IDS)
    stored = sorted(p for p in root.rglob("*") if p.is_dir())
    assert stored == sorted([root / SITE, *(root / i for i in ids)])
    assert all((root / i).resolve().parent == (root / SITE).resolve() for i in ids)
    for i, foreign_id in zip(ids, HOSTILE_IDS, strict=True):
        assert json.loads((root / i / "metadata.json").read_text("utf-8"))["foreign_id"] == foreign_id


async def test_ids_that_sanitise_alike_do_not_collide(tmp_path: Path) -> None:
    service = DirectoryVideoService(tmp_path / "media")
    alike = ["a/b", "a?b", "a_b", "a:b", "a_b~" + "0" * 16]
    for foreign_id in alike:
        await service.upload(make_video(tmp_path, foreign_id, size=10, info_size=10))

    assert all([await service.exists(SITE, i) for i in alike])
    assert len({service.path_of(SITE, i) for i in alike}) == len(alike)
    assert service.path_of(SITE, "a_b").name == "a_b"  # safe ids stay readable


async def test_a_failed_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    root = tmp_path / "media"
    service = DirectoryVideoService(root)
    video = make_video(tmp_path)
    assert video.thumbnail_path is not None
    video.thumbnail_path.unlink()  # fails after the video file was copied

    with pytest.raises(VideoServiceError, match="cannot store"):
        await service.upload(video)

    assert not await service.exists(SITE, "sm9")
    assert list(root.rglob("*")) == [root / SITE]


async def test_a_leftover_temporary_directory_is_not_a_video(tmp_path: Path) -> None:
    root = tmp_path / "media"
    service = DirectoryVideoService(root)
    (root / SITE / ".partial-sm9").mkdir(parents=True)

    assert not await service.exists(SITE, ".partial-sm9")
    await service.upload(make_video(tmp_path, ".partial-sm9", size=10))
    assert await service.exists(SITE, ".partial-sm9")
    assert service.path_of(SITE, ".partial-sm9").name.startswith("partial-sm9~")


@given(st.text())
def test_safe_names_are_single_harmless_components(raw: str) -> None:
    name = safe_name(raw)
    assert name not in ("", ".", "..") and not name.startswith(".")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert len(name.encode()) <= 100
    assert name == safe_name(raw)


@given(st.text(), st.text())
def test_different_raw_values_get_different_names(one: str, other: str) -> None:
    if one != other:
        assert safe_name(one) != safe_name(other)


async def test_the_directory_links_the_video_on_the_same_file_system(tmp_path: Path) -> None:
    service = DirectoryVideoService(tmp_path / "media")
    video = make_video(tmp_path)
    expected = video.video_path.read_bytes()

    stored = tmp_path / "media" / await service.upload(video) / "video.mp4"

    assert stored.stat().st_ino == video.video_path.stat().st_ino  # no copy of the video
    shutil.rmtree(video.video_path.parent)  # what the pipeline does with its work directory
    assert stored.read_bytes() == expected


async def test_the_directory_copies_the_video_from_another_file_system(tmp_path: Path) -> None:
    shm = Path(tempfile.mkdtemp(dir="/dev/shm"))  # tmpfs: not tmp_path's file system
    try:
        assert shm.stat().st_dev != tmp_path.stat().st_dev
        service = DirectoryVideoService(tmp_path / "media")
        video = make_video(shm, size=MiB)

        stored = tmp_path / "media" / await service.upload(video) / "video.mp4"

        assert stored.read_bytes() == video.video_path.read_bytes()
        assert stored.stat().st_nlink == 1
    finally:
        shutil.rmtree(shm)
