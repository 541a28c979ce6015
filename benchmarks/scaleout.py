"""Scale-out: two `scheduler serve` instances on one database against one instance.

Downloads are the bottleneck, as they are against a real site: the content site caps
every video response at a fixed rate (tests/content_site.py `set_rate`, per connection,
as sites that throttle each connection do), so a download takes about size / rate
whatever the machine does meanwhile. One instance, then two (the same downloader
workers each), deliver the same kind of feed from a fresh scratch database each into
one directory sink, timed from the subscription until every video is done
(benchmarks/delivery.py `deliver`). Duplicates are counted from every side: the site's
whole-body sends per video, the instances' delivered-video log lines, previous_downloads
and the sink.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.delivery import Delivery, deliver, feed
from benchmarks.harness import Environment, Result, Row, percentile, ratio


def duplicates(delivery: Delivery, fetched: dict[str, int]) -> int:
    """Videos downloaded from the site, or delivered, more than once."""
    delivered = delivery.deliveries()
    return sum(fetched.get(v, 0) > 1 or delivered[v] > 1 for v in set(fetched) | set(delivered))


@dataclass(frozen=True)
class Side:
    delivery: Delivery
    duplicates: int
    problems: list[str]  # Delivery.problems: empty when every video arrived exactly once

    def overhead(self) -> str:
        overhead = [p["overhead"] * 1000 for p in self.delivery.phases]
        return f"{percentile(overhead, 50):.1f} / {percentile(overhead, 95):.1f}"

    def once(self, count: int) -> str:
        return f"{len(self.delivery.sink)}/{count}" + "".join(f"; {problem}" for problem in self.problems)


def _side(env: Environment, instances: int, count: int, size: int, rate: float, workers: int) -> Side:
    """`instances` deliver a feed of their own (new ids, a new site), so nothing carries over."""
    with feed(count, size, rate) as served:
        delivery = deliver(
            env, served, env.work / f"scaleout-{instances}", instances, workers, env.pick(60, 120, 600)
        )
        return Side(delivery, duplicates(delivery, served.whole_fetches()), delivery.problems(served))


def run(env: Environment) -> Result:
    # Downloads of 0.5 s, 1.5 s and 1 s: many times the service's own time per video.
    count = int(env.pick(12, 40, 400))
    size = int(env.pick(50_000, 384_000, 1_000_000))
    rate = env.pick(100_000, 256_000, 1_000_000)  # bytes/s per download
    workers = int(env.pick(3, 4, 7))
    one, two = (_side(env, instances, count, size, rate, workers) for instances in (1, 2))
    speed_one, speed_two = count / one.delivery.elapsed_s, count / two.delivery.elapsed_s
    scaled = ratio(speed_one, speed_two)
    return Result(
        key="scaleout",
        title="Scale-out",
        setup=(
            f"{count} videos x {size / 1e6:g} MB, each download capped at {rate / 1e6:g} MB/s by the site; "
            f"1 instance, then 2 instances on one database, {workers} downloader workers each, "
            "each from a fresh scratch database, timed from the subscription until every video is done."
        ),
        rows=[
            Row(
                "videos/s (baseline: 1 instance; ours: 2)",
                f"{speed_one:.2f}",
                f"{speed_two:.2f}",
                scaled,
                ">= 1.7x",
                scaled >= 1.7,
            ),
            Row(
                "ideal videos/s (workers x rate / size)",
                f"{workers * rate / size:.2f}",
                f"{2 * workers * rate / size:.2f}",
            ),
            Row("service overhead per video, p50 / p95 (ms)", one.overhead(), two.overhead()),
            Row(
                "videos delivered by each instance",
                str(count),
                " + ".join(str(len(ids)) for ids in two.delivery.delivered),
            ),
            Row(
                "duplicates (fetched or delivered twice)",
                str(one.duplicates),
                str(two.duplicates),
                None,
                "0",
                one.duplicates == two.duplicates == 0,
            ),
            Row(
                "delivered exactly once (sink, previous_downloads, logs)",
                one.once(count),
                two.once(count),
                None,
                f"{count}/{count}",
                not one.problems and not two.problems,
            ),
        ],
    )
