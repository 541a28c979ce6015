"""Horahora's scheduler API (proto.Scheduler), driven by a stock grpcio client generated
from the project's copy of its .proto, against the whole running service: subscribe,
list, events, downloads in progress, approve with content categories, retry, delete; each
answer compared field by field with what scheduler.v1 answers for the same state; bad input
gets the same statuses, naming Horahora's fields."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_asyncio
from grpc_tools import protoc
from grpclib import GRPCError, Status
from grpclib.client import Channel
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpclib.reflection.v1.reflection_grpc import ServerReflectionStub
from grpclib.reflection.v1.reflection_pb2 import ServerReflectionRequest

from scheduler.horahora import scheduler_pb2 as hh
from scheduler.horahora.scheduler_grpc import SchedulerStub
from scheduler.v1 import scheduler_pb2 as pb
from tests.conftest import Api, Database
from tests.content_site import ContentSite
from tests.support import REPO, free_port, scrape
from tests.test_pipeline import pipeline_settings, serving, wait_for

# Runs the calls given as JSON ([[method, request type, fields], ...]); prints each answer
# as JSON (every field, defaults included), or [status, details] for an error.
CLIENT = """
import json, sys
import grpc
from google.protobuf.json_format import MessageToDict
import scheduler_pb2 as pb, scheduler_pb2_grpc as rpc

stub = rpc.SchedulerStub(grpc.insecure_channel(sys.argv[1]))
answers = []
for method, request_type, fields in json.loads(sys.argv[2]):
    try:
        answer = getattr(stub, method)(getattr(pb, request_type)(**fields))
        answers.append(MessageToDict(
            answer, preserving_proto_field_name=True, always_print_fields_with_no_presence=True))
    except grpc.RpcError as error:
        answers.append([error.code().name, error.details()])
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def client_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Stubs generated from proto/scheduler/horahora/scheduler.proto alone, and the client."""
    directory = tmp_path_factory.mktemp("horahora-client")
    proto_dir = REPO / "proto" / "scheduler" / "horahora"
    generated = protoc.main(
        [
            "protoc",
            f"-I{proto_dir}",
            f"--python_out={directory}",
            f"--grpc_python_out={directory}",
            str(proto_dir / "scheduler.proto"),
        ]
    )
    assert generated == 0
    (directory / "client.py").write_text(CLIENT)
    yield directory


class Horahora:
    """Horahora's back end, as far as its scheduler calls go."""

    def __init__(self, directory: Path, port: int) -> None:
        self._directory, self._port = directory, port

    async def __call__(self, *calls: tuple[str, str, dict[str, Any]]) -> list[Any]:
        # Its own process: the generated modules must not meet the service's own.
        done = await trio.run_process(
            [sys.executable, "-E", "client.py", f"127.0.0.1:{self._port}", json.dumps(calls)],
            cwd=self._directory,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        answers: list[Any] = json.loads(done.stdout)
        return answers

    async def one(self, method: str, request_type: str, **fields: Any) -> Any:
        [answer] = await self(*[(method, request_type, fields)])
        return answer


async def test_horahoras_back_end_drives_the_whole_workflow(
    client_dir: Path, database_url: str, redis_url: str, tmp_path: Path, site: ContentSite, db: Database
) -> None:
    site.add_video("music", tags=("MAD",))
    site.add_video("plain")
    site.add_video("broken")
    site.add_video("slow", size=400_000)
    feed = site.feed("feed", ["music", "plain", "broken", "slow"])
    site.set_mode("broken", "404")
    site.set_mode("slow", "trickle")
    settings = pipeline_settings(
        database_url, redis_url, tmp_path, approval={"required": True}, downloader={"attempts": 1}
    )
    async with serving(settings) as (running, api):
        horahora = Horahora(client_dir, running.port)
        rule, subscribed, again, listed_rules = await horahora(
            ("AddInferenceCategory", "InferenceEntry", {"Tag": "MAD", "Category": "Music"}),
            ("dlURL", "URLRequest", {"url": feed, "userID": 7}),
            ("dlURL", "URLRequest", {"url": feed, "userID": 7}),  # idempotent
            ("GetInferenceCategories", "Empty", {}),
        )
        assert (rule, subscribed, again) == ({}, {}, {})
        assert listed_rules == {"Entries": [{"Tag": "MAD", "Category": "Music"}]}
        ours_rules = (
            await api("ListInferenceCategories", pb.ListInferenceCategoriesRequest())
        ).inference_categories
        newest_first = sorted(ours_rules, key=lambda r: r.id, reverse=True)
        assert listed_rules["Entries"] == [{"Tag": r.tag, "Category": r.category} for r in newest_first]
        await wait_for(db, "SELECT count(*) FROM videos", 4)
        category_id = await db.value("SELECT id FROM categories")
        ids = {r["foreign_id"]: r["id"] for r in await db.fetch("SELECT id, foreign_id FROM videos")}

        # Awaiting approval: newest first, each with its content category.
        unapproved = await horahora.one("GetUnapprovedVideoList", "Empty")
        ours = (await api("ListUnapprovedVideos", pb.ListUnapprovedVideosRequest())).videos
        assert unapproved["UnapprovedVideos"] == [
            {"VideoID": str(v.id), "url": v.url, "category": v.category} for v in reversed(ours)
        ]
        assert {v["url"].rsplit("/", 1)[-1]: v["category"] for v in unapproved["UnapprovedVideos"]} == {
            "music.mp4": "Music", "plain.mp4": "General", "broken.mp4": "General", "slow.mp4": "General",
        }  # fmt: skip

        approvals = await horahora(
            *[
                ("ApproveVideo", "ApproveVideoReq", {"VideoID": str(ids[n])})
                for n in ("music", "broken", "slow")
            ],
            ("UnapproveVideo", "ApproveVideoReq", {"VideoID": str(ids["plain"])}),
        )
        assert approvals == [{}, {}, {}, {}]
        await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'music'", "done")
        await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'broken'", "failed")
        await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'slow'", "downloading")
        assert await db.value("SELECT approval::text FROM videos WHERE foreign_id = 'plain'") == "rejected"

        # The same state, as both APIs tell it.
        entries, events, all_events, in_progress = await horahora(
            ("listArchivalEntries", "listArchivalEntriesRequest", {"UserID": 7}),
            ("listArchivalEvents", "listArchivalEventsRequest", {"DownloadID": category_id}),
            ("listArchivalEvents", "listArchivalEventsRequest", {"ShowAll": True}),
            ("getDownloadsInProgress", "downloadsInProgressRequest", {}),
        )
        categories = (await api("ListCategories", pb.ListCategoriesRequest(user_id=7))).categories
        our_events = (
            await api("ListEvents", pb.ListEventsRequest(category_id=category_id, limit=100))
        ).events
        every_event = (await api("ListEvents", pb.ListEventsRequest(show_all=True, limit=100))).events
        downloads = (await api("ListDownloads", pb.ListDownloadsRequest())).downloads

        # (JSON spells 64-bit integers as strings.)
        assert entries["entries"] == [
            {
                "UserID": "7",
                "Url": c.url,
                "ArchivedVideos": str(c.archived_videos),
                "CurrentTotalVideos": str(c.total_videos),
                "LastSynced": c.last_synced,
                "BackoffFactor": c.backoff_factor,
                "downloadID": str(c.id),
                "UndownloadableVideos": str(c.undownloadable_videos),
            }
            for c in categories
        ]
        # Delivered: music; undownloadable: broken (failed) and plain (rejected).
        counts = [(c.archived_videos, c.total_videos, c.undownloadable_videos) for c in categories]
        assert counts == [(1, 4, 2)]

        def horahora_events(rows: Any) -> list[dict[str, str]]:
            return [
                {
                    "video_url": e.video_url,
                    "parent_url": e.category_url,
                    "message": e.message,
                    "timestamp": e.time,
                }
                for e in rows
            ]

        assert events["events"] == horahora_events(our_events)
        assert all_events["events"] == horahora_events(every_event)
        assert any(e["message"].startswith("delivered to the Video Service") for e in events["events"])
        assert in_progress["videos"] == [
            {"VideoID": d.foreign_id, "website": d.website, "dlStatus": "Downloading"} for d in downloads
        ]
        assert [d.foreign_id for d in downloads] == ["slow"]

        # Retry the failed video once the site serves it; then unsubscribe.
        site.set_mode("broken", "ok")
        retried = await horahora.one(
            "retryArchivalRequestDownloadss", "retryRequest", downloadID=category_id, userID=7
        )
        assert retried == {}
        await wait_for(db, "SELECT status::text FROM videos WHERE foreign_id = 'broken'", "done")
        deleted, after = await horahora(
            ("deleteArchivalRequest", "deletionRequest", {"downloadID": category_id, "userID": 7}),
            ("listArchivalEntries", "listArchivalEntriesRequest", {"UserID": 7}),
        )
        assert (deleted, after) == ({}, {"entries": []})
        site.set_mode("slow", "ok")


@pytest.mark.parametrize(
    ("method", "request_type", "fields", "status", "details"),
    [
        ("dlURL", "URLRequest", {"url": "", "userID": 1}, "INVALID_ARGUMENT", "url: must not be empty"),
        (
            "dlURL",
            "URLRequest",
            {"url": "http://127.0.0.1/f.xml", "userID": 0},
            "INVALID_ARGUMENT",
            "userID: must be positive",
        ),
        (
            "dlURL",
            "URLRequest",
            {"url": "http://192.168.1.1/", "userID": 1},
            "INVALID_ARGUMENT",
            "url: host 192.168.1.1 is not allowed",
        ),
        (
            "listArchivalEntries",
            "listArchivalEntriesRequest",
            {"UserID": -1},
            "INVALID_ARGUMENT",
            "UserID: must be positive",
        ),
        (
            "listArchivalEvents",
            "listArchivalEventsRequest",
            {},
            "INVALID_ARGUMENT",
            "DownloadID: must be positive",
        ),
        (
            "listArchivalEvents",
            "listArchivalEventsRequest",
            {"DownloadID": 999},
            "NOT_FOUND",
            "DownloadID: no category 999",
        ),
        (
            "deleteArchivalRequest",
            "deletionRequest",
            {"downloadID": 2**64 - 1, "userID": 1},
            "INVALID_ARGUMENT",
            f"downloadID: must be at most {2**63 - 1}",
        ),
        (
            "retryArchivalRequestDownloadss",
            "retryRequest",
            {"downloadID": 1},
            "INVALID_ARGUMENT",
            "userID: must be positive",
        ),
        (
            "ApproveVideo",
            "ApproveVideoReq",
            {"VideoID": "abc"},
            "INVALID_ARGUMENT",
            "VideoID: must be a video id (a positive integer), got 'abc'",
        ),
        ("UnapproveVideo", "ApproveVideoReq", {"VideoID": "999999"}, "NOT_FOUND", "VideoID: no video 999999"),
        (
            "deleteArchivalRequest",
            "deletionRequest",
            {"downloadID": 999, "userID": 1},
            "NOT_FOUND",
            "downloadID: user 1 does not subscribe to category 999",
        ),
        (
            "AddInferenceCategory",
            "InferenceEntry",
            {"Tag": "", "Category": "Music"},
            "INVALID_ARGUMENT",
            None,
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None,
)
async def test_bad_input_gets_the_same_statuses_and_writes_nothing(
    method: str,
    request_type: str,
    fields: dict[str, Any],
    status: str,
    details: str | None,
    client_dir: Path,
    api: Api,
    db: Database,
) -> None:
    before = await db.counts()
    code, message = await Horahora(client_dir, api.port).one(method, request_type, **fields)
    assert code == status
    if details is not None:
        assert message == details
    elif status == "INVALID_ARGUMENT":
        assert message.startswith(("Tag: ", "Category: "))
    assert await db.counts() == before


async def test_reflection_lists_both_services_and_health_answers_for_both(api: Api) -> None:
    channel = Channel("127.0.0.1", api.port)
    try:
        stub = ServerReflectionStub(channel)

        async def services() -> list[str]:
            async with stub.ServerReflectionInfo.open() as stream:
                await stream.send_message(ServerReflectionRequest(list_services=""), end=True)
                response = await stream.recv_message()
            assert response is not None
            return sorted(s.name for s in response.list_services_response.service)

        names = await trio_asyncio.aio_as_trio(services)()
        health = HealthStub(channel)
        statuses = [
            (
                await trio_asyncio.aio_as_trio(health.Check)(HealthCheckRequest(service=name), timeout=10)
            ).status
            for name in ("scheduler.v1.Scheduler", "proto.Scheduler")
        ]
    finally:
        channel.close()
    assert {"scheduler.v1.Scheduler", "proto.Scheduler"} <= set(names)
    assert statuses == [HealthCheckResponse.SERVING] * 2


async def test_the_horahora_api_needs_the_same_token_and_is_counted_by_its_own_name(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    token, port = "a-token-of-32-characters-at-least", free_port()
    settings = pipeline_settings(
        database_url,
        redis_url,
        tmp_path,
        grpc={"tokens": [token]},
        metrics={"port": port},
        sync={"workers": 0},
        schedule={"pollers": 0},
        downloader={"workers": 0},
    )
    async with serving(settings) as (running, _):
        channel = Channel("127.0.0.1", running.port)
        try:
            rules = SchedulerStub(channel).GetInferenceCategories
            with pytest.raises(GRPCError) as refused:
                await trio_asyncio.aio_as_trio(rules)(hh.Empty(), timeout=10)
            answer = await trio_asyncio.aio_as_trio(rules)(
                hh.Empty(), metadata={"authorization": f"Bearer {token}"}, timeout=10
            )
        finally:
            channel.close()
        metrics = await scrape(port)

    assert refused.value.status == Status.UNAUTHENTICATED
    assert list(answer.Entries) == []
    method = "proto.Scheduler/GetInferenceCategories"
    assert metrics[("scheduler_api_requests_total", (("code", "OK"), ("method", method)))] == 1
    assert metrics[("scheduler_api_requests_total", (("code", "UNAUTHENTICATED"), ("method", method)))] == 1
