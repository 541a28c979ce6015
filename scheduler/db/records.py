"""The records the data layer answers the API and the commands with: plain values, each
built from its row one way, `Record(**row)`, the statement naming its columns as the
record's fields (a profile is read from its JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.categories import CategoryTarget
from scheduler.profiles import Profile, from_json


@dataclass(frozen=True)
class Scheduled:
    category_id: int
    created: bool
    subscribed: bool
    url: str
    profile: Profile  # the category's, in force


@dataclass(frozen=True)
class CategorySummary:
    id: int
    url: str
    website: str
    last_synced: datetime | None
    next_sync_at: datetime
    backoff_factor: int
    subscribers: int
    disable_download_cache: bool
    total_videos: int
    archived_videos: int
    undownloadable_videos: int
    skipped_videos: int
    profile: Profile

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CategorySummary:
        return cls(**{**row, "profile": from_json(row["profile"])})


@dataclass(frozen=True)
class NewSubscription:
    """A user to subscribe to a category, checked: ScheduleCategory's request, or a line
    of an import."""

    user_id: int
    target: CategoryTarget
    profile: Profile  # the category's, if the line creates it
    disable_download_cache: bool


@dataclass(frozen=True)
class Imported:
    category_id: int
    category_created: bool  # by this line (the first of its URL)
    subscribed: bool  # False: the user subscribed already


@dataclass(frozen=True)
class Subscription:
    user_id: int
    category_id: int
    url: str
    profile: Profile
    disable_download_cache: bool
    subscribed_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Subscription:
        return cls(**{**row, "profile": from_json(row["profile"])})


@dataclass(frozen=True)
class ProfileChange:
    category: CategorySummary
    skipped: int  # pending videos the new profile skips
    restored: int  # skipped videos pending again


@dataclass(frozen=True)
class Event:
    id: int
    category_id: int | None
    category_url: str
    video_id: int | None
    video_url: str
    message: str
    created_at: datetime


@dataclass(frozen=True)
class Download:
    video_id: int
    website: str
    foreign_id: str
    url: str
    status: str
    bytes_done: int
    bytes_total: int
    instance: str
    attempts: int
    instance_state: str  # alive, dead or stopped; '' when the instance never registered
    category: str  # the content category (inference rules)


@dataclass(frozen=True)
class Registration:
    """What a `serve` process says of itself in its heartbeat row (migrations/0007)."""

    id: str  # the owner of the leases it takes
    host: str
    pid: int
    version: str
    workers: int


@dataclass(frozen=True)
class Instance:
    """A registered `serve` process and what it holds now."""

    id: str
    host: str
    pid: int
    version: str
    workers: int
    started_at: datetime
    heartbeat_at: datetime
    state: str  # alive, dead (its heartbeat stopped) or stopped (cleanly)
    downloads: int  # videos it holds now
    listings: int  # categories it is listing now


@dataclass(frozen=True)
class WebsiteCounts:
    website: str
    videos: dict[str, int]  # by status; a status with no videos is absent
    oldest_pending: datetime | None  # when the longest-waiting pending video was listed


@dataclass(frozen=True)
class Stats:
    as_of: datetime  # the database's clock, for the ages of the times below
    categories: int  # subscribed ones
    websites: list[WebsiteCounts]
    instances: list[Instance]


@dataclass(frozen=True)
class Breaker:
    """A site's circuit breaker (migrations/0008)."""

    site: str
    state: str  # closed, open or probing
    reason: str
    openings: int  # since it last closed
    opened_at: datetime | None
    probe_at: datetime | None  # open: when one probe may go; probing: when the probe lapses
    served: bool


@dataclass(frozen=True)
class TrippedBreaker:
    site: str
    state: str  # open or probing
    reason: str
    probe_in_s: float  # <= 0: a probe may go now


@dataclass(frozen=True)
class Video:
    id: int
    website: str
    foreign_id: str
    url: str
    title: str
    status: str
    approval: str
    category: str  # the content category (inference rules)


@dataclass(frozen=True)
class InferenceCategory:
    id: int
    tag: str
    category: str
