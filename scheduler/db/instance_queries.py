"""A `serve` process's own statements: its heartbeat row, the health check, the
metrics' queue depth, and the standing site events (expiring cookies)."""

from __future__ import annotations

from scheduler.db.connector import SQL, Database
from scheduler.db.notify_queries import notice
from scheduler.db.records import Registration


class InstanceQueries:
    _db: Database

    async def ping(self) -> bool:
        """True when the database answers (`scheduler doctor`'s check)."""
        return await self._db.ping()

    async def count_by_status(self) -> dict[str, int]:
        """Videos by status, every status present (0 when none): the metrics' queue depth."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["count_by_status"])
        return {r["status"]: r["videos"] for r in rows}

    async def beat_instance(self, instance: Registration, ttl_s: float) -> None:
        """Registers the instance, or renews its registration for another ttl_s."""
        async with self._db.transaction() as conn:
            await conn.execute(
                SQL["beat_instance"],
                instance.id,
                instance.host,
                instance.pid,
                instance.version,
                instance.workers,
                ttl_s,
            )
            await conn.execute(SQL["forget_instances"])
            for dead in await conn.fetch(SQL["tell_dead_instances"]):
                last = dead["heartbeat_at"].isoformat(timespec="seconds")
                await notice(conn, "instance", f"instance {dead['id']} died (last heartbeat {last})")

    async def stop_instance(self, instance_id: str) -> None:
        async with self._db.connection() as conn:
            await conn.execute(SQL["stop_instance"], instance_id)

    async def add_site_event_daily(self, message: str) -> bool:
        """Records a standing site event (cookies about to expire) at most once a day, and
        tells it; whether it was recorded now."""
        async with self._db.transaction() as conn:
            if await conn.fetchval(SQL["add_site_event_daily"], message) is None:
                return False
            await notice(conn, "cookies", message)
        return True
