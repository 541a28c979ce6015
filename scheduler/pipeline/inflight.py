"""The videos this instance works on, each with the cancel scope that stops its work.

Claimed videos are registered by the poller that claims them and removed by the
downloader that finishes them, so the heartbeat renews every lease this instance
holds, and CancelDownload, a lost lease or a lost lock can stop exactly one video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from scheduler.pipeline.phases import Phases
from scheduler.pipeline.site_gate import Outcome
from scheduler.pipeline.ytdlp import Progress
from scheduler.redlock import Lock
from scheduler.work import ClaimedVideo

# The reason a job is cancelled when a CancelDownload asks.
CANCELLED_BY_USER = "cancelled by CancelDownload"


@dataclass
class Job:
    video: ClaimedVideo
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    progress: Progress = field(default_factory=Progress)
    status: str = "queued"
    lock: Lock | None = None
    phases: Phases = field(default_factory=Phases)  # timed from its claim
    # Why `scope` was cancelled: the downloader acts on it (None: not cancelled by us).
    cancel_reason: str | None = None
    cancel_to_failed: bool = False
    site_outcome: Outcome = None  # what its request told of its site (pipeline/site_gate.py)

    def cancel(self, reason: str, *, to_failed: bool = False) -> None:
        if self.cancel_reason is None:
            self.cancel_reason, self.cancel_to_failed = reason, to_failed
        self.scope.cancel()


class InFlight:
    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}

    def add(self, video: ClaimedVideo, claim_s: float = 0.0) -> Job:
        """Registers a video just claimed; `claim_s` is its share of the claim statement."""
        job = self._jobs[video.id] = Job(video, phases=Phases(claim_s))
        return job

    def remove(self, job: Job) -> None:
        self._jobs.pop(job.video.id, None)

    def get(self, video_id: int) -> Job | None:
        return self._jobs.get(video_id)

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def __len__(self) -> int:
        return len(self._jobs)
