"""The notifier's statements (scheduler/notify): the outbox of events to tell, and the
cursors that say what each notification URL was told, leased to one instance per digest."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.db.connector import SQL, Connection, Database


@dataclass(frozen=True)
class DueDigest:
    target: str  # the URL's key (its SHA-256)
    kind: str
    last_event_id: int
    attempts: int


@dataclass(frozen=True)
class DigestEvents:
    events: int
    last_id: int
    first: tuple[str, ...]  # the first subjects, oldest first


async def notice(conn: Connection, kind: str, subject: str) -> None:
    """An event to tell, in the caller's transaction (written only if a URL wants `kind`)."""
    await conn.execute(SQL["add_notice"], kind, subject)


class NotifyQueries:
    _db: Database
    owner: str

    async def register_cursors(self, cursors: list[tuple[str, str]]) -> None:
        """(URL key, kind) pairs this instance tells; new ones start from now."""
        async with self._db.connection() as conn:
            await conn.execute(SQL["register_cursors"], [t for t, _ in cursors], [k for _, k in cursors])

    async def claim_digests(self, targets: list[str], gather_s: float, lease_s: float) -> list[DueDigest]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["claim_digests"], self.owner, targets, gather_s, lease_s)
        return [DueDigest(**r) for r in rows]

    async def digest_events(self, due: DueDigest, settle_s: float, first: int) -> DigestEvents:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(SQL["digest_events"], due.kind, due.last_event_id, settle_s, first)
        return DigestEvents(row["events"], row["last_id"] or due.last_event_id, tuple(row["first"] or ()))

    async def digest_sent(self, due: DueDigest, last_id: int) -> bool:
        """The cursor moves past `last_id`; False if the lease was lost meanwhile."""
        async with self._db.connection() as conn:
            moved = await conn.fetchval(SQL["digest_sent"], due.target, due.kind, self.owner, last_id)
        return moved is not None

    async def digest_failed(self, due: DueDigest, retry_in_s: float) -> int:
        """Tried again in retry_in_s; the attempts so far (0 if the lease was lost)."""
        async with self._db.connection() as conn:
            attempts = await conn.fetchval(SQL["digest_failed"], due.target, due.kind, self.owner, retry_in_s)
        return int(attempts or 0)

    async def prune_notices(self) -> None:
        async with self._db.connection() as conn:
            await conn.execute(SQL["prune_notices"])
