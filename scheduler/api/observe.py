"""Counts every RPC by method and the status it ended with, refused ones included.

grpclib announces a request (RecvRequest) and its end (SendTrailingMetadata) in the same
task, the second one also when a hook or the handler raised: a context variable carries
the method and the start time from one to the other.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from grpclib.events import RecvRequest, SendTrailingMetadata, listen
from grpclib.server import Server

from scheduler.metrics import Metrics

HORAHORA_SERVICE = "proto.Scheduler"
_started: ContextVar[tuple[str, float] | None] = ContextVar("rpc_started", default=None)


def method_label(path: str) -> str:
    """A method by its name ("ListEvents", "Check"); Horahora's API's by its service too
    ("proto.Scheduler/ApproveVideo"): it has methods of the same names as scheduler.v1."""
    service, _, name = path.lstrip("/").rpartition("/")
    return f"{service}/{name}" if service == HORAHORA_SERVICE else name


def install(server: Server, metrics: Metrics) -> None:
    """Call before any other RecvRequest hook (a refusing one stops those after it)."""

    async def on_request(event: RecvRequest) -> None:
        _started.set((method_label(event.method_name), time.perf_counter()))

    async def on_end(event: SendTrailingMetadata) -> None:
        started = _started.get()
        if started is not None:
            method, began = started
            metrics.api_requests.labels(method, event.status.name).inc()
            metrics.api_seconds.labels(method).observe(time.perf_counter() - began)

    listen(server, RecvRequest, on_request)
    listen(server, SendTrailingMetadata, on_end)
