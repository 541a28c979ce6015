"""proto.Scheduler, Horahora's scheduler API (docs/horahora.md): each method turns
Horahora's request into the checks and store calls scheduler.v1's servicer makes (the same
rules, errors and statuses; fields named as Horahora names them) and the answer into
Horahora's messages. Nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from grpclib.server import Stream

from scheduler.api import convert, validation
from scheduler.api.errors import unary
from scheduler.categories import from_url
from scheduler.db.store import Store
from scheduler.errors import InvalidArgument, NotFound, PermissionDenied
from scheduler.horahora import scheduler_pb2 as hh
from scheduler.horahora.scheduler_grpc import SchedulerBase

# How many events and unapproved videos Horahora's scheduler answered with.
HORAHORA_LIST_LIMIT = 100
_IN_PROGRESS = {
    "queued": hh.Video.Queued,
    "downloading": hh.Video.Downloading,
    "uploading": hh.Video.Downloading,
}


class HorahoraScheduler(SchedulerBase):
    def __init__(self, store: Store, allowed_sites: tuple[str, ...]) -> None:
        self._store = store
        self._allowed_sites = allowed_sites

    async def dlURL(self, stream: Stream[hh.URLRequest, hh.Empty]) -> None:
        await unary(stream, self._dl_url)

    async def _dl_url(self, request: hh.URLRequest) -> hh.Empty:
        user_id = validation.positive_id(request.userID, "userID")
        if not request.url:
            raise InvalidArgument("url", "must not be empty")
        await self._store.schedule_category(from_url(request.url, self._allowed_sites), user_id, False)
        return hh.Empty()

    async def listArchivalEntries(
        self, stream: Stream[hh.listArchivalEntriesRequest, hh.listArchivalEntriesResponse]
    ) -> None:
        await unary(stream, self._list_archival_entries)

    async def _list_archival_entries(
        self, request: hh.listArchivalEntriesRequest
    ) -> hh.listArchivalEntriesResponse:
        user_id = validation.positive_id(request.UserID, "UserID")
        rows = await self._store.list_categories(user_id)
        entries = [
            hh.contentArchivalEntry(
                UserID=user_id,
                Url=r.url,
                ArchivedVideos=r.archived_videos,
                CurrentTotalVideos=r.total_videos,
                LastSynced=convert.rfc3339(r.last_synced),
                BackoffFactor=r.backoff_factor,
                downloadID=r.id,
                UndownloadableVideos=r.undownloadable_videos,
            )
            for r in rows
        ]
        return hh.listArchivalEntriesResponse(entries=entries)

    async def listArchivalEvents(
        self, stream: Stream[hh.listArchivalEventsRequest, hh.listArchivalEventsResponse]
    ) -> None:
        await unary(stream, self._list_archival_events)

    async def _list_archival_events(
        self, request: hh.listArchivalEventsRequest
    ) -> hh.listArchivalEventsResponse:
        if request.ShowAll:
            validation.optional_id(request.DownloadID, "DownloadID")
            category_id = None
        else:
            category_id = validation.positive_id(request.DownloadID, "DownloadID")
        with _named(category_id="DownloadID"):
            rows = await self._store.list_events(category_id, HORAHORA_LIST_LIMIT)
        events = [
            hh.archivalEvent(
                video_url=r.video_url,
                parent_url=r.category_url,
                message=r.message,
                timestamp=convert.rfc3339(r.created_at),
            )
            for r in rows
        ]
        return hh.listArchivalEventsResponse(events=events)

    async def deleteArchivalRequest(self, stream: Stream[hh.deletionRequest, hh.Empty]) -> None:
        await unary(stream, self._delete_archival_request)

    async def _delete_archival_request(self, request: hh.deletionRequest) -> hh.Empty:
        user_id = validation.positive_id(request.userID, "userID")
        category_id = validation.positive_id(request.downloadID, "downloadID")
        with _named(category_id="downloadID", user_id="userID"):
            await self._store.unsubscribe(user_id, category_id)
        return hh.Empty()

    async def retryArchivalRequestDownloadss(self, stream: Stream[hh.retryRequest, hh.Empty]) -> None:
        await unary(stream, self._retry_archival_request)

    async def _retry_archival_request(self, request: hh.retryRequest) -> hh.Empty:
        user_id = validation.positive_id(request.userID, "userID")
        category_id = validation.positive_id(request.downloadID, "downloadID")
        with _named(category_id="downloadID", user_id="userID"):
            await self._store.retry_failed(user_id, category_id, None)
        return hh.Empty()

    async def getDownloadsInProgress(
        self, stream: Stream[hh.downloadsInProgressRequest, hh.downloadsInProgressResponse]
    ) -> None:
        await unary(stream, self._get_downloads_in_progress)

    async def _get_downloads_in_progress(
        self, request: hh.downloadsInProgressRequest
    ) -> hh.downloadsInProgressResponse:
        rows = await self._store.list_downloads(validation.MAX_LIMIT)
        videos = [
            hh.Video(VideoID=r.foreign_id, website=r.website, dlStatus=_IN_PROGRESS[r.status]) for r in rows
        ]
        return hh.downloadsInProgressResponse(videos=videos)

    async def GetUnapprovedVideoList(self, stream: Stream[hh.Empty, hh.UnapprovedList]) -> None:
        await unary(stream, self._get_unapproved_video_list)

    async def _get_unapproved_video_list(self, request: hh.Empty) -> hh.UnapprovedList:
        rows = await self._store.list_unapproved_videos(None, HORAHORA_LIST_LIMIT, newest_first=True)
        videos = [hh.UnapprovedVideo(VideoID=str(r.id), url=r.url, category=r.category) for r in rows]
        return hh.UnapprovedList(UnapprovedVideos=videos)

    async def ApproveVideo(self, stream: Stream[hh.ApproveVideoReq, hh.Empty]) -> None:
        await unary(stream, self._approve_video)

    async def _approve_video(self, request: hh.ApproveVideoReq) -> hh.Empty:
        with _named(video_id="VideoID"):
            await self._store.set_approval(_video_id(request.VideoID), "approved")
        return hh.Empty()

    async def UnapproveVideo(self, stream: Stream[hh.ApproveVideoReq, hh.Empty]) -> None:
        await unary(stream, self._unapprove_video)

    async def _unapprove_video(self, request: hh.ApproveVideoReq) -> hh.Empty:
        with _named(video_id="VideoID"):
            await self._store.set_approval(_video_id(request.VideoID), "rejected")
        return hh.Empty()

    async def GetInferenceCategories(self, stream: Stream[hh.Empty, hh.InferenceList]) -> None:
        await unary(stream, self._get_inference_categories)

    async def _get_inference_categories(self, request: hh.Empty) -> hh.InferenceList:
        rows = sorted(await self._store.list_inference_categories(), key=lambda r: r.id, reverse=True)
        return hh.InferenceList(Entries=[hh.InferenceEntry(Tag=r.tag, Category=r.category) for r in rows])

    async def AddInferenceCategory(self, stream: Stream[hh.InferenceEntry, hh.Empty]) -> None:
        await unary(stream, self._add_inference_category)

    async def _add_inference_category(self, request: hh.InferenceEntry) -> hh.Empty:
        tag = validation.name(request.Tag, "Tag")
        category = validation.name(request.Category, "Category")
        await self._store.add_inference_category(tag, category)
        return hh.Empty()


@contextmanager
def _named(**names: str) -> Iterator[None]:
    """The store's errors name scheduler.v1's fields ("video_id: no video 5"); Horahora's
    client is told its own field names ("VideoID: no video 5")."""
    try:
        yield
    except (NotFound, PermissionDenied) as error:
        field, separator, problem = str(error).partition(": ")
        if not separator or field not in names:
            raise
        raise type(error)(f"{names[field]}: {problem}") from None


def _video_id(text: str) -> int:
    """Horahora's VideoID: this service's video id, as text."""
    if not text.isascii() or not text.isdigit():
        raise InvalidArgument("VideoID", f"must be a video id (a positive integer), got {text[:50]!r}")
    return validation.positive_id(int(text), "VideoID")
