"""The queues benchmark at a tiny scale, so it cannot rot. No timing is asserted: only that
both designs ran every part, claimed without double claims, and shared the claims fairly."""

from __future__ import annotations

from benchmarks import queues
from benchmarks.harness import Environment


def test_both_designs_subscribe_claim_and_list_and_share_the_claims_by_weight(bench_env: Environment) -> None:
    scale = queues.scale_of(bench_env)

    baseline, ours = queues.run_sides(bench_env, scale)

    for side, changes in ((baseline, scale.baseline_changes), (ours, scale.changes)):
        assert len(side.subscribe_ms) == len(side.unsubscribe_ms) == changes
        assert side.claimed and side.double_claims == 0
        assert side.fairness is not None and side.fairness.categories > 0
    assert len(ours.list_ms) == scale.list_calls
    # Stride queues share the claims as the per-video keys did: by weight, category by category
    # (four pollers taking batches at once may put a category a few claims off its share).
    assert ours.fairness is not None and ours.fairness.within >= 0.9 * ours.fairness.categories
    table = queues.result(scale, baseline, ours).table()
    assert "| subscribe p99 (ms) |" in table and "| claim p99 (ms) |" in table
    assert "| ListCategories, 1,000 categories, p99 (ms) |" in table
