"""Bad input gets INVALID_ARGUMENT naming the field, and nothing is written."""

from __future__ import annotations

import pytest
from grpclib import Status

from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Api, Database

YTPMV = "https://www.nicovideo.jp/tag/YTPMV"

BAD_SCHEDULE_REQUESTS = {
    "no-url": (pb.ScheduleCategoryRequest(user_id=1), "url: must not be empty"),
    "blank-url": (pb.ScheduleCategoryRequest(url="   ", user_id=1), "url: must not be empty"),
    "not-a-url": (pb.ScheduleCategoryRequest(url="YTPMV", user_id=1), "url: a URL without a scheme"),
    "file-scheme": (pb.ScheduleCategoryRequest(url="file:///etc/passwd", user_id=1), "url: scheme 'file'"),
    "private-address": (
        pb.ScheduleCategoryRequest(url="http://10.0.0.1/feed", user_id=1),
        "url: host 10.0.0.1 is not allowed",
    ),
    "loopback-v6": (pb.ScheduleCategoryRequest(url="http://[::1]/feed", user_id=1), "url: host ::1"),
    "metadata-service": (
        pb.ScheduleCategoryRequest(url="http://169.254.169.254/latest", user_id=1),
        "url: host 169.254.169.254 is not allowed",
    ),
    "other-host": (
        pb.ScheduleCategoryRequest(url="https://evil.example/nicovideo.jp", user_id=1),
        "url: host evil.example is not allowed",
    ),
    "lookalike-host": (
        pb.ScheduleCategoryRequest(url="https://evilnicovideo.jp/tag/x", user_id=1),
        "url: host evilnicovideo.jp is not allowed",
    ),
    "credentials": (
        pb.ScheduleCategoryRequest(url="https://user:pw@www.nicovideo.jp/tag/x", user_id=1),
        "url: must not contain a user name or password",
    ),
    "nul-byte": (pb.ScheduleCategoryRequest(url=YTPMV + "\x00", user_id=1), "url: must not contain"),
    "oversized-url": (
        pb.ScheduleCategoryRequest(url=YTPMV + "/" + "a" * 1_000_000, user_id=1),
        "url: must be at most 2048 characters",
    ),
    "zero-user": (pb.ScheduleCategoryRequest(url=YTPMV, user_id=0), "user_id: must be positive"),
    "negative-user": (pb.ScheduleCategoryRequest(url=YTPMV, user_id=-5), "user_id: must be positive"),
    "url-and-seed": (
        pb.ScheduleCategoryRequest(url=YTPMV, site=pb.NICONICO, kind=pb.TAG, value="x", user_id=1),
        "url: give either url or site/kind/value",
    ),
    "unknown-site": (
        pb.ScheduleCategoryRequest(site=99, kind=pb.TAG, value="x", user_id=1),  # type: ignore[arg-type]
        "site: must be one of",
    ),
    "no-kind": (pb.ScheduleCategoryRequest(site=pb.NICONICO, value="x", user_id=1), "kind: must be one of"),
    "empty-value": (pb.ScheduleCategoryRequest(site=pb.NICONICO, kind=pb.TAG, user_id=1), "value: must not"),
    "oversized-value": (
        pb.ScheduleCategoryRequest(site=pb.NICONICO, kind=pb.TAG, value="x" * 201, user_id=1),
        "value: must be at most 200 characters",
    ),
}


@pytest.mark.parametrize(("request_", "message"), BAD_SCHEDULE_REQUESTS.values(), ids=BAD_SCHEDULE_REQUESTS)
async def test_a_bad_schedule_request_is_refused_and_writes_nothing(
    api: Api, db: Database, request_: pb.ScheduleCategoryRequest, message: str
) -> None:
    before = await db.counts()

    error = await api.error("ScheduleCategory", request_)

    assert error.status is Status.INVALID_ARGUMENT
    assert error.message is not None and error.message.startswith(message), error.message
    assert await db.counts() == before


BAD_REQUESTS = {
    "list-categories-user": (
        "ListCategories",
        pb.ListCategoriesRequest(user_id=0),
        "user_id: must be positive",
    ),
    "events-no-category": ("ListEvents", pb.ListEventsRequest(), "category_id: must be positive"),
    "events-negative-limit": (
        "ListEvents",
        pb.ListEventsRequest(show_all=True, limit=-1),
        "limit: must not be negative",
    ),
    "events-huge-limit": (
        "ListEvents",
        pb.ListEventsRequest(show_all=True, limit=2**31 - 1),
        "limit: must be at most 1000",
    ),
    "unsubscribe-user": (
        "Unsubscribe",
        pb.UnsubscribeRequest(user_id=-1, category_id=1),
        "user_id: must be positive",
    ),
    "unsubscribe-category": (
        "Unsubscribe",
        pb.UnsubscribeRequest(user_id=1, category_id=0),
        "category_id: must be positive",
    ),
    "retry-user": ("RetryFailed", pb.RetryFailedRequest(category_id=1), "user_id: must be positive"),
    "retry-nothing-named": (
        "RetryFailed",
        pb.RetryFailedRequest(user_id=1),
        "category_id: must be positive",
    ),
    "retry-website": (
        "RetryFailed",
        pb.RetryFailedRequest(website="www.nicovideo.jp/tag/x"),
        "website: must be a host name such as www.nicovideo.jp, got 'www.nicovideo.jp/tag/x'",
    ),
    "retry-website-user": (
        "RetryFailed",
        pb.RetryFailedRequest(website="127.0.0.1", user_id=-1),
        "user_id: must not be negative",
    ),
    "reset-site-empty": ("ResetSite", pb.ResetSiteRequest(site=" "), "site: must not be empty"),
    "reset-site-url": (
        "ResetSite",
        pb.ResetSiteRequest(site="https://www.nicovideo.jp/"),
        "site: must be a site such as \"*.nicovideo.jp\" or a host name, got 'https://www.nicovideo.jp/'",
    ),
    "downloads-limit": ("ListDownloads", pb.ListDownloadsRequest(limit=-3), "limit: must not be negative"),
    "unapproved-category": (
        "ListUnapprovedVideos",
        pb.ListUnapprovedVideosRequest(category_id=-1),
        "category_id: must not be negative",
    ),
    "approve-video": ("ApproveVideo", pb.ApproveVideoRequest(video_id=0), "video_id: must be positive"),
    "reject-video": ("RejectVideo", pb.RejectVideoRequest(video_id=-(2**63)), "video_id: must be positive"),
    "inference-empty-tag": (
        "AddInferenceCategory",
        pb.AddInferenceCategoryRequest(tag=" ", category="music"),
        "tag: must not be empty",
    ),
    "inference-huge-category": (
        "AddInferenceCategory",
        pb.AddInferenceCategoryRequest(tag="YTPMV", category="m" * 1_000_000),
        "category: must be at most 200 characters",
    ),
    "inference-control-chars": (
        "AddInferenceCategory",
        pb.AddInferenceCategoryRequest(tag="a\x00b", category="music"),
        "tag: must not contain control characters",
    ),
}


@pytest.mark.parametrize(("method", "request_", "message"), BAD_REQUESTS.values(), ids=BAD_REQUESTS)
async def test_every_rpc_names_the_bad_field(
    api: Api, db: Database, method: str, request_: object, message: str
) -> None:
    before = await db.counts()

    error = await api.error(method, request_)

    assert error.status is Status.INVALID_ARGUMENT
    assert error.message == message or (error.message or "").startswith(message), error.message
    assert await db.counts() == before


@pytest.mark.parametrize(
    ("method", "request_", "message"),
    [
        ("ListEvents", pb.ListEventsRequest(category_id=424242), "category_id: no category 424242"),
        ("ApproveVideo", pb.ApproveVideoRequest(video_id=2**63 - 1), f"video_id: no video {2**63 - 1}"),
        ("RejectVideo", pb.RejectVideoRequest(video_id=5), "video_id: no video 5"),
        ("ListUnapprovedVideos", pb.ListUnapprovedVideosRequest(category_id=9), "category_id: no category 9"),
        ("Unsubscribe", pb.UnsubscribeRequest(user_id=1, category_id=77), "category_id: user 1 does not"),
        ("RetryFailed", pb.RetryFailedRequest(website="nicovid.jp"), "website: no videos of nicovid.jp"),
    ],
    ids=["events", "approve", "reject", "unapproved", "unsubscribe", "retry-website"],
)
async def test_unknown_ids_are_not_found(
    api: Api, db: Database, method: str, request_: object, message: str
) -> None:
    before = await db.counts()

    error = await api.error(method, request_)

    assert error.status is Status.NOT_FOUND
    assert (error.message or "").startswith(message), error.message
    assert await db.counts() == before
