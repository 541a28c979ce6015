"""What yt-dlp's failures mean to us: one exception type with a one-line reason, a
refused URL told apart however yt-dlp wrapped it, and a file over the size limit."""

from __future__ import annotations

from scheduler.sites import netguard


class YtdlpError(Exception):
    """yt-dlp could not list or download; str() is its one-line reason."""


class TooLarge(YtdlpError):
    pass


class RefusedUrl(YtdlpError):
    """A URL it needed (the video's, a redirect's, ...) failed netguard.check_url;
    str() is the Refused reason."""


def check_allowed(url: str, allowed: tuple[str, ...]) -> None:
    try:
        netguard.check_url(url, allowed)
    except netguard.Refused as refused:
        raise RefusedUrl(str(refused)) from None


def refusal(error: BaseException) -> netguard.Refused | None:
    """The Refused behind a yt-dlp error, however yt-dlp wrapped it (`cause`,
    `exc_info`, or Python's own chaining)."""
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        if isinstance(current, netguard.Refused):
            return current
        seen.add(id(current))
        exc_info = getattr(current, "exc_info", None)
        pending += [current.__cause__, current.__context__, getattr(current, "cause", None)]
        pending += [exc_info[1]] if isinstance(exc_info, tuple) and len(exc_info) > 1 else []
    return None


def failure(error: Exception) -> YtdlpError:
    refused = refusal(error)
    return RefusedUrl(str(refused)) if refused else YtdlpError(one_line(error))


def one_line(error: BaseException) -> str:
    """yt-dlp's message without its "ERROR:" prefix, on one line (it may carry a \r)."""
    lines = [line.strip() for line in str(error).replace("ERROR:", "", 1).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:500]
