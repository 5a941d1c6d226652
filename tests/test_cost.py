"""Cost per run: hand-worked dollars for usage and allocation, quantities, prices, and the report's cost table."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.cli.main import main
from retrain_bench.errors import BenchError
from retrain_bench.measure.cost import (
    DEFAULT_PRICES,
    Prices,
    allocation_cost,
    parse_prices,
    round_cost,
    usage_cost,
)
from retrain_bench.measure.quantities import parse_quantity
from retrain_bench.measure.stats import ResourceStats
from retrain_bench.options import parse_options
from retrain_bench.results.contract import validate
from retrain_bench.results.records import benchmark_record
from retrain_bench.results.round import RoundResult
from retrain_bench.workload.cases import CASES
from retrain_bench.workload.outcome import Outcome
from tests import golden

DATA = Path(__file__).parent / "data"
SWEEP = DATA / "report-sweep.json"
FARGATE = Prices(0.04048, 0.004445, "test")


def stats(cpu_s: float | None = 36.0, avg: float | None = 2.0, window: float = 1800.0) -> dict[str, Any]:
    missing = {}
    if cpu_s is None:
        missing["cpu_seconds"] = "no data from Prometheus"
    if avg is None:
        missing["memory_avg_gib"] = "fewer than 2 samples"
    return {"cpu_seconds": cpu_s, "memory_avg_gib": avg, "window_s": window, "missing": missing}


def test_usage_is_cpu_time_plus_memory_over_the_window() -> None:
    # 36 CPU-s = 0.01 vCPU-hours × $0.04048 = $0.0004048;
    # 2 GiB × 1800 s = 1 GiB-hour × $0.004445 = $0.004445; together $0.0048498.
    assert usage_cost(stats(), FARGATE) == (pytest.approx(0.0048498, abs=1e-12), None)


@pytest.mark.parametrize(
    ("figures", "reason"),
    [
        (stats(cpu_s=None), "no usage cost: cpu_seconds: no data from Prometheus"),
        (stats(avg=None), "no usage cost: memory_avg_gib: fewer than 2 samples"),
    ],
)
def test_missing_figures_give_a_null_cost_with_the_reason(figures: dict[str, Any], reason: str) -> None:
    assert usage_cost(figures, FARGATE) == (None, reason)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("500m", 0.5),
        ("1", 1.0),
        ("2.5", 2.5),
        (2, 2.0),
        ("1Gi", 2.0**30),
        ("512Mi", 2.0**29),
        ("1.5Gi", 1.5 * 2**30),
        ("1G", 1e9),
        ("128974848", 128974848.0),
        ("1e3", 1000.0),
        ("100k", 1e5),
    ],
)
def test_kubernetes_quantities(raw: Any, value: float) -> None:
    assert parse_quantity(raw) == pytest.approx(value)


@pytest.mark.parametrize("raw", ["1GB", "one", "", "-1", "1 Gi"])
def test_bad_quantities_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(raw)


MANIFESTS = {
    "cluster": {
        "manifests": {"flyte": {"control_plane_requests": {"cpu": 0.5, "memory_gib": 2.0}}},
    }
}


def cluster_round(**change: Any) -> dict[str, Any]:
    held = {"cpu_core_seconds": 360.0, "memory_gib_seconds": 360.0, "pods_counted": 6, "pods_not_counted": []}
    return {"ok": True, "total_s": 720.0, "tasks": {"allocated": held}, "resources": {}, **change}


def test_allocation_is_the_pods_requests_over_their_durations_plus_the_control_plane_over_the_round() -> None:
    # pods: 360 core-s × $0.04048/3600 + 360 GiB-s × $0.004445/3600 = $0.004048 + $0.0004445 = $0.0044925
    # control plane: (0.5 × $0.04048 + 2 × $0.004445) × 720 s / 3600 = $0.02913 × 0.2 = $0.005826
    dollars, why = allocation_cost(cluster_round(), "flyte", "cluster", MANIFESTS, FARGATE)
    assert why is None
    assert dollars == pytest.approx(0.0103185, abs=1e-12)


NO_REQUESTS = {"cpu_core_seconds": None, "memory_gib_seconds": None, "pods_counted": 0, "pods_not_counted": ["p"]}


@pytest.mark.parametrize(
    ("round_", "platform", "target", "run_level", "reason"),
    [
        (cluster_round(), "flyte", "local", MANIFESTS, "not_applicable: local target, nothing is allocated"),
        (cluster_round(), "flyte", "cluster", {}, "no control-plane requests for flyte"),
        (cluster_round(tasks={}), "flyte", "cluster", MANIFESTS, "no pod of this round stated requests"),
        (cluster_round(tasks={"allocated": NO_REQUESTS}), "flyte", "cluster", MANIFESTS, "no pod of this round"),
        (cluster_round(), "kfp", "cluster", MANIFESTS, "no control-plane requests for kfp"),
        (cluster_round(ok=False), "flyte", "cluster", MANIFESTS, "round failed"),
        (cluster_round(total_s=None), "flyte", "cluster", MANIFESTS, "no total_s in this round"),
    ],
)
def test_allocation_is_null_with_a_reason(
    round_: dict[str, Any], platform: str, target: str, run_level: dict[str, Any], reason: str
) -> None:
    dollars, why = allocation_cost(round_, platform, target, run_level, FARGATE)
    assert dollars is None and why is not None and why.startswith(reason)


def test_round_cost_has_one_usage_per_scope_and_the_reasons() -> None:
    round_ = cluster_round(resources={"execution": stats(), "platform": stats(cpu_s=None)})
    cost, missing = round_cost(round_, "flyte", "cluster", MANIFESTS, FARGATE)
    assert cost == {
        "usage": {"execution_usd": pytest.approx(0.0048498), "platform_usd": None},
        "allocation_usd": pytest.approx(0.0103185),
    }
    assert missing == {"cost.usage.platform_usd": "no usage cost: cpu_seconds: no data from Prometheus"}


def test_prices_are_validated_and_say_where_they_come_from() -> None:
    assert parse_prices() == DEFAULT_PRICES
    assert DEFAULT_PRICES.vcpu_hour == 0.04048 and DEFAULT_PRICES.gib_hour == 0.004445
    assert parse_prices("0.05", "0") == Prices(0.05, 0.0, "given on the command line")
    assert (
        parse_prices(None, "0.01").source == f"GiB price given on the command line, the other: {DEFAULT_PRICES.source}"
    )
    with pytest.raises(BenchError, match=r"^--price-vcpu-hour: 'abc' is not a number; give dollars"):
        parse_prices("abc", None)
    with pytest.raises(BenchError, match=r"^--price-gib-hour: '-1' must be a finite number ≥ 0 \(dollars\)$"):
        parse_prices(None, "-1")
    with pytest.raises(BenchError, match="--price-vcpu-hour: 'inf'"):
        parse_prices("inf", None)


def test_options_record_the_prices_at_run_level() -> None:
    common: dict[str, Any] = {
        "platform": None, "case": None, "rounds": 1, "warmup": 0, "target": "local", "run_timeout": 60,
        "min_success_rate": 1.0,
    }  # fmt: skip
    options = parse_options(**common, price_vcpu_hour="0.1", price_gib_hour="0.01")
    assert options.as_dict()["prices"] == {"vcpu_hour": 0.1, "gib_hour": 0.01, "source": "given on the command line"}
    assert parse_options(**common).as_dict()["prices"] == DEFAULT_PRICES.as_dict()


def test_round_records_carry_their_cost_and_the_summary_describes_it() -> None:
    figures = ResourceStats(
        scope="process_tree", source="psutil", window_s=1800.0, samples=10, memory_peak_gib=3.0, memory_avg_gib=2.0,
        cpu_seconds=36.0, cpu_avg_mcpu=20.0, cpu_peak_mcpu=50.0, cpu_peak_window_s=1.0,
    )  # fmt: skip
    result = RoundResult(
        platform="bare", case="base", index=0, warmup=False, ok=True, error=None, total_s=1800.0, startup_s=0.5,
        queue_s=0.0, retrain_tune_s=1.0, outcome=Outcome(0.9, 0.6, True, 0.85, 1.0), task_counts={}, units=1,
        log=Path("x.log"), resources={"process_tree": figures},
    )  # fmt: skip
    record = benchmark_record("bare", "local", CASES["base"], [result], FARGATE)
    (round_,) = record["rounds"]
    # the same arithmetic as test_usage_is_cpu_time_plus_memory_over_the_window: $0.0048498
    assert round_["cost"] == {"usage": {"process_tree_usd": pytest.approx(0.0048498)}, "allocation_usd": None}
    assert round_["missing"]["cost.allocation_usd"].startswith("not_applicable: local target")
    assert record["summary"]["cost.usage.process_tree_usd"]["mean"] == pytest.approx(0.0048498)
    assert record["summary"]["cost.allocation_usd"]["n"] == 0
    document = golden.document("local", [record], commit="8" * 40, when="2026-11-08T10:00:00+00:00")
    validate(document)


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_reprices_a_saved_run(capsys: pytest.CaptureFixture[str]) -> None:
    # $3600 per vCPU-hour = $1 per CPU-second; $7200 per GiB-hour × 0.5 GiB = $1 per second of window.
    # Each golden sweep round has cpu_seconds = t / 2 over a window of t: cost = t / 2 + t = 1.5 t.
    # base (x = 1): Flyte t = 6.1 → $9.15; Kubeflow t = 2.4, 2.5, 2.6 → 3.6, 3.75, 3.9 = 3.75 ± 0.15;
    # Bare t = 1.1 → $1.65.
    code, out, _ = report(capsys, str(SWEEP), "--price-vcpu-hour", "3600", "--price-gib-hour", "7200")
    assert code == 0
    section = out.split("## base (target local, case hash dc1daecf77ee)\n\n")[1].split("\n## ")[0].splitlines()
    start = section.index(
        "| Cost per run | Flyte (Mean ± Std Dev) | Kubeflow (Mean ± Std Dev) | Bare Python (Mean ± Std Dev) |"
    )
    assert section[start + 1 :] == [
        "|---|---|---|---|",
        "| Usage cost (USD) [process_tree scope] | 9.15 ± 0 (n=3) | 3.75 ± 0.15 (n=3) | 1.65 ± 0 (n=3) |",
        "| Allocation cost (USD) | n/a [1] | n/a [1] | n/a [1] |",
        "- [1] not_applicable: local target, nothing is allocated (no pods, no requests) "
        "(Flyte, Kubeflow, Bare Python)",
        "",
        "Prices: $3600 per vCPU-hour, $7200 per GiB-hour (given on the command line).",
        section[start + 7],
    ]
    assert section[start + 7].startswith("Usage = $/vCPU-hour × cpu_seconds / 3600 + $/GiB-hour × memory_avg_gib")


def test_no_cost_table_without_prices_recorded_or_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert "Cost per run" not in report(capsys, str(SWEEP))[1]


def test_recorded_prices_are_used_and_must_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(SWEEP.read_text())
    document["retrain_bench"]["options"]["prices"] = {"vcpu_hour": 3600.0, "gib_hour": 0.0, "source": "a test"}
    first = tmp_path / "a.json"
    first.write_text(json.dumps(document))
    out = report(capsys, str(first))[1]
    # cpu_seconds only: Flyte base 6.1 / 2 = $3.05
    assert "| Usage cost (USD) [process_tree scope] | 3.05 ± 0 (n=3) | 1.25 ± 0.05 (n=3) | 0.55 ± 0 (n=3) |" in out
    assert "Prices: $3600 per vCPU-hour, $0 per GiB-hour (a test)." in out
    other = json.loads(json.dumps(document))
    other["retrain_bench"]["options"]["prices"]["vcpu_hour"] = 1.0
    other["benchmarks"] = [b for b in other["benchmarks"] if b["extra_info"]["retrain_bench"]["platform"] == "kfp"]
    document["benchmarks"] = [b for b in document["benchmarks"] if b not in other["benchmarks"]]
    first.write_text(json.dumps(document))
    second = tmp_path / "b.json"
    second.write_text(json.dumps(other))
    code, out, err = report(capsys, str(first), str(second))
    assert (code, out) == (2, "")
    assert err == (
        "retrain-bench: error: the runs were priced differently; pass --price-vcpu-hour and --price-gib-hour "
        "to price them alike\n"
    )


def test_a_bad_price_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert report(capsys, str(SWEEP), "--price-gib-hour", "-0.1") == (
        2,
        "",
        "retrain-bench: error: --price-gib-hour: '-0.1' must be a finite number ≥ 0 (dollars)\n",
    )


def test_prices_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_PRICES.vcpu_hour = 0.0  # type: ignore[misc]


def test_compare_reprices_both_sides_alike(capsys: pytest.CaptureFixture[str]) -> None:
    # $3600 per vCPU-hour = $1 per CPU-second, memory free: usage = cpu_seconds in dollars.
    # bare/base: 4 CPU-s → 3.6 CPU-s, $4 → $3.6 = −10 %, inside the 15 % threshold: unchanged.
    # kfp/base: 10 CPU-s both sides; one current round failed (5 vs 4 rounds).
    code = main(
        ["compare", str(DATA / "compare-baseline.json"), str(DATA / "compare-current.json"), "--format", "text"]
        + ["--price-vcpu-hour", "3600", "--price-gib-hour", "0"]
    )
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines() if "cost." in line]
    assert code == 1  # the golden regressions of compare-current.json, not the cost
    assert lines == [
        "flyte/base (local, dc1daecf77ee) cost.usage.process_tree_usd 6 ± 0 (n=5) 6 ± 0 (n=5) +0.0% 15% exact exact "
        "unchanged zero variance on both sides: exact",
        "kfp/base (local, dc1daecf77ee) cost.usage.process_tree_usd 10 ± 0 (n=5) 10 ± 0 (n=4) +0.0% 15% - - "
        "unchanged fewer than 5 ok rounds (5 vs 4): threshold alone",
        "bare/base (local, dc1daecf77ee) cost.usage.process_tree_usd 4 ± 0 (n=5) 3.6 ± 0 (n=5) -10.0% 15% exact exact "
        "unchanged zero variance on both sides: exact",
        "flyte/tuning (local, ecea38f63cd3) cost.usage.process_tree_usd 15 ± 0 (n=5) 15 ± 0 (n=5) +0.0% 15% exact "
        "exact unchanged zero variance on both sides: exact",
    ]
