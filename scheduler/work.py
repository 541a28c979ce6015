"""The units of work the pipeline hands between its stages and the data layer: a category
or video it holds a lease on, and what a listing found. Plain values, shared by the
workers, the yt-dlp adapter and the store, so none of them owns them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scheduler.profiles import Profile, from_json
from scheduler.profiles.model import DEFAULT


@dataclass(frozen=True)
class ClaimedCategory:
    id: int
    url: str
    website: str
    backoff_factor: int
    sync_count: int
    disable_download_cache: bool
    profile: Profile = DEFAULT

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ClaimedCategory:
        return cls(**{**row, "profile": from_json(row["profile"])})


# A listing entry's fields as kept: its own title, description, uploader, thumbnail (text),
# and what the profiles' filters read (profiles.filters.FIELDS: dates, duration, live...).
Listed = dict[str, str | int | float]


@dataclass(frozen=True)
class ListedVideo:
    website: str
    foreign_id: str
    url: str
    title: str
    listed: Listed
    tags: tuple[str, ...] = ()  # the entry's tags, when the listing carries them


@dataclass(frozen=True)
class SyncOutcome:
    listed: int
    new_to_category: int
    backoff_factor: int
    next_sync_at: datetime


@dataclass(frozen=True)
class ClaimedVideo:
    id: int
    website: str
    foreign_id: str
    url: str
    title: str
    listed: Listed
    attempts: int
    category_id: int  # the category the delivery is recorded under
    disable_download_cache: bool
    profiles: tuple[Profile, ...] = ()  # of the subscribed categories listing it, by id

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ClaimedVideo:
        """The claim's row: `listed` is the listing entry as JSON text, and a video no
        category lists any more has no `disable_download_cache` (NULL) and no profiles."""
        return cls(
            **{
                **row,
                "listed": json.loads(row["listed"]),
                "disable_download_cache": bool(row["disable_download_cache"]),
                "profiles": tuple(from_json(p) for p in row["profiles"] or ()),
            }
        )


@dataclass(frozen=True)
class UntaggedVideo:
    """A video awaiting approval whose listing gave no tags (pipeline/tagger.py)."""

    id: int
    website: str
    url: str
