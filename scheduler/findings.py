"""One finding of `scheduler doctor` (pure): what was checked, what was found, what to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    check: str  # what was checked: "yt-dlp", "ffmpeg", "site nicovideo.jp", ...
    ok: bool
    detail: str  # what was found (versions, paths, expiry; never a cookie's value)
    fix: str = ""  # what to do, for a problem

    def line(self) -> str:
        if self.ok:
            return f"ok       {self.check}: {self.detail}"
        return f"PROBLEM  {self.check}: {self.detail}; {self.fix}"
