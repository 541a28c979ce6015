"""The notifier: every instance runs one; each digest is sent by the one instance that
leases it (notify_cursors), so several instances send one message, not several.

A digest of a kind is due once its oldest untold event is DIGEST_S old: it then tells
every event of that kind since the last digest (those settled for SETTLE_S: a transaction
still open may yet commit an event of a lower id). A digest that cannot be sent is tried
again after RETRY_BASE_S (or DIGEST_S when shorter), doubling, at most DIGEST_S apart,
and dropped after ATTEMPTS (a log line and a metric). Sending runs here, never in a
downloader or a listing: a notification service that hangs slows nothing but its own
digests.

Exactly one message per digest, except when an instance dies between sending and
recording it: its lease then expires and another instance sends it again (at least once,
never lost).
"""

from __future__ import annotations

import logging

import trio

from scheduler.db.notify_queries import DueDigest
from scheduler.db.trio_store import TrioStore
from scheduler.metrics import Metrics
from scheduler.notify import sender
from scheduler.notify.digest import FIRST, digest
from scheduler.settings import NotifySettings, NotifyTarget

log = logging.getLogger(__name__)

SETTLE_S = 2.0
RETRY_BASE_S = 10.0
PRUNE_EVERY_S = 3600.0


def tick_s(settings: NotifySettings) -> float:
    """How often due digests are looked for: often enough that one is at most a tenth of
    its window late."""
    return min(5.0, max(0.05, settings.digest_s / 10))


def retry_in_s(attempts: int, settings: NotifySettings) -> float:
    """10 s (or the digest's window, when shorter), doubling, at most the window apart."""
    backoff: float = min(RETRY_BASE_S, settings.digest_s) * 2 ** max(0, attempts - 1)
    return min(backoff, max(settings.digest_s, RETRY_BASE_S))


async def keep_notifying(
    db: TrioStore,
    settings: NotifySettings,
    metrics: Metrics,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Sends digests until cancelled; started once the cursors of this instance's URLs exist."""
    targets = {t.key: t for t in settings.targets}
    await db.register_cursors([(t.key, kind) for t in settings.targets for kind in t.kinds])
    task_status.started()
    lease_s = sender.SEND_TIMEOUT_S * 2 + 30
    since_prune = PRUNE_EVERY_S
    while True:
        gather_s = max(settings.digest_s, SETTLE_S)  # a due digest has a settled event
        for due in await db.claim_digests(list(targets), gather_s, lease_s):
            await _send_digest(db, targets[due.target], due, settings, metrics)
        since_prune += tick_s(settings)
        if since_prune >= PRUNE_EVERY_S:
            await db.register_cursors([(t.key, kind) for t in settings.targets for kind in t.kinds])
            await db.prune_notices()
            since_prune = 0.0
        await trio.sleep(tick_s(settings))


async def _send_digest(
    db: TrioStore, target: NotifyTarget, due: DueDigest, settings: NotifySettings, metrics: Metrics
) -> None:
    events = await db.digest_events(due, SETTLE_S, FIRST)
    if not events.events:  # nothing settled after all: given back as it was
        await db.digest_sent(due, due.last_event_id)
        return
    if await sender.send(target, digest(due.kind, events.events, events.first)):
        await db.digest_sent(due, events.last_id)
        metrics.notifications.labels(due.kind, "sent").inc()
        log.info("%s: told %d %s events", target.label, events.events, due.kind)
        return
    if due.attempts + 1 >= settings.attempts:
        await db.digest_sent(due, events.last_id)  # dropped: the cursor moves on all the same
        metrics.notifications.labels(due.kind, "dropped").inc()
        log.warning(
            "%s: %d %s events dropped after %d attempts to send them",
            target.label,
            events.events,
            due.kind,
            settings.attempts,
        )
        return
    retry = retry_in_s(due.attempts + 1, settings)
    await db.digest_failed(due, retry)
    metrics.notifications.labels(due.kind, "retried").inc()
    log.warning(
        "%s: could not send %d %s events; trying again in %.0fs", target.label, events.events, due.kind, retry
    )
