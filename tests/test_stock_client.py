"""A stock gRPC client — Google's grpcio, with stubs generated from the .proto alone —
schedules a category, lists it with its counts, and gets INVALID_ARGUMENT for bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import trio
from grpc_tools import protoc

from tests.conftest import Api, Database
from tests.support import REPO

CLIENT = """
import json, sys
import grpc
import scheduler_pb2 as pb, scheduler_pb2_grpc as rpc

stub = rpc.SchedulerStub(grpc.insecure_channel(sys.argv[1]))
out = {}
scheduled = stub.ScheduleCategory(pb.ScheduleCategoryRequest(url="http://127.0.0.1/feed.xml", user_id=3))
out["category_id"] = scheduled.category_id
listed = stub.ListCategories(pb.ListCategoriesRequest(user_id=3))
out["categories"] = [[c.id, c.url, c.total_videos, c.archived_videos] for c in listed.categories]
try:
    stub.ScheduleCategory(pb.ScheduleCategoryRequest(url="http://192.168.1.1/", user_id=3))
except grpc.RpcError as error:
    out["error"] = [error.code().name, error.details()]
print(json.dumps(out))
"""


async def test_a_grpcio_client_generated_from_the_proto(api: Api, db: Database, tmp_path: Path) -> None:
    proto_dir = REPO / "proto" / "scheduler" / "v1"
    assert (
        protoc.main(
            [
                "protoc",
                f"-I{proto_dir}",
                f"--python_out={tmp_path}",
                f"--grpc_python_out={tmp_path}",
                str(proto_dir / "scheduler.proto"),
            ]
        )
        == 0
    )
    (tmp_path / "client.py").write_text(CLIENT)

    # Its own process: the generated modules must not meet the service's own.
    result = await trio.run_process(
        [sys.executable, "-E", "client.py", f"127.0.0.1:{api.port}"],
        cwd=tmp_path,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr.decode()
    out = json.loads(result.stdout)
    assert out["categories"] == [[out["category_id"], "http://127.0.0.1/feed.xml", 0, 0]]
    assert out["error"] == ["INVALID_ARGUMENT", "url: host 192.168.1.1 is not allowed"]
    assert await db.value("SELECT count(*) FROM categories") == 1
