"""Logging setup for `serve` and `migrate`: one line per event, as text or as JSON.

Call sites add what the event is about with `extra` (category_id, video_id, website); the
pipeline sets `instance` once. Both formats print those fields, so a line can be found by
video, category, site or instance.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# HTTP/2 libraries log every header at DEBUG, authorization tokens included: keep them quiet.
PROTOCOL_LOGGERS = ("hpack", "h2")
# The fields call sites may add with `extra`, in the order a line shows them.
CONTEXT_FIELDS = ("instance", "category_id", "video_id", "website")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"

_instance = ""


def set_instance(name: str) -> None:
    """Every later line names this instance (the pipeline's owner id)."""
    global _instance
    _instance = name


def _context(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = {"instance": _instance} if _instance else {}
    fields |= {name: getattr(record, name) for name in CONTEXT_FIELDS[1:] if hasattr(record, name)}
    return fields


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.context = "".join(f" {k}={v}" for k, v in _context(record).items())
        return super().format(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str = "INFO", format: str = "text") -> None:
    """(Re)configures the root logger: stderr, the level and format the settings name."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_protocol_loggers()


def quiet_protocol_loggers() -> None:
    for name in PROTOCOL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
