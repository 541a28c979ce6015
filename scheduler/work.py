"""The units of work the pipeline hands between its stages and the data layer: a category
or video it holds a lease on, and what a listing found. Plain values, shared by the
workers, the yt-dlp adapter and the store, so none of them owns them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ClaimedCategory:
    id: int
    url: str
    website: str
    backoff_factor: int
    sync_count: int
    disable_download_cache: bool


@dataclass(frozen=True)
class ListedVideo:
    website: str
    foreign_id: str
    url: str
    title: str
    listed: dict[str, str]  # the entry's own title, description, uploader, thumbnail
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
    listed: dict[str, str]
    attempts: int
    category_id: int  # the category the delivery is recorded under
    disable_download_cache: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ClaimedVideo:
        """The claim's row: `listed` is the listing entry as JSON text, and a video no
        category lists any more has no `disable_download_cache` (NULL)."""
        fields = {**row, "listed": json.loads(row["listed"])}
        return cls(**fields | {"disable_download_cache": bool(row["disable_download_cache"])})


@dataclass(frozen=True)
class UntaggedVideo:
    """A video awaiting approval whose listing gave no tags (pipeline/tagger.py)."""

    id: int
    website: str
    url: str
