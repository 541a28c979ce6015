"""Rows from the data-access layer to protobuf messages (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from scheduler.db import records
from scheduler.findings import Finding
from scheduler.profiles import Profile
from scheduler.sites.cookies import SiteCookies
from scheduler.sites.limits import DEFAULT_PATTERN, SiteLimits
from scheduler.v1 import scheduler_pb2 as pb

STATUSES = {
    "pending": pb.PENDING,
    "queued": pb.QUEUED,
    "downloading": pb.DOWNLOADING,
    "uploading": pb.UPLOADING,
    "done": pb.DONE,
    "failed": pb.FAILED,
    "skipped": pb.SKIPPED,
}
_APPROVAL = {"unreviewed": pb.UNREVIEWED, "approved": pb.APPROVED, "rejected": pb.REJECTED}
_BREAKER_STATES = {"closed": pb.CLOSED, "open": pb.OPEN, "probing": pb.PROBING}
_INSTANCE_STATES = {
    "": pb.INSTANCE_STATE_UNSPECIFIED,
    "alive": pb.ALIVE,
    "dead": pb.DEAD,
    "stopped": pb.STOPPED,
}


def rfc3339(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def category(row: records.CategorySummary) -> pb.Category:
    return pb.Category(
        id=row.id,
        url=row.url,
        website=row.website,
        archived_videos=row.archived_videos,
        total_videos=row.total_videos,
        undownloadable_videos=row.undownloadable_videos,
        last_synced=rfc3339(row.last_synced),
        backoff_factor=row.backoff_factor,
        subscribers=row.subscribers,
        next_sync=rfc3339(row.next_sync_at),
        disable_download_cache=row.disable_download_cache,
        profile=profile(row.profile),
        skipped_videos=row.skipped_videos,
    )


def profile(value: Profile) -> pb.DownloadProfile:
    return pb.DownloadProfile(
        max_height=value.max_height,
        audio_only=value.audio_only,
        format=value.format,
        subtitles=value.subtitles,
        automatic_subtitles=value.automatic_subtitles,
        uploaded_after=value.uploaded_after.isoformat() if value.uploaded_after else "",
        uploaded_before=value.uploaded_before.isoformat() if value.uploaded_before else "",
        min_duration_s=value.min_duration_s,
        max_duration_s=value.max_duration_s,
        exclude_live=value.exclude_live,
        exclude_shorts=value.exclude_shorts,
        title_match=value.title_match,
        title_exclude=value.title_exclude,
    )


def subscription(row: records.Subscription) -> pb.Subscription:
    return pb.Subscription(
        user_id=row.user_id,
        category_id=row.category_id,
        url=row.url,
        profile=profile(row.profile),
        disable_download_cache=row.disable_download_cache,
        subscribed_at=rfc3339(row.subscribed_at),
    )


def event(row: records.Event) -> pb.Event:
    return pb.Event(
        id=row.id,
        category_id=row.category_id or 0,
        category_url=row.category_url,
        video_id=row.video_id or 0,
        video_url=row.video_url,
        message=row.message,
        time=rfc3339(row.created_at),
    )


def download(row: records.Download) -> pb.Download:
    return pb.Download(
        video_id=row.video_id,
        website=row.website,
        foreign_id=row.foreign_id,
        url=row.url,
        status=STATUSES[row.status],
        bytes_done=row.bytes_done,
        bytes_total=row.bytes_total,
        instance=row.instance,
        attempts=row.attempts,
        instance_state=_INSTANCE_STATES[row.instance_state],
        category=row.category,
    )


def video(row: records.Video) -> pb.Video:
    return pb.Video(
        id=row.id,
        website=row.website,
        foreign_id=row.foreign_id,
        url=row.url,
        title=row.title,
        status=STATUSES[row.status],
        approval=_APPROVAL[row.approval],
        category=row.category,
    )


def inference_category(row: records.InferenceCategory) -> pb.InferenceCategory:
    return pb.InferenceCategory(id=row.id, tag=row.tag, category=row.category)


def stats(row: records.Stats) -> pb.GetStatsResponse:
    websites = [video_counts(w.website, w.videos, w.oldest_pending) for w in row.websites]
    oldest = [w.oldest_pending for w in row.websites if w.oldest_pending is not None]
    total: dict[str, int] = {}
    for w in row.websites:
        for status, count in w.videos.items():
            total[status] = total.get(status, 0) + count
    return pb.GetStatsResponse(
        as_of=rfc3339(row.as_of),
        categories=row.categories,
        total=video_counts("", total, min(oldest, default=None)),
        websites=websites,
        instances=[instance(i) for i in row.instances],
    )


def video_counts(website: str, videos: dict[str, int], oldest_pending: datetime | None) -> pb.VideoCounts:
    return pb.VideoCounts(website=website, oldest_pending=rfc3339(oldest_pending), **videos)


def instance(row: records.Instance) -> pb.Instance:
    return pb.Instance(
        id=row.id,
        host=row.host,
        pid=row.pid,
        version=row.version,
        state=_INSTANCE_STATES[row.state],
        started=rfc3339(row.started_at),
        last_heartbeat=rfc3339(row.heartbeat_at),
        workers=row.workers,
        downloads=row.downloads,
        listings=row.listings,
    )


def sites(
    limits: SiteLimits, breakers: list[records.Breaker], cookies: Mapping[str, SiteCookies], now: float
) -> list[pb.SiteState]:
    """Every site with a limit of its own, a breaker or cookies, by name; "*" (every other
    site) last."""
    by_site = {b.site: b for b in breakers}
    names = sorted(
        set(limits.by_pattern) | set(by_site) | set(cookies), key=lambda s: (s == DEFAULT_PATTERN, s)
    )
    states = [site(name, limits, by_site.get(name)) for name in names]
    for state in states:
        if (own := cookies.get(state.site)) is not None:
            state.cookies_file = str(own.path)
            state.cookie_domains.extend(own.domains)
            if own.expires_at is not None:
                state.cookies_expire_at = rfc3339(datetime.fromtimestamp(own.expires_at, UTC))
            state.cookies_problem = own.expiry_problem(now) or ""
    return states


def site(name: str, limits: SiteLimits, breaker: records.Breaker | None) -> pb.SiteState:
    limit = limits.limit_of(name)
    state = pb.SiteState(
        site=name,
        downloads=limit.downloads,
        listings=limit.listings,
        interval_s=limit.interval_s,
        breaker=pb.CLOSED,
    )
    if breaker is not None:
        state.breaker = _BREAKER_STATES[breaker.state]
        state.reason = breaker.reason
        state.openings = breaker.openings
        if breaker.state != "closed":
            state.opened_at = rfc3339(breaker.opened_at)
            state.probe_at = rfc3339(breaker.probe_at)
    return state


def diagnosis(findings: list[Finding]) -> pb.DiagnoseResponse:
    return pb.DiagnoseResponse(
        findings=[pb.Finding(check=f.check, ok=f.ok, detail=f.detail, fix=f.fix) for f in findings],
        healthy=all(f.ok for f in findings),
    )
