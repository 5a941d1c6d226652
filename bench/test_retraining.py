"""The benchmark: the retraining pipeline on every selected platform x case.

Parametrised by the plugin from --platform and --case; the rounds themselves run interleaved
across platforms (see src/retrain_bench/harness/session.py) and are replayed here into pytest-benchmark.
"""

from __future__ import annotations

from typing import Any

import pytest

from retrain_bench.pytest_plugin.session import PytestBenchSession


def test_retraining(benchmark: Any, retrain_bench: PytestBenchSession, bench_platform: str, bench_case: str) -> None:
    record = retrain_bench.measure(benchmark, bench_platform, bench_case)
    floor = retrain_bench.options.min_success_rate
    rate = record["success_rate"]
    if rate is None or rate < floor:
        errors = [r["error"] for r in record["rounds"] if not r["ok"] and not r["warmup"]]
        first = errors[0].splitlines()[0] if errors else "none recorded"
        shown = "n/a" if rate is None else f"{rate:.0%}"
        pytest.fail(
            f"{bench_platform}/{bench_case}: success rate {shown} is below --min-success-rate {floor:.0%}; "
            f"first error: {first}",
            pytrace=False,
        )
