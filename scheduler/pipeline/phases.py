"""Where one video's delivery spends its time, phase by phase (pure: the clock is given).

The poller starts a video's `Phases` when its claim returns, with the video's share of
the claim statement; the downloader times each phase and stops the watch once the
lock is released. The pipeline logs `summary()` in one line per delivered video:

    video 12: delivered to the Video Service as 127.0.0.1/v1 in 1.23 s (claim 0.4 ms,
    wait 0.1 ms, lock 1.9 ms, exists 0.3 ms, progress 2.5 ms, download 1.19 s, upload
    21.0 ms, record 2.8 ms, unlock 0.9 ms, other 3.1 ms; overhead 6.1 ms, own 11.7 ms)

Two measures of the service's own time per video:

- overhead: its bookkeeping, the phases a delivery costs whatever the video: its share
  of the claim statement, the wait for a downloader, the lock, the record (done, the
  delivery and its event, one transaction) and the lock's release;
- own: everything but yt-dlp's and the Video Service's calls (the existence check, the
  download, the upload): the overhead plus the progress writes (downloading,
  uploading) and "other" (the work directory, the metadata, the threads' hand-offs).

Both are wall-clock times, so they include any time the service waited for a CPU.
`parse` reads a summary back (the benchmarks read serve's log).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# In the order a delivery goes through them. "wait": claimed, not yet taken by a downloader;
# "turn": waiting out the site's interval between starts (SCHEDULER_SITES__LIMITS).
PHASES = ("claim", "wait", "lock", "exists", "turn", "progress", "download", "upload", "record", "unlock")
BOOKKEEPING = ("claim", "wait", "lock", "record", "unlock")
# yt-dlp's and the Video Service's calls, and the time the site's limit imposes.
EXTERNAL = ("exists", "turn", "download", "upload")


class Phases:
    def __init__(self, claim_s: float = 0.0, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._start = clock()
        self._end: float | None = None
        self.durations: dict[str, float] = {"claim": claim_s}

    def started(self) -> None:
        """A downloader took the video: the time since the claim was its wait."""
        self.durations["wait"] = self._clock() - self._start

    @contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        """Adds the time the block takes to `phase` (also when it raises)."""
        began = self._clock()
        try:
            yield
        finally:
            self.durations[phase] = self.durations.get(phase, 0.0) + self._clock() - began

    def stop(self) -> None:
        self._end = self._clock()

    @property
    def total_s(self) -> float:
        """The claim's share plus the time from the claim to `stop` (or now)."""
        end = self._end if self._end is not None else self._clock()
        return self.durations["claim"] + end - self._start

    @property
    def other_s(self) -> float:
        """What no phase names: the work directory, the metadata, the threads' hand-offs."""
        return max(0.0, self.total_s - sum(self.durations.values()))

    @property
    def overhead_s(self) -> float:
        return sum(self.durations.get(name, 0.0) for name in BOOKKEEPING)

    @property
    def own_s(self) -> float:
        return self.total_s - sum(self.durations.get(name, 0.0) for name in EXTERNAL)

    def as_dict(self) -> dict[str, float]:
        """Seconds per phase (those that happened), then other, total, overhead and own."""
        named = {name: self.durations[name] for name in PHASES if name in self.durations}
        return named | {
            "other": self.other_s,
            "total": self.total_s,
            "overhead": self.overhead_s,
            "own": self.own_s,
        }

    def summary(self) -> str:
        times = self.as_dict()
        total, overhead, own = times.pop("total"), times.pop("overhead"), times.pop("own")
        phases = ", ".join(f"{name} {_duration(seconds)}" for name, seconds in times.items())
        return f"in {_duration(total)} ({phases}; overhead {_duration(overhead)}, own {_duration(own)})"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


_TIME = r"[\d.]+ m?s"
_SUMMARY = re.compile(
    rf"in (?P<total>{_TIME}) \((?P<phases>[^;]*); overhead (?P<overhead>{_TIME}), own (?P<own>{_TIME})\)"
)
_PHASE = re.compile(r"(\w+) ([\d.]+) (m?s)")


def parse(line: str) -> dict[str, float] | None:
    """The seconds per phase of a line that ends with a `summary()` (as `as_dict`), or None."""
    match = _SUMMARY.search(line)
    if match is None:
        return None
    times = {name: _seconds(value, unit) for name, value, unit in _PHASE.findall(match["phases"])}
    for key in ("total", "overhead", "own"):
        value, unit = match[key].split()
        times[key] = _seconds(value, unit)
    return times


def _seconds(value: str, unit: str) -> float:
    return float(value) / 1000 if unit == "ms" else float(value)
