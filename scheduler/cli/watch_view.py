"""`scheduler watch`'s screen (pure): progress bars with rates and ETAs on a terminal,
one plain line per state change otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.v1 import scheduler_pb2 as pb

BAR_WIDTH = 24
IN_FLIGHT = {pb.QUEUED, pb.DOWNLOADING, pb.UPLOADING}


@dataclass
class _Row:
    download: pb.Download
    first_seen: float
    rate: float = 0.0  # bytes per second, smoothed
    sampled_at: float = 0.0
    sampled_bytes: int = 0


@dataclass
class WatchView:
    rows: dict[int, _Row] = field(default_factory=dict)

    def update(self, download: pb.Download, now: float) -> str | None:
        """Takes a change; returns the plain line it deserves (None: only progress moved)."""
        row = self.rows.get(download.video_id)
        changed = row is None or row.download.status != download.status
        if row is None:
            row = self.rows[download.video_id] = _Row(download, now, sampled_at=now)
        elif download.bytes_done > row.sampled_bytes and now > row.sampled_at:
            instant = (download.bytes_done - row.sampled_bytes) / (now - row.sampled_at)
            row.rate = instant if not row.rate else 0.7 * row.rate + 0.3 * instant
            row.sampled_at, row.sampled_bytes = now, download.bytes_done
        row.download = download
        if download.status not in IN_FLIGHT:
            del self.rows[download.video_id]
        return _line(download) if changed else None

    def screen(self) -> list[str]:
        """One line per download in flight, for a terminal."""
        return [_progress_line(row) for row in sorted(self.rows.values(), key=lambda r: r.first_seen)]


def _name(d: pb.Download) -> str:
    return f"video {d.video_id} ({d.website} {d.foreign_id})"


def _line(d: pb.Download) -> str:
    status = pb.VideoStatus.Name(d.status).lower()
    where = f" on {d.instance}" if d.instance and d.status in IN_FLIGHT else ""
    size = f", {_bytes(d.bytes_total)}" if d.status == pb.DONE and d.bytes_total else ""
    return f"{_name(d)}: {status}{where}{size}"


def _progress_line(row: _Row) -> str:
    d = row.download
    status = pb.VideoStatus.Name(d.status).lower()
    if d.bytes_total:
        fraction = min(1.0, d.bytes_done / d.bytes_total)
        filled = round(fraction * BAR_WIDTH)
        bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%}"
    else:
        bar = f"[{'?' * BAR_WIDTH}] {_bytes(d.bytes_done):>4}"
    rate = f"{_bytes(int(row.rate))}/s" if row.rate else "-"
    eta = "-"
    if row.rate and d.bytes_total > d.bytes_done:
        eta = _duration((d.bytes_total - d.bytes_done) / row.rate)
    return f"{status:<11} {bar} {rate:>10} ETA {eta:>7}  {_name(d)}"


def _bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _duration(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"
