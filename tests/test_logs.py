"""One line per event, as text or JSON, with the video, category, site and instance it concerns."""

from __future__ import annotations

import json
import logging

import pytest

from scheduler import logs
from scheduler.settings import SettingsError, from_overrides


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("scheduler.pipeline", logging.INFO, __file__, 1, message, (), None)
    made.__dict__.update(extra)
    return made


def test_a_json_line_is_one_object_with_its_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_instance", "host-1-abc")

    line = logs.JsonFormatter().format(record("video 7: delivered", video_id=7, website="example.com"))

    parsed = json.loads(line)
    assert "\n" not in line
    assert parsed["message"] == "video 7: delivered"
    assert (parsed["level"], parsed["logger"]) == ("INFO", "scheduler.pipeline")
    assert (parsed["instance"], parsed["video_id"], parsed["website"]) == ("host-1-abc", 7, "example.com")
    assert parsed["time"].endswith("+00:00")


def test_a_text_line_ends_with_its_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_instance", "")

    line = logs.TextFormatter().format(record("category 3: 10 listed", category_id=3, website="example.com"))

    assert line.endswith("INFO scheduler.pipeline: category 3: 10 listed category_id=3 website=example.com")


def test_a_multi_line_message_stays_one_json_line() -> None:
    line = logs.JsonFormatter().format(record("first\nsecond"))

    assert "\n" not in line and json.loads(line)["message"] == "first\nsecond"


def test_log_settings_are_checked() -> None:
    assert from_overrides({"log": {"format": "json", "level": "debug"}}).log.level == "DEBUG"
    with pytest.raises(SettingsError, match="SCHEDULER_LOG__FORMAT: must be one of text, json"):
        from_overrides({"log": {"format": "xml"}})
    with pytest.raises(SettingsError, match="SCHEDULER_LOG__LEVEL"):
        from_overrides({"log": {"level": "LOUD"}})
