"""The download profile's rules, as pure functions: what a filter decides from a listing
entry or from metadata, which profile several categories' download takes, and which
profiles are refused (naming the field)."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.errors import InvalidArgument
from scheduler.profiles import Profile, from_json, merged, to_json, verdict
from scheduler.profiles.filters import known_fields, overall
from scheduler.profiles.model import checked, describe, parse_duration

DEFAULT_FORMAT = "bv*+ba/b"
JAN_2024 = 1704067200  # 2024-01-01T00:00:00Z


def test_the_default_profile_wants_everything_and_is_stored_as_an_empty_object() -> None:
    assert to_json(Profile()) == "{}"
    assert verdict(Profile(), {}, complete=False) == verdict(Profile(), {}, complete=True)
    assert not verdict(
        Profile(), {"live_status": "is_live", "url": "https://x/shorts/a"}, complete=True
    ).skipped


def test_a_profile_survives_its_json() -> None:
    profile = checked(
        Profile(
            max_height=1080,
            subtitles=("ja", "en"),
            automatic_subtitles=True,
            uploaded_after=date(2024, 1, 1),
            uploaded_before=date(2024, 12, 31),
            min_duration_s=60,
            max_duration_s=7200,
            exclude_live=True,
            exclude_shorts=True,
            title_match="MAD|YTPMV",
            title_exclude="trailer",
        )
    )
    assert from_json(to_json(profile)) == profile
    assert describe(profile) == (
        "max 1080p, subtitles ja,en (with automatic), after 2024-01-01, before 2024-12-31, at least 1m, "
        "at most 2h, no live, no shorts, title ~ MAD|YTPMV, title !~ trailer"
    )


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"timestamp": JAN_2024 - 1}, "uploaded 2023-12-31, before 2024-01-01"),
        ({"upload_date": "20231231"}, "uploaded 2023-12-31, before 2024-01-01"),
        ({"timestamp": JAN_2024, "duration": 7201}, "2h1s long, more than 2h"),
        ({"timestamp": JAN_2024, "duration": 30}, "30s long, less than 1m"),
        ({"timestamp": JAN_2024, "duration": 90, "live_status": "is_live"}, "a live stream (is_live)"),
        ({"timestamp": JAN_2024, "duration": 90, "live_status": "was_live"}, "a live stream (was_live)"),
        ({"timestamp": JAN_2024, "duration": 90, "url": "https://www.youtube.com/shorts/x"}, "a short"),
        ({"timestamp": JAN_2024, "duration": 90, "media_type": "short"}, "a short"),
        ({"timestamp": JAN_2024, "duration": 90, "title": "A cat video"}, "title does not match 'mad|ytpmv'"),
        ({"timestamp": JAN_2024, "duration": 90, "title": "YTPMV trailer"}, "title matches 'TRAILER'"),
    ],
)
def test_each_filter_skips_with_its_reason(entry: dict[str, object], reason: str) -> None:
    profile = Profile(
        uploaded_after=date(2024, 1, 1),
        min_duration_s=60,
        max_duration_s=7200,
        exclude_live=True,
        exclude_shorts=True,
        title_match="mad|ytpmv",
        title_exclude="TRAILER",
    )
    assert verdict(profile, entry, complete=False).reason == reason


def test_a_filter_whose_field_the_listing_lacks_is_left_to_the_metadata() -> None:
    profile = Profile(exclude_live=True, max_duration_s=600)
    listed = {"title": "t", "duration": 300}  # a feed item: no live flag
    assert verdict(profile, listed, complete=False).undecided
    assert not verdict(profile, listed, complete=False).skipped
    # The metadata has all there is: a field it lacks lets the video through.
    assert verdict(profile, listed, complete=True) == verdict(Profile(), {}, complete=True)
    assert verdict(profile, listed | {"live_status": "not_live"}, complete=False) == verdict(
        Profile(), {}, complete=False
    )


def test_a_video_is_skipped_only_when_every_category_listing_it_skips_it() -> None:
    recent = Profile(uploaded_after=date(2024, 1, 1))
    everything = Profile()
    old = {"timestamp": JAN_2024 - 86400}
    assert overall([recent], old, complete=True).reason == "uploaded 2023-12-31, before 2024-01-01"
    assert not overall([recent, everything], old, complete=True).skipped
    assert not overall([], old, complete=True).skipped  # no subscribed category: as before profiles


@pytest.mark.parametrize(
    ("profiles", "selector"),
    [
        ([Profile(audio_only=True), Profile(max_height=360)], "bv*[height<=360]+ba/b[height<=360]/wv*+ba/w"),
        (
            [Profile(max_height=360), Profile(max_height=1080)],
            "bv*[height<=1080]+ba/b[height<=1080]/wv*+ba/w",
        ),
        ([Profile(max_height=1080), Profile()], DEFAULT_FORMAT),
        ([Profile(), Profile(format="bv*[ext=mp4]+ba")], "bv*[ext=mp4]+ba"),
        ([Profile(audio_only=True)], "ba/b"),
    ],
)
def test_several_categories_download_once_at_the_most_generous_format(
    profiles: list[Profile], selector: str
) -> None:
    assert merged(profiles, DEFAULT_FORMAT).format == selector


def test_several_categories_get_every_subtitle_language_any_asks_for() -> None:
    download = merged(
        [Profile(subtitles=("ja",)), Profile(subtitles=("en", "ja"), automatic_subtitles=True)],
        DEFAULT_FORMAT,
    )
    assert (download.subtitles, download.automatic_subtitles) == (("ja", "en"), True)


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        (Profile(max_height=-1), "profile.max_height"),
        (Profile(format="bv*", max_height=720), "profile.format"),
        (Profile(format="bv*; rm -rf /"), "profile.format"),
        (Profile(audio_only=True, max_height=720), "profile.max_height"),
        (Profile(subtitles=("en", "../../etc")), "profile.subtitles"),
        (Profile(automatic_subtitles=True), "profile.automatic_subtitles"),
        (
            Profile(uploaded_after=date(2024, 2, 1), uploaded_before=date(2024, 1, 1)),
            "profile.uploaded_before",
        ),
        (Profile(min_duration_s=-5), "profile.min_duration_s"),
        (Profile(min_duration_s=600, max_duration_s=60), "profile.min_duration_s"),
        (Profile(title_match=r"(a)\1"), "profile.title_match"),  # a back-reference: RE2 has none
        (Profile(title_exclude="(?=x)"), "profile.title_exclude"),  # a look-ahead
        (Profile(title_match="a" * 1001), "profile.title_match"),
    ],
)
def test_a_bad_profile_is_refused_naming_its_field(profile: Profile, field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        checked(profile)
    assert refused.value.field == field


def test_a_pattern_that_backtracks_catastrophically_elsewhere_runs_in_linear_time() -> None:
    # Exponential in a backtracking engine such as Python's re: this title would take it
    # longer than the universe has existed. RE2 answers at once.
    profile = checked(Profile(title_match="(a+)+$"))
    result = verdict(profile, {"title": "a" * 5000 + "!"}, complete=True)
    assert result.reason == "title does not match '(a+)+$'"


def test_durations_read_as_people_write_them() -> None:
    assert [parse_duration(t) for t in ("2h", "90m", "1h30m", "45s", "3600", "1h0m5s")] == [
        7200, 5400, 5400, 45, 3600, 3605
    ]  # fmt: skip
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("two hours")


def test_the_listing_keeps_only_the_filters_fields_as_json_scalars() -> None:
    entry = {"duration": 12.5, "timestamp": JAN_2024, "live_status": None, "formats": [], "is_live": False,
             "upload_date": "20240101", "extra": "x", "release_timestamp": float("nan")}  # fmt: skip
    assert known_fields(entry) == {
        "duration": 12.5,
        "timestamp": JAN_2024,
        "is_live": False,
        "upload_date": "20240101",
    }
