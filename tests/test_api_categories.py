"""ScheduleCategory, ListCategories, Unsubscribe and RetryFailed through a real gRPC client."""

from __future__ import annotations

import pytest
from grpclib import Status

from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Api, Database

YTPMV = "https://www.nicovideo.jp/tag/YTPMV"


async def schedule(api: Api, url: str, user_id: int = 1) -> pb.ScheduleCategoryResponse:
    return await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=url, user_id=user_id))


async def test_a_scheduled_category_is_listed_for_its_subscriber(api: Api) -> None:
    scheduled = await schedule(api, YTPMV, user_id=7)
    assert scheduled.created and scheduled.subscribed
    assert scheduled.url == YTPMV

    listed = await api("ListCategories", pb.ListCategoriesRequest(user_id=7))

    [category] = listed.categories
    assert category.id == scheduled.category_id
    assert category.url == YTPMV
    assert category.website == "www.nicovideo.jp"
    assert (category.total_videos, category.archived_videos, category.undownloadable_videos) == (0, 0, 0)
    assert category.last_synced == ""  # never synced yet
    assert category.backoff_factor == 1
    assert category.subscribers == 1
    other_user = await api("ListCategories", pb.ListCategoriesRequest(user_id=8))
    assert list(other_user.categories) == []


async def test_the_same_url_in_another_spelling_is_the_same_category(api: Api, db: Database) -> None:
    first = await schedule(api, YTPMV, user_id=1)
    again = await schedule(api, "HTTPS://WWW.NICOVIDEO.JP:443/tag/YTPMV/#top", user_id=1)
    second_user = await schedule(api, YTPMV, user_id=2)

    assert again.category_id == second_user.category_id == first.category_id
    assert (again.created, again.subscribed) == (False, False)
    assert (second_user.created, second_user.subscribed) == (False, True)
    assert await db.value("SELECT count(*) FROM categories") == 1
    [category] = (await api("ListCategories", pb.ListCategoriesRequest(user_id=2))).categories
    assert category.subscribers == 2


async def test_the_seed_form_becomes_the_sites_url(api: Api) -> None:
    seeded = await api(
        "ScheduleCategory",
        pb.ScheduleCategoryRequest(site=pb.NICONICO, kind=pb.TAG, value="YTPMV", user_id=1),
    )
    by_url = await schedule(api, YTPMV, user_id=2)

    assert seeded.url == YTPMV
    assert by_url.category_id == seeded.category_id


async def test_counts_come_from_the_categorys_videos(api: Api, db: Database) -> None:
    category_id = (await schedule(api, "http://127.0.0.1:8000/feed.xml")).category_id
    for n, status in enumerate(["done", "done", "failed", "pending", "downloading"]):
        await db.add_video(category_id, f"v{n}", status=status, position=n)
    await db.add_video(category_id, "rejected", approval="rejected", position=9)

    [category] = (await api("ListCategories", pb.ListCategoriesRequest(user_id=1))).categories

    assert category.total_videos == 6
    assert category.archived_videos == 2
    assert category.undownloadable_videos == 2  # one failed, one rejected


async def test_many_categories_are_counted_in_one_query(api: Api, db: Database) -> None:
    ids = [(await schedule(api, f"http://127.0.0.1/feed{n}.xml")).category_id for n in range(30)]
    for n, category_id in enumerate(ids):
        for position in range(n % 4):
            await db.add_video(category_id, f"c{n}v{position}", status="done", position=position)

    listed = (await api("ListCategories", pb.ListCategoriesRequest(user_id=1))).categories

    assert [c.id for c in listed] == ids
    assert [c.archived_videos for c in listed] == [n % 4 for n in range(30)]


async def test_unsubscribing_removes_only_the_users_own_subscription(api: Api, db: Database) -> None:
    category_id = (await schedule(api, YTPMV, user_id=1)).category_id
    await schedule(api, YTPMV, user_id=2)

    refused = await api.error("Unsubscribe", pb.UnsubscribeRequest(user_id=3, category_id=category_id))
    assert refused.status is Status.NOT_FOUND
    assert await db.value("SELECT count(*) FROM subscriptions") == 2

    response = await api("Unsubscribe", pb.UnsubscribeRequest(user_id=1, category_id=category_id))
    assert response.remaining_subscribers == 1
    assert list((await api("ListCategories", pb.ListCategoriesRequest(user_id=1))).categories) == []
    assert len((await api("ListCategories", pb.ListCategoriesRequest(user_id=2))).categories) == 1


async def test_a_category_nobody_subscribes_to_is_no_longer_due_for_sync(api: Api, db: Database) -> None:
    category_id = (await schedule(api, YTPMV, user_id=1)).category_id
    due = "SELECT count(*) FROM categories WHERE subscriber_count > 0 AND next_sync_at <= now()"
    assert await db.value(due) == 1

    await api("Unsubscribe", pb.UnsubscribeRequest(user_id=1, category_id=category_id))

    assert await db.value(due) == 0
    assert await db.value("SELECT count(*) FROM categories") == 1  # kept, with its videos


async def test_retry_failed_puts_a_subscribers_failed_videos_back(api: Api, db: Database) -> None:
    category_id = (await schedule(api, "http://127.0.0.1/a.xml", user_id=1)).category_id
    other_id = (await schedule(api, "http://127.0.0.1/b.xml", user_id=1)).category_id
    failed = await db.add_video(category_id, "failed", status="failed")
    done = await db.add_video(category_id, "done", status="done", position=1)
    elsewhere = await db.add_video(other_id, "elsewhere", status="failed")

    response = await api("RetryFailed", pb.RetryFailedRequest(user_id=1, category_id=category_id))

    assert response.retried == 1
    statuses = dict(await db.fetch("SELECT id, status::text FROM videos"))
    assert statuses == {failed: "pending", done: "done", elsewhere: "failed"}


async def test_retry_failed_by_website_puts_that_sites_failed_videos_back_in_every_category(
    api: Api, db: Database
) -> None:
    first = (await schedule(api, "http://127.0.0.1/a.xml", user_id=1)).category_id
    second = (await schedule(api, "http://127.0.0.1/b.xml", user_id=2)).category_id
    in_first = await db.add_video(first, "one", status="failed")
    in_second = await db.add_video(second, "two", status="failed")
    done = await db.add_video(second, "three", status="done", position=1)
    elsewhere = await db.add_video(second, "four", status="failed", position=2)
    await db.fetch("UPDATE videos SET website = 'www.nicovideo.jp' WHERE id = $1", elsewhere)

    response = await api("RetryFailed", pb.RetryFailedRequest(website="127.0.0.1"))

    assert response.retried == 2
    statuses = dict(await db.fetch("SELECT id, status::text FROM videos"))
    assert statuses == {in_first: "pending", in_second: "pending", done: "done", elsewhere: "failed"}
    events = (await api("ListEvents", pb.ListEventsRequest(show_all=True, limit=2))).events
    assert sorted((e.category_id, e.message) for e in events) == [
        (first, "an operator put 1 failed videos of 127.0.0.1 back to pending"),
        (second, "an operator put 1 failed videos of 127.0.0.1 back to pending"),
    ]


async def test_retry_failed_by_website_within_a_category(api: Api, db: Database) -> None:
    category_id = (await schedule(api, "http://127.0.0.1/a.xml", user_id=1)).category_id
    other_id = (await schedule(api, "http://127.0.0.1/b.xml", user_id=1)).category_id
    here = await db.add_video(category_id, "here", status="failed")
    there = await db.add_video(other_id, "there", status="failed")

    response = await api(
        "RetryFailed", pb.RetryFailedRequest(user_id=1, category_id=category_id, website="127.0.0.1")
    )

    assert response.retried == 1
    assert dict(await db.fetch("SELECT id, status::text FROM videos")) == {here: "pending", there: "failed"}


@pytest.mark.parametrize(
    ("user_id", "category_id", "status"),
    [(2, None, Status.PERMISSION_DENIED), (1, 999, Status.NOT_FOUND)],
    ids=["another-users-category", "unknown-category"],
)
async def test_retry_failed_is_refused_to_others(
    api: Api, db: Database, user_id: int, category_id: int | None, status: Status
) -> None:
    own = (await schedule(api, "http://127.0.0.1/a.xml", user_id=1)).category_id
    video = await db.add_video(own, "failed", status="failed")

    error = await api.error(
        "RetryFailed", pb.RetryFailedRequest(user_id=user_id, category_id=category_id or own)
    )

    assert error.status is status
    assert await db.value("SELECT status::text FROM videos WHERE id = $1", video) == "failed"


async def test_subscriber_counts_match_the_subscriptions(api: Api, db: Database) -> None:
    for user in (1, 2, 3):
        await schedule(api, YTPMV, user_id=user)
        await schedule(api, "http://127.0.0.1/a.xml", user_id=user)
    await api("Unsubscribe", pb.UnsubscribeRequest(user_id=2, category_id=1))

    mismatched = await db.value(
        """
        SELECT count(*) FROM categories c
        WHERE subscriber_count <> (SELECT count(*) FROM subscriptions s WHERE s.category_id = c.id)
        """
    )
    assert mismatched == 0
