"""How long the Prometheus collector takes on a 30-minute window of 50 pods sampled every 10 s.

    python scripts/prometheus_speed.py [--pods 50] [--minutes 30] [--spacing 10] [--repeats 7]

Plants the pods' cAdvisor series (working set and CPU counter, job=kubelet,
metrics_path=/metrics/cadvisor) with promtool backfill into a Debian prometheus on a free
loopback port (default flags), then collects the window --repeats times over one HTTP session
and prints the median, min and max wall time with the samples read and the samples inside the
window. Run from the repository root (it uses the tests' Prometheus helpers). The issue's budget
is 2 s for the default shape.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrain_bench.measure.prometheus import MARGIN_S, PrometheusCollector, PrometheusSettings, Scope, Window  # noqa: E402
from tests.prometheus import MIB, T0, container, running_prometheus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--spacing", type=float, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    window_s = args.minutes * 60
    # data over the margins too, as a live cluster has it
    times = [-MARGIN_S + k * args.spacing for k in range(int((window_s + 2 * MARGIN_S) / args.spacing) + 1)]
    series = [
        one
        for i in range(args.pods)
        for one in container(
            "speed", f"run-p{i}-0", "main", times=times, cpu=lambda t: 0.25 * (t + MARGIN_S),
            memory=lambda t, i=i: (100 + i + (t % 60 == 0)) * MIB, origin=T0 + MARGIN_S,
        )
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir, running_prometheus(Path(workdir), series) as url:
        window = Window(T0 + MARGIN_S, T0 + MARGIN_S + window_s)
        scope = Scope.for_run(["speed"], "run")
        timings = []
        with PrometheusCollector(PrometheusSettings(url)) as collector:
            for _ in range(args.repeats):
                began = time.perf_counter()
                stats = collector.collect(window, scope)
                timings.append(time.perf_counter() - began)
    read = sum(stats.details["points_read"].values())
    print(f"{args.pods} pods, {args.minutes:g} min window, {args.spacing:g} s spacing, {args.repeats} repeats")
    print(f"collect: median {statistics.median(timings):.3f} s, min {min(timings):.3f} s, max {max(timings):.3f} s")
    chunks = stats.details["chunks"]
    print(f"samples read {read} (window ± {MARGIN_S:g} s), inside the window {stats.samples}, chunks {chunks}")
    print(f"memory peak {stats.memory_peak_gib:.4f} GiB, cpu_seconds {stats.cpu_seconds:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
