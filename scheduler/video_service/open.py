"""The Video Service the settings name, open for as long as the block runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from scheduler.settings import VideoServiceSettings
from scheduler.video_service.base import VideoService, VideoServiceError
from scheduler.video_service.directory import DirectoryVideoService
from scheduler.video_service.horahora import HorahoraVideoService
from scheduler.video_service.http import HttpVideoService
from scheduler.video_service.library import LibraryVideoService


@asynccontextmanager
async def open_video_service(settings: VideoServiceSettings) -> AsyncIterator[VideoService]:
    """Must run inside trio-asyncio's loop (the horahora kind's Channel lives there)."""
    if settings.kind == "directory":
        root = settings.directory
        try:
            await trio.to_thread.run_sync(lambda: root.mkdir(parents=True, exist_ok=True))
        except OSError as error:
            raise VideoServiceError(f"directory {root}: cannot create it: {error}") from None
        yield LibraryVideoService(root) if settings.layout == "library" else DirectoryVideoService(root)
    elif settings.kind == "horahora":
        async with HorahoraVideoService.connect(settings.address, settings.timeout_s) as horahora:
            yield horahora
    elif settings.kind == "http":
        async with HttpVideoService(settings.url, settings.timeout_s) as http:
            yield http
    else:
        raise ValueError(f"unknown Video Service kind {settings.kind!r}")
