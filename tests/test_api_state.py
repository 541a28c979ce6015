"""Events, downloads, the approval workflow, inference rules, health and reflection."""

from __future__ import annotations

import trio_asyncio
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpclib.reflection.v1.reflection_grpc import ServerReflectionStub
from grpclib.reflection.v1.reflection_pb2 import ServerReflectionRequest

from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Api, Database


async def schedule(api: Api, url: str, user_id: int = 1) -> int:
    response = await api("ScheduleCategory", pb.ScheduleCategoryRequest(url=url, user_id=user_id))
    return int(response.category_id)


async def test_events_are_listed_newest_first_per_category_or_all(api: Api) -> None:
    first = await schedule(api, "http://127.0.0.1/a.xml", user_id=1)
    second = await schedule(api, "http://127.0.0.1/b.xml", user_id=2)
    await api("Unsubscribe", pb.UnsubscribeRequest(user_id=1, category_id=first))

    own = (await api("ListEvents", pb.ListEventsRequest(category_id=first))).events
    everything = (await api("ListEvents", pb.ListEventsRequest(show_all=True))).events
    newest = (await api("ListEvents", pb.ListEventsRequest(show_all=True, limit=1))).events

    assert [e.message for e in own] == [
        "user 1 unsubscribed",
        "user 1 subscribed",
        "category created: http://127.0.0.1/a.xml",
    ]
    assert {e.category_url for e in own} == {"http://127.0.0.1/a.xml"}
    assert all(e.time.endswith("+00:00") for e in own)  # RFC 3339
    assert len(everything) == 5
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    assert {e.category_id for e in everything} == {first, second}
    assert [e.message for e in newest] == ["user 1 unsubscribed"]


async def test_downloads_lists_the_videos_in_flight(api: Api, db: Database) -> None:
    category_id = await schedule(api, "http://127.0.0.1/a.xml")
    await db.add_video(category_id, "waiting", status="pending")
    await db.add_video(category_id, "queued", status="queued", position=1)
    await db.add_video(category_id, "busy", status="downloading", position=2, bytes_done=50, bytes_total=200)
    await db.add_video(category_id, "sending", status="uploading", position=3)
    await db.add_video(category_id, "finished", status="done", position=4)

    downloads = (await api("ListDownloads", pb.ListDownloadsRequest())).downloads

    by_id = {d.foreign_id: d for d in downloads}
    assert set(by_id) == {"queued", "busy", "sending"}
    busy = by_id["busy"]
    assert (busy.status, busy.bytes_done, busy.bytes_total) == (pb.DOWNLOADING, 50, 200)
    assert busy.website == "127.0.0.1"
    assert busy.url == "http://127.0.0.1/busy.mp4"
    assert busy.instance == "test-instance"


async def test_approving_and_rejecting_videos(api: Api, db: Database) -> None:
    category_id = await schedule(api, "http://127.0.0.1/a.xml")
    first = await db.add_video(category_id, "first")
    second = await db.add_video(category_id, "second", position=1)
    await db.add_video(category_id, "done", status="done", position=2)

    waiting = (await api("ListUnapprovedVideos", pb.ListUnapprovedVideosRequest())).videos
    assert [v.id for v in waiting] == [first, second]
    assert waiting[0].title == "title of first"

    approved = (await api("ApproveVideo", pb.ApproveVideoRequest(video_id=first))).video
    rejected = (await api("RejectVideo", pb.RejectVideoRequest(video_id=second))).video

    assert (approved.id, approved.approval) == (first, pb.APPROVED)
    assert (rejected.id, rejected.approval) == (second, pb.REJECTED)
    assert list((await api("ListUnapprovedVideos", pb.ListUnapprovedVideosRequest())).videos) == []
    events = (await api("ListEvents", pb.ListEventsRequest(category_id=category_id))).events
    assert [(e.video_url, e.message) for e in events[:2]] == [
        ("http://127.0.0.1/second.mp4", "video rejected"),
        ("http://127.0.0.1/first.mp4", "video approved"),
    ]
    [category] = (await api("ListCategories", pb.ListCategoriesRequest(user_id=1))).categories
    assert category.undownloadable_videos == 1


async def test_unapproved_videos_of_one_category(api: Api, db: Database) -> None:
    first = await schedule(api, "http://127.0.0.1/a.xml")
    second = await schedule(api, "http://127.0.0.1/b.xml")
    await db.add_video(first, "in-a")
    in_b = await db.add_video(second, "in-b")

    waiting = (await api("ListUnapprovedVideos", pb.ListUnapprovedVideosRequest(category_id=second))).videos

    assert [v.id for v in waiting] == [in_b]


async def test_inference_rules_are_added_changed_and_listed(api: Api) -> None:
    added = await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="YTPMV", category="music"))
    await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="MAD", category="animation"))
    changed = await api("AddInferenceCategory", pb.AddInferenceCategoryRequest(tag="ytpmv", category="remix"))

    assert added.created and not changed.created
    assert changed.inference_category.id == added.inference_category.id
    rules = (await api("ListInferenceCategories", pb.ListInferenceCategoriesRequest())).inference_categories
    assert [(r.tag, r.category) for r in rules] == [("MAD", "animation"), ("YTPMV", "remix")]


async def test_the_health_service_answers_serving(api: Api) -> None:
    health = HealthStub(api.stub.ScheduleCategory.channel)

    response = await trio_asyncio.aio_as_trio(health.Check)(HealthCheckRequest())

    assert response.status == HealthCheckResponse.SERVING


async def test_reflection_lists_the_scheduler_service(api: Api) -> None:
    reflection = ServerReflectionStub(api.stub.ScheduleCategory.channel)

    async def list_services() -> list[str]:
        async with reflection.ServerReflectionInfo.open() as stream:
            await stream.send_message(ServerReflectionRequest(list_services=""), end=True)
            response = await stream.recv_message()
        assert response is not None
        return [s.name for s in response.list_services_response.service]

    services = await trio_asyncio.aio_as_trio(list_services)()

    assert "scheduler.v1.Scheduler" in services
    assert "grpc.health.v1.Health" in services
