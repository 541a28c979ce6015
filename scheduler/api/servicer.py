"""scheduler.v1.Scheduler: each method validates, calls the store, converts. Nothing else."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from grpclib.server import Stream

from scheduler.api import convert, validation
from scheduler.api.errors import receive, receive_or_end, status_mapping, unary
from scheduler.api.watch import EVERYTHING, VideoChanges
from scheduler.db.records import NewSubscription
from scheduler.db.store import Store
from scheduler.errors import InvalidArgument
from scheduler.findings import Finding
from scheduler.settings import SitesSettings
from scheduler.sites.cookies import CookieJars
from scheduler.v1 import scheduler_pb2 as pb
from scheduler.v1.scheduler_grpc import SchedulerBase

# An import's lines go to the database in transactions of this many.
IMPORT_BATCH = 500


class SchedulerService(SchedulerBase):
    def __init__(
        self,
        store: Store,
        sites: SitesSettings,
        changes: VideoChanges,
        cookies: CookieJars,
        diagnose: Callable[[], Awaitable[list[Finding]]],
        format_problem: Callable[[str], Awaitable[str]],
    ) -> None:
        self._store = store
        self._cookies = cookies
        self._diagnose = diagnose
        self._format_problem = format_problem
        self._allowed_sites = sites.allowed
        self._limits = sites.limits
        self._changes = changes

    async def ScheduleCategory(
        self, stream: Stream[pb.ScheduleCategoryRequest, pb.ScheduleCategoryResponse]
    ) -> None:
        await unary(stream, self._schedule_category)

    async def _schedule_category(self, request: pb.ScheduleCategoryRequest) -> pb.ScheduleCategoryResponse:
        entry = await self._subscription(request)
        scheduled = await self._store.schedule_category(
            entry.target, entry.user_id, entry.disable_download_cache, entry.profile
        )
        return pb.ScheduleCategoryResponse(
            category_id=scheduled.category_id,
            created=scheduled.created,
            subscribed=scheduled.subscribed,
            url=scheduled.url,
            profile=convert.profile(scheduled.profile),
        )

    async def UpdateCategory(
        self, stream: Stream[pb.UpdateCategoryRequest, pb.UpdateCategoryResponse]
    ) -> None:
        await unary(stream, self._update_category)

    async def _update_category(self, request: pb.UpdateCategoryRequest) -> pb.UpdateCategoryResponse:
        user_id = validation.positive_id(request.user_id, "user_id")
        category_id = validation.positive_id(request.category_id, "category_id")
        profile = validation.profile(request.profile)
        await self._check_format(profile.format, "profile.format")
        change = await self._store.update_category(user_id, category_id, profile)
        return pb.UpdateCategoryResponse(
            category=convert.category(change.category), skipped=change.skipped, restored=change.restored
        )

    async def ImportSubscriptions(
        self, stream: Stream[pb.ImportLine, pb.ImportSubscriptionsResponse]
    ) -> None:
        with status_mapping(stream):
            results: list[pb.ImportResult] = []
            batch: list[tuple[pb.ImportResult, NewSubscription]] = []
            while (line := await receive_or_end(stream)) is not None:
                result = pb.ImportResult(line=line.line, url=line.url[: validation.MAX_URL_ECHO])
                results.append(result)
                subscription = pb.ScheduleCategoryRequest(
                    url=line.url,
                    user_id=line.user_id,
                    profile=line.profile,
                    disable_download_cache=line.disable_download_cache,
                )
                try:
                    entry = await self._subscription(subscription)
                except InvalidArgument as refused:
                    result.outcome, result.reason = pb.REFUSED, str(refused)
                    continue
                batch.append((result, entry))
                if len(batch) >= IMPORT_BATCH:
                    await self._import_batch(batch)
                    batch = []
            await self._import_batch(batch)
            outcomes = [r.outcome for r in results]
            response = pb.ImportSubscriptionsResponse(
                results=results,
                created=outcomes.count(pb.CREATED),
                already_there=outcomes.count(pb.ALREADY_THERE),
                refused=outcomes.count(pb.REFUSED),
            )
        await stream.send_message(response)

    async def _subscription(self, request: pb.ScheduleCategoryRequest) -> NewSubscription:
        """A subscription asked for (ScheduleCategory, or an import's line), every field checked."""
        user_id = validation.positive_id(request.user_id, "user_id")
        target = validation.category_target(request, self._allowed_sites)
        profile = validation.profile(request.profile)
        await self._check_format(profile.format, "profile.format")
        return NewSubscription(user_id, target, profile, request.disable_download_cache)

    async def _import_batch(self, batch: list[tuple[pb.ImportResult, NewSubscription]]) -> None:
        if not batch:
            return
        imported = await self._store.import_subscriptions([entry for _, entry in batch])
        for (result, entry), done in zip(batch, imported, strict=True):
            result.url, result.category_id = entry.target.url, done.category_id
            result.category_created = done.category_created
            result.outcome = pb.CREATED if done.subscribed else pb.ALREADY_THERE

    async def ExportSubscriptions(
        self, stream: Stream[pb.ExportSubscriptionsRequest, pb.Subscription]
    ) -> None:
        with status_mapping(stream):
            request = await receive(stream)
            user_id = validation.optional_id(request.user_id, "user_id")
            subscriptions = await self._store.export_subscriptions(user_id)
        for subscription in subscriptions:
            await stream.send_message(convert.subscription(subscription))

    async def _check_format(self, selector: str, field: str) -> None:
        """A format selector is parsed by yt-dlp itself (in a worker): one it cannot parse
        is refused here rather than failing every download."""
        if selector and (problem := await self._format_problem(selector)):
            raise InvalidArgument(field, problem)

    async def ListCategories(
        self, stream: Stream[pb.ListCategoriesRequest, pb.ListCategoriesResponse]
    ) -> None:
        await unary(stream, self._list_categories)

    async def _list_categories(self, request: pb.ListCategoriesRequest) -> pb.ListCategoriesResponse:
        user_id = validation.positive_id(request.user_id, "user_id")
        rows = await self._store.list_categories(user_id)
        return pb.ListCategoriesResponse(categories=[convert.category(r) for r in rows])

    async def ListEvents(self, stream: Stream[pb.ListEventsRequest, pb.ListEventsResponse]) -> None:
        await unary(stream, self._list_events)

    async def _list_events(self, request: pb.ListEventsRequest) -> pb.ListEventsResponse:
        limit = validation.limit(request.limit)
        if request.show_all:
            # Every category's: category_id is ignored (as the proto says), yet never a bad id.
            validation.optional_id(request.category_id, "category_id")
            category_id = None
        else:
            category_id = validation.positive_id(request.category_id, "category_id")
        rows = await self._store.list_events(category_id, limit)
        return pb.ListEventsResponse(events=[convert.event(r) for r in rows])

    async def Unsubscribe(self, stream: Stream[pb.UnsubscribeRequest, pb.UnsubscribeResponse]) -> None:
        await unary(stream, self._unsubscribe)

    async def _unsubscribe(self, request: pb.UnsubscribeRequest) -> pb.UnsubscribeResponse:
        user_id = validation.positive_id(request.user_id, "user_id")
        category_id = validation.positive_id(request.category_id, "category_id")
        remaining = await self._store.unsubscribe(user_id, category_id)
        return pb.UnsubscribeResponse(remaining_subscribers=remaining)

    async def RetryFailed(self, stream: Stream[pb.RetryFailedRequest, pb.RetryFailedResponse]) -> None:
        await unary(stream, self._retry_failed)

    async def _retry_failed(self, request: pb.RetryFailedRequest) -> pb.RetryFailedResponse:
        website = validation.optional_website(request.website)
        user_id: int | None
        category_id: int | None
        if website is None or request.category_id:
            # A category's videos: only its subscribers may ask.
            user_id = validation.positive_id(request.user_id, "user_id")
            category_id = validation.positive_id(request.category_id, "category_id")
        else:
            user_id = validation.optional_id(request.user_id, "user_id")
            category_id = None
        retried = await self._store.retry_failed(user_id, category_id, website)
        return pb.RetryFailedResponse(retried=retried)

    async def ListDownloads(self, stream: Stream[pb.ListDownloadsRequest, pb.ListDownloadsResponse]) -> None:
        await unary(stream, self._list_downloads)

    async def _list_downloads(self, request: pb.ListDownloadsRequest) -> pb.ListDownloadsResponse:
        rows = await self._store.list_downloads(validation.limit(request.limit))
        return pb.ListDownloadsResponse(downloads=[convert.download(r) for r in rows])

    async def WatchDownloads(self, stream: Stream[pb.WatchDownloadsRequest, pb.Download]) -> None:
        with status_mapping(stream):
            await receive(stream)
            async with self._changes.subscribe() as changes:  # before the first read: miss nothing
                await stream.send_initial_metadata()  # the client knows it is following now
                for row in await self._store.list_downloads(validation.MAX_LIMIT):
                    await stream.send_message(convert.download(row))
                while True:
                    payloads = [await changes.get()]
                    while not changes.empty():  # a burst of changes is one read
                        payloads.append(changes.get_nowait())
                    for download in await self._changed_downloads(payloads):
                        await stream.send_message(download)

    async def _changed_downloads(self, payloads: list[str]) -> list[pb.Download]:
        """Each change as it happened: the row now, with the status the change gave it."""
        if EVERYTHING in payloads:
            return [convert.download(r) for r in await self._store.list_downloads(validation.MAX_LIMIT)]
        changes = [change.partition(":") for payload in payloads for change in payload.split(",")]
        rows = {
            r.video_id: r for r in await self._store.downloads_by_id(sorted({int(i) for i, _, _ in changes}))
        }
        return [
            convert.download(replace(rows[int(i)], status=status))
            for i, _, status in changes
            if int(i) in rows and status in convert.STATUSES
        ]

    async def CancelDownload(
        self, stream: Stream[pb.CancelDownloadRequest, pb.CancelDownloadResponse]
    ) -> None:
        await unary(stream, self._cancel_download)

    async def _cancel_download(self, request: pb.CancelDownloadRequest) -> pb.CancelDownloadResponse:
        video_id = validation.positive_id(request.video_id, "video_id")
        was_running = await self._store.cancel_download(video_id, request.fail)
        return pb.CancelDownloadResponse(was_running=was_running)

    async def ListUnapprovedVideos(
        self, stream: Stream[pb.ListUnapprovedVideosRequest, pb.ListUnapprovedVideosResponse]
    ) -> None:
        await unary(stream, self._list_unapproved_videos)

    async def _list_unapproved_videos(
        self, request: pb.ListUnapprovedVideosRequest
    ) -> pb.ListUnapprovedVideosResponse:
        category_id = validation.optional_id(request.category_id, "category_id")
        limit = validation.limit(request.limit)
        rows = await self._store.list_unapproved_videos(category_id, limit)
        return pb.ListUnapprovedVideosResponse(videos=[convert.video(r) for r in rows])

    async def ApproveVideo(self, stream: Stream[pb.ApproveVideoRequest, pb.ApproveVideoResponse]) -> None:
        await unary(stream, self._approve_video)

    async def _approve_video(self, request: pb.ApproveVideoRequest) -> pb.ApproveVideoResponse:
        video_id = validation.positive_id(request.video_id, "video_id")
        video = await self._store.set_approval(video_id, "approved")
        return pb.ApproveVideoResponse(video=convert.video(video))

    async def RejectVideo(self, stream: Stream[pb.RejectVideoRequest, pb.RejectVideoResponse]) -> None:
        await unary(stream, self._reject_video)

    async def _reject_video(self, request: pb.RejectVideoRequest) -> pb.RejectVideoResponse:
        video_id = validation.positive_id(request.video_id, "video_id")
        video = await self._store.set_approval(video_id, "rejected")
        return pb.RejectVideoResponse(video=convert.video(video))

    async def ListInferenceCategories(
        self, stream: Stream[pb.ListInferenceCategoriesRequest, pb.ListInferenceCategoriesResponse]
    ) -> None:
        await unary(stream, self._list_inference_categories)

    async def _list_inference_categories(
        self, request: pb.ListInferenceCategoriesRequest
    ) -> pb.ListInferenceCategoriesResponse:
        rows = await self._store.list_inference_categories()
        return pb.ListInferenceCategoriesResponse(
            inference_categories=[convert.inference_category(r) for r in rows]
        )

    async def AddInferenceCategory(
        self, stream: Stream[pb.AddInferenceCategoryRequest, pb.AddInferenceCategoryResponse]
    ) -> None:
        await unary(stream, self._add_inference_category)

    async def _add_inference_category(
        self, request: pb.AddInferenceCategoryRequest
    ) -> pb.AddInferenceCategoryResponse:
        tag = validation.name(request.tag, "tag")
        category = validation.name(request.category, "category")
        row, created = await self._store.add_inference_category(tag, category)
        return pb.AddInferenceCategoryResponse(
            inference_category=convert.inference_category(row), created=created
        )

    async def GetStats(self, stream: Stream[pb.GetStatsRequest, pb.GetStatsResponse]) -> None:
        await unary(stream, self._get_stats)

    async def _get_stats(self, request: pb.GetStatsRequest) -> pb.GetStatsResponse:
        return convert.stats(await self._store.stats())

    async def ListSites(self, stream: Stream[pb.ListSitesRequest, pb.ListSitesResponse]) -> None:
        await unary(stream, self._list_sites)

    async def _list_sites(self, request: pb.ListSitesRequest) -> pb.ListSitesResponse:
        breakers = await self._store.list_breakers()
        sites = convert.sites(self._limits, breakers, self._cookies.sites, time.time())
        return pb.ListSitesResponse(sites=sites)

    async def Diagnose(self, stream: Stream[pb.DiagnoseRequest, pb.DiagnoseResponse]) -> None:
        await unary(stream, self._diagnose_service)

    async def _diagnose_service(self, request: pb.DiagnoseRequest) -> pb.DiagnoseResponse:
        return convert.diagnosis(await self._diagnose())

    async def ResetSite(self, stream: Stream[pb.ResetSiteRequest, pb.ResetSiteResponse]) -> None:
        await unary(stream, self._reset_site)

    async def _reset_site(self, request: pb.ResetSiteRequest) -> pb.ResetSiteResponse:
        site = self._limits.site_of(validation.site(request.site))
        was_open = await self._store.reset_breaker(site)
        return pb.ResetSiteResponse(site=site, was_open=was_open)
