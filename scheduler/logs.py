"""Logging setup for `serve` and `migrate`."""

from __future__ import annotations

import logging
import sys

# HTTP/2 libraries log every header at DEBUG, authorization tokens included: keep them quiet.
PROTOCOL_LOGGERS = ("hpack", "h2")


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    quiet_protocol_loggers()


def quiet_protocol_loggers() -> None:
    for name in PROTOCOL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
