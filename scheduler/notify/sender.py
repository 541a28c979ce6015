"""Sending one message to one notification URL with Apprise: its blocking call in a
thread, bounded, and whatever goes wrong mapped to False (never an exception, never the
URL in a log line: it holds secrets)."""

from __future__ import annotations

import logging

import trio

from scheduler import quiet_apprise
from scheduler.notify.digest import Message
from scheduler.settings import NotifyTarget

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 30.0


def _send_blocking(target: NotifyTarget, message: Message) -> bool:
    notifier = quiet_apprise.load().Apprise()
    if not notifier.add(target.url):
        return False
    return bool(notifier.notify(title=message.title, body=message.body))


async def send(target: NotifyTarget, message: Message, timeout_s: float = SEND_TIMEOUT_S) -> bool:
    """Whether the message reached the URL, within timeout_s (a thread that outlives it is
    abandoned: Apprise's requests have their own timeouts)."""
    with trio.move_on_after(timeout_s):
        try:
            return await trio.to_thread.run_sync(_send_blocking, target, message, abandon_on_cancel=True)
        except Exception as error:  # a plugin's bug must not end the notifier
            log.warning("%s: sending failed: %s", target.label, type(error).__name__)
            return False
    return False
