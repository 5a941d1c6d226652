"""The round engine's rewrite (one ``run_round`` for every target) changed no local result.

``data/engine/local-smoke-before.json`` is a local run (``--platform=bare,flyte --case=smoke --rounds=2
--warmup=1``) made with the code before the engine (commit bd886c3, two engines). A run of the same
options now must have the same keys everywhere and the same value in every field that is not a
measurement of time, memory or CPU: the outcomes, task counts, execution units, missing reasons,
summaries' round counts, options, notes and case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import BenchRun

BEFORE = Path(__file__).parent / "data" / "engine" / "local-smoke-before.json"
#: leaves that measure this run's time, memory or CPU (or the machine): their values differ run to run
MEASURED = {
    "total_s", "queue_s", "retrain_tune_s", "startup_s", "window_s", "samples", "memory_peak_gib",
    "memory_avg_gib", "cpu_seconds", "cpu_avg_mcpu", "cpu_peak_mcpu", "memory_baseline_gib",
    "memory_rss_peak_gib", "process_tree_usd", "cpu_peak_window_s", "mean", "stddev", "min", "median", "max",
}  # fmt: skip
#: whole subtrees about the machine, the date or pytest-benchmark's own timing
NOT_COMPARED = {"machine_info", "commit_info", "datetime", "version", "stats", "fullname", "versions"}


def differences(before: Any, now: Any, path: str = "") -> list[str]:
    """Where ``now`` differs from ``before`` in keys, list lengths or non-measured values."""
    if isinstance(before, dict) and isinstance(now, dict):
        found = []
        if set(before) != set(now):
            found.append(f"{path}: keys {sorted(set(before) ^ set(now))} differ")
        for key in sorted(set(before) & set(now)):
            if key in NOT_COMPARED:
                continue
            if key in MEASURED or key.startswith("resources.") or key.startswith("cost."):
                found += differences_in_kind(before[key], now[key], f"{path}.{key}")
                continue
            found += differences(before[key], now[key], f"{path}.{key}")
        return found
    if isinstance(before, list) and isinstance(now, list):
        if len(before) != len(now):
            return [f"{path}: {len(before)} items before, {len(now)} now"]
        return [d for k, (b, n) in enumerate(zip(before, now, strict=True)) for d in differences(b, n, f"{path}[{k}]")]
    return [] if before == now else [f"{path}: {before!r} before, {now!r} now"]


def differences_in_kind(before: Any, now: Any, path: str) -> list[str]:
    """A measured value: only its shape must be kept (a dict's keys; null stays null)."""
    if isinstance(before, dict) and isinstance(now, dict):
        if set(before) != set(now):
            return [f"{path}: keys {sorted(set(before) ^ set(now))} differ"]
        return [d for key in before for d in differences_in_kind(before[key], now[key], f"{path}.{key}")]
    if (before is None) != (now is None):
        return [f"{path}: {before!r} before, {now!r} now"]
    return []


def test_the_differences_reader_finds_a_changed_outcome_and_a_lost_key() -> None:
    before = {"rounds": [{"total_s": 1.0, "best_c": 0.1, "missing": {"a": "x"}}]}
    assert differences(before, {"rounds": [{"total_s": 2.0, "best_c": 0.1, "missing": {"a": "x"}}]}) == []
    assert differences(before, {"rounds": [{"total_s": 1.0, "best_c": 1.0, "missing": {"a": "x"}}]}) == [
        ".rounds[0].best_c: 0.1 before, 1.0 now"
    ]
    assert differences(before, {"rounds": [{"total_s": 1.0, "best_c": 0.1, "missing": {}}]}) == [
        ".rounds[0].missing: keys ['a'] differ"
    ]
    assert differences(before, {"rounds": [{"total_s": None, "best_c": 0.1, "missing": {"a": "x"}}]}) == [
        ".rounds[0].total_s: 1.0 before, None now"
    ]


def test_a_local_smoke_run_is_what_it_was_before_the_engine(bench_run: BenchRun) -> None:
    result, document = bench_run.run("--platform=bare,flyte", "--case=smoke", "--rounds=2", "--warmup=1")
    assert result.ret == 0, result.stdout.str()
    assert document is not None
    before = json.loads(BEFORE.read_text())
    assert differences(before, document) == []
