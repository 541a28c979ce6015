"""What a category asks to archive: its download profile (format, subtitles, filters),
checked on the way in, decided per video, and merged when several categories want one
video. Pure: the API, the syncer and the yt-dlp workers all use it."""

from scheduler.profiles.filters import Verdict, verdict
from scheduler.profiles.formats import Download, merged
from scheduler.profiles.model import Profile, from_json, to_json

__all__ = ["Download", "Profile", "Verdict", "from_json", "merged", "to_json", "verdict"]
