"""Site breakers' statements (scheduler/sites/breaker.py, migrations/0008): which sites are
tripped, the one probe to each, and opening and closing a breaker."""

from __future__ import annotations

from scheduler.db.connector import SQL, Connection, Database
from scheduler.db.notify_queries import notice
from scheduler.db.records import TrippedBreaker


class BreakerQueries:
    _db: Database
    owner: str  # the instance's id: a change to leased work is accepted from its owner only

    async def tripped_breakers(self) -> list[TrippedBreaker]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(SQL["tripped_breakers"])
        return [TrippedBreaker(**r) for r in rows]

    async def site_served(self, site: str) -> bool:
        async with self._db.connection() as conn:
            return bool(await conn.fetchval(SQL["site_served"], site))

    async def mark_served(self, site: str) -> None:
        async with self._db.connection() as conn:
            await conn.execute(SQL["mark_served"], site)

    async def take_probe(self, site: str, holder: str, probe_s: float) -> bool:
        """True when `holder` is the one request to the tripped site."""
        async with self._db.connection() as conn:
            return await conn.fetchval(SQL["take_probe"], site, holder, probe_s) is not None

    async def close_breaker(self, site: str, holder: str) -> bool:
        """The probe `holder` got through: the breaker closes, with an event."""
        async with self._db.transaction() as conn:
            if await conn.fetchrow(SQL["close_breaker"], site, holder) is None:
                return False
            message = f"site {site}: breaker closed: the probe got through"
            await conn.execute(SQL["add_site_event"], message)
            await notice(conn, "breaker", message)
            await conn.execute(SQL["notify_work"])
        return True

    async def give_probe_back(self, site: str, holder: str) -> None:
        """The probe never reached the site (shutdown, already in the Video Service): another may go."""
        async with self._db.connection() as conn:
            await conn.execute(SQL["give_probe_back"], site, holder)


async def trip(conn: Connection, site: str, reason: str, min_s: float, max_s: float) -> float:
    """Opens the site's breaker, with an event, or finds it open: the seconds until its probe."""
    opened = await conn.fetchrow(SQL["open_breaker"], site, reason, min_s, max_s)
    if opened is None:  # open already
        return float(await conn.fetchval(SQL["breaker_probe_in_s"], site))
    again = " again" if opened["openings"] > 1 else ""
    message = f"site {site}: breaker opened{again} ({reason}); probing in {opened['probe_in_s']:.0f}s"
    await conn.execute(SQL["add_site_event"], message)
    await notice(conn, "breaker", message)
    return float(opened["probe_in_s"])
