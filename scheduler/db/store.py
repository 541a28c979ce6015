"""The data layer's front door: the pool, opened once per process, with the API's
statements on it and the pipeline's handed out per owner.

Layout of the package: connector.py meets the driver (pool, connections, LISTEN, error
mapping) and loads queries.sql; records.py holds the rows' records; api_queries.py,
listing_queries.py, video_queries.py, breaker_queries.py and instance_queries.py hold the
statements by who runs them; trio_store.py offers the pipeline's to Trio code.
"""

from __future__ import annotations

from scheduler.db.api_queries import ApiQueries
from scheduler.db.connector import Database
from scheduler.db.pipeline_queries import PipelineQueries
from scheduler.db.trio_store import TrioStore


class Store(ApiQueries):
    """The API's statements (asyncio, like the servicers), and the pool they share with
    the pipeline's."""

    @classmethod
    async def open(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 10, statement_timeout_s: float = 30.0
    ) -> Store:
        db = await Database.open(
            dsn, min_size=min_size, max_size=max_size, statement_timeout_s=statement_timeout_s
        )
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    def terminate(self) -> None:
        self._db.terminate()

    def pipeline(self, owner: str) -> PipelineQueries:
        """The statements run on behalf of `owner` (asyncio)."""
        return PipelineQueries(self._db, owner)

    def for_trio(self, owner: str) -> TrioStore:
        """The same, as Trio methods."""
        return TrioStore(self.pipeline(owner))
