"""The benchmarks' code at a tiny scale, so it cannot rot. No timing is asserted."""

from __future__ import annotations

import trio_asyncio

from benchmarks.__main__ import claims_table, write_section
from benchmarks.claims import claim_benchmark


async def test_the_claim_benchmark_runs_both_claims_without_double_claims(postgres_url: str) -> None:
    baseline, ours = await trio_asyncio.aio_as_trio(claim_benchmark)(postgres_url, 300, 10, 2, 16, 5.0)

    assert len(baseline.claimed) == len(ours.claimed) == 300  # both drained the queue
    assert baseline.double_claims == ours.double_claims == 0
    assert ours.retries == 0
    table = claims_table(baseline, ours)
    assert "| claims/s |" in table and "| double claims | 0 | 0 |" in table


def test_a_report_section_is_replaced_in_place() -> None:
    page = "# P\n<!-- bench:claims:start -->\nold\n<!-- bench:claims:end -->\nafter\n"

    updated = write_section(page, "new")

    assert updated == "# P\n<!-- bench:claims:start -->\nnew\n<!-- bench:claims:end -->\nafter\n"
