"""How a failed download is handled, decided without servers (scheduler/pipeline/failures.py);
the pipeline's tests carry the decisions out against real ones (test_faults.py,
test_site_breaker.py)."""

from __future__ import annotations

import trio

from scheduler.pipeline import ytdlp
from scheduler.pipeline.failures import Attempt, Throttled, decide, is_site_answer, retry_delay
from scheduler.settings import from_overrides
from scheduler.video_service.base import VideoServiceError

SETTINGS = from_overrides(
    {"downloader": {"attempts": 5, "retry_base_s": 60.0, "retry_max_s": 21600.0, "timeout_s": 900.0}}
).downloader


def plain(reason: str) -> str:
    return reason


def attempt(error: Exception, attempts_made: int = 0) -> Attempt:
    decision = decide(error, attempts_made, None, SETTINGS, plain)
    assert isinstance(decision, Attempt)
    return decision


def test_a_site_that_throttles_us_costs_no_attempt() -> None:
    error = ytdlp.YtdlpError("HTTP Error 429: Too Many Requests")

    assert is_site_answer(error)
    assert decide(error, 2, "HTTP 429", SETTINGS, plain) == Throttled("HTTP 429")


def test_any_other_failure_is_an_attempt_retried_with_a_growing_delay() -> None:
    error = ytdlp.YtdlpError("HTTP Error 404: Not Found")

    assert attempt(error) == Attempt("HTTP Error 404: Not Found", 5, 60.0)
    assert attempt(error, 2).retry_in_s == 240.0
    assert attempt(error, 40).retry_in_s == 21600.0


def test_a_file_over_the_size_limit_has_no_attempt_left_and_is_not_the_sites_answer() -> None:
    error = ytdlp.TooLarge("the file is 3.0 GB, over the limit of 1.0 GB")

    assert not is_site_answer(error)
    assert attempt(error).attempts == 0


def test_a_timeout_and_the_video_service_say_what_happened() -> None:
    refused = VideoServiceError("horahora db:9000: upload: UNAVAILABLE")

    assert attempt(trio.TooSlowError()) == Attempt("timed out after 900s", 5, 60.0)
    assert not is_site_answer(refused)
    assert attempt(refused).reason == "horahora db:9000: upload: UNAVAILABLE"


def test_a_sites_error_is_explained_and_bounded() -> None:
    error = ytdlp.YtdlpError("Sign in to confirm you are not a bot " + "x" * 900)

    decision = decide(error, 0, None, SETTINGS, lambda reason: f"set the cookies: {reason}")

    assert isinstance(decision, Attempt)
    assert decision.reason.startswith("set the cookies: Sign in to confirm")
    assert len(decision.reason) <= len("set the cookies: ") + 500


def test_the_backoff_doubles_up_to_its_cap() -> None:
    assert [retry_delay(n, 60.0, 21600.0) for n in (0, 1, 2, 3, 10)] == [60.0, 60.0, 120.0, 240.0, 21600.0]
