"""How the client commands print an answer: a table or a line per response, or JSON (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from scheduler.api.validation import profile as checked_profile
from scheduler.findings import Finding
from scheduler.profiles.model import describe as describe_profile
from scheduler.v1 import scheduler_pb2 as pb


def as_json(message: Message) -> str:
    return json.dumps(
        MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True),
        indent=2,
        ensure_ascii=False,
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the last column is left unpadded."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def status_name(value: int) -> str:
    return pb.VideoStatus.Name(value).lower()


def approval_name(value: int) -> str:
    return pb.Approval.Name(value).lower()


def instance_state_name(value: int) -> str:
    """alive, dead or stopped; "" for an instance that never registered."""
    return "" if value == pb.INSTANCE_STATE_UNSPECIFIED else pb.InstanceState.Name(value).lower()


def age(moment: str, now: str) -> str:
    """How long before `now` an RFC 3339 `moment` was, roughly: "42s ago", "3h05m ago"."""
    seconds = max(0, int((datetime.fromisoformat(now) - datetime.fromisoformat(moment)).total_seconds()))
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    if days:
        return f"{days}d{hour:02d}h ago"
    if hours:
        return f"{hours}h{minute:02d}m ago"
    return f"{minutes}m{second:02d}s ago" if minutes else f"{second}s ago"


def describe(response: Message) -> str:
    """The human-readable form of each response."""
    render: Callable[[Any], str] = _RENDERERS[type(response)]
    return render(response)


def _scheduled(r: pb.ScheduleCategoryResponse) -> str:
    what = "created category" if r.created else "category"
    sub = "subscribed" if r.subscribed else "already subscribed"
    return f"{what} {r.category_id} ({r.url}): {sub}; profile: {profile_text(r.profile)}"


def profile_text(profile: pb.DownloadProfile) -> str:
    """ "max 1080p, after 2024-01-01, no shorts"; "everything" for the default."""
    return describe_profile(checked_profile(profile))


def import_result(r: pb.ImportResult) -> str:
    """ "created category 12 (URL)", "already there: category 12", "refused: url: ..."."""
    if r.outcome == pb.REFUSED:
        return f"refused: {r.reason}"
    if r.outcome == pb.ALREADY_THERE:
        return f"already there: category {r.category_id} ({r.url})"
    return f"subscribed to {'new ' if r.category_created else ''}category {r.category_id} ({r.url})"


def _updated(r: pb.UpdateCategoryResponse) -> str:
    line = f"category {r.category.id}: profile {profile_text(r.category.profile)}"
    return line + f"; {r.skipped} pending videos skipped, {r.restored} skipped videos pending again"


def _categories(r: pb.ListCategoriesResponse) -> str:
    if not r.categories:
        return "no subscriptions"
    return table(
        [
            "ID",
            "ARCHIVED",
            "TOTAL",
            "FAILED",
            "SKIPPED",
            "SUBSCRIBERS",
            "BACKOFF",
            "LAST SYNCED",
            "URL",
            "PROFILE",
        ],
        [
            [
                c.id,
                c.archived_videos,
                c.total_videos,
                c.undownloadable_videos,
                c.skipped_videos,
                c.subscribers,
                f"x{c.backoff_factor}",
                c.last_synced or "never",
                c.url,
                profile_text(c.profile),
            ]
            for c in r.categories
        ],
    )


def _events(r: pb.ListEventsResponse) -> str:
    if not r.events:
        return "no events"
    return table(
        ["TIME", "CATEGORY", "VIDEO", "MESSAGE"],
        [[e.time, e.category_id or "-", e.video_url or "-", e.message] for e in r.events],
    )


def _downloads(r: pb.ListDownloadsResponse) -> str:
    if not r.downloads:
        return "nothing queued or downloading"

    def progress(d: pb.Download) -> str:
        if not d.bytes_total:
            return f"{d.bytes_done} B" if d.bytes_done else "-"
        return f"{100 * d.bytes_done // d.bytes_total}% of {d.bytes_total} B"

    def instance(d: pb.Download) -> str:
        state = instance_state_name(d.instance_state)
        return f"{d.instance} ({state})" if state and state != "alive" else d.instance

    return table(
        ["VIDEO", "STATUS", "PROGRESS", "ATTEMPTS", "INSTANCE", "WEBSITE", "FOREIGN ID", "CATEGORY"],
        [
            [
                d.video_id,
                status_name(d.status),
                progress(d),
                d.attempts,
                instance(d),
                d.website,
                d.foreign_id,
                d.category,
            ]
            for d in r.downloads
        ],
    )


def _stats(r: pb.GetStatsResponse) -> str:
    def counts(c: pb.VideoCounts, name: str) -> list[object]:
        oldest = age(c.oldest_pending, r.as_of) if c.oldest_pending else "-"
        return [name, c.pending, c.queued, c.downloading, c.uploading, c.done, c.failed, c.skipped, oldest]

    videos = table(
        [
            "WEBSITE",
            "PENDING",
            "QUEUED",
            "DOWNLOADING",
            "UPLOADING",
            "DONE",
            "FAILED",
            "SKIPPED",
            "OLDEST PENDING",
        ],
        [*(counts(w, w.website) for w in r.websites), counts(r.total, "all")],
    )
    instances = (
        table(
            ["INSTANCE", "STATE", "LAST HEARTBEAT", "DOWNLOADS", "LISTINGS", "WORKERS", "VERSION", "STARTED"],
            [
                [
                    i.id,
                    instance_state_name(i.state),
                    age(i.last_heartbeat, r.as_of),
                    i.downloads,
                    i.listings,
                    i.workers,
                    i.version,
                    i.started,
                ]
                for i in r.instances
            ],
        )
        if r.instances
        else "no instance registered"
    )
    return f"{r.categories} categories subscribed, as of {r.as_of}\n\n{videos}\n\n{instances}"


def _videos(r: pb.ListUnapprovedVideosResponse) -> str:
    if not r.videos:
        return "no videos wait for approval"
    return table(
        ["VIDEO", "WEBSITE", "CATEGORY", "TITLE", "URL"],
        [[v.id, v.website, v.category, v.title, v.url] for v in r.videos],
    )


def _video(r: pb.ApproveVideoResponse | pb.RejectVideoResponse) -> str:
    return f"video {r.video.id} ({r.video.url}): {approval_name(r.video.approval)}"


def _inference(r: pb.ListInferenceCategoriesResponse) -> str:
    if not r.inference_categories:
        return "no inference rules"
    return table(["ID", "TAG", "CATEGORY"], [[i.id, i.tag, i.category] for i in r.inference_categories])


def _sites(r: pb.ListSitesResponse) -> str:
    def breaker(s: pb.SiteState) -> list[object]:
        state = pb.BreakerState.Name(s.breaker).lower()
        if s.breaker == pb.CLOSED:
            return [state, "-", "-"]
        probe = f"{'lapses' if s.breaker == pb.PROBING else 'at'} {s.probe_at}"
        return [f"{state} x{s.openings}", s.reason, probe]

    def cookies(s: pb.SiteState) -> str:
        if not s.cookies_file:
            return "-"
        return f"until {s.cookies_expire_at}" if s.cookies_expire_at else "session"

    rows = [[s.site, s.downloads, s.listings, f"{s.interval_s:g}s", *breaker(s), cookies(s)] for s in r.sites]
    lines = table(
        ["SITE", "DOWNLOADS", "LISTINGS", "INTERVAL", "BREAKER", "REASON", "PROBE", "COOKIES"], rows
    )
    return "\n".join([lines, *(f"! {s.cookies_problem}" for s in r.sites if s.cookies_problem)])


def _diagnosis(r: pb.DiagnoseResponse) -> str:
    """One line per finding: what was found, or the problem and what to do."""
    lines = [Finding(f.check, f.ok, f.detail, f.fix).line() for f in r.findings]
    problems = sum(not f.ok for f in r.findings)
    lines.append("nothing is wrong" if r.healthy else f"{problems} problem{'s' * (problems != 1)}")
    return "\n".join(lines)


def _reset(r: pb.ResetSiteResponse) -> str:
    return f"site {r.site}: breaker closed" if r.was_open else f"site {r.site}: breaker was not open"


_RENDERERS: dict[type, Callable[[Any], str]] = {
    pb.ScheduleCategoryResponse: _scheduled,
    pb.ListCategoriesResponse: _categories,
    pb.UpdateCategoryResponse: _updated,
    pb.ListEventsResponse: _events,
    pb.UnsubscribeResponse: lambda r: f"unsubscribed; {r.remaining_subscribers} subscribers remain",
    pb.RetryFailedResponse: lambda r: f"{r.retried} failed videos put back to pending",
    pb.GetStatsResponse: _stats,
    pb.ListSitesResponse: _sites,
    pb.ResetSiteResponse: _reset,
    pb.DiagnoseResponse: _diagnosis,
    pb.ListDownloadsResponse: _downloads,
    pb.ListUnapprovedVideosResponse: _videos,
    pb.ApproveVideoResponse: _video,
    pb.RejectVideoResponse: _video,
    pb.ListInferenceCategoriesResponse: _inference,
    pb.CancelDownloadResponse: lambda r: "cancelled" if r.was_running else "not running; nothing to cancel",
    pb.AddInferenceCategoryResponse: lambda r: (
        f"{'added' if r.created else 'updated'} rule {r.inference_category.id}: "
        f"{r.inference_category.tag} -> {r.inference_category.category}"
    ),
}
