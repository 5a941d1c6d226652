"""The one catalogue of what a benchmark measures: metric keys, scopes, units, display order; and how to print them.

A metric is a dotted key that names the same thing in ``summary`` and in every round: ``total_s``
is ``rounds[i].total_s`` and ``summary["total_s"]``; ``resources.platform.cpu_avg_mcpu`` is
``rounds[i].resources.platform.cpu_avg_mcpu`` and ``summary["resources.platform.cpu_avg_mcpu"]``.
Comparison and report read the per-round values through the read model
(``retrain_bench.results.model``; the summary is derived from them) so that a t-test sees the same
numbers the summary was computed from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from retrain_bench.measure.stats import FIGURES, SCOPES

# Sample is the value type of one metric's rounds, defined with the model it is read from.
from retrain_bench.results.model import Benchmark
from retrain_bench.results.model import Sample as Sample

#: Phase timings, in seconds.
TIME_KEYS = ("total_s", "retrain_tune_s", "queue_s", "startup_s")
#: The registry step's time (--registry), only in runs whose rounds ran it; kept out of TIME_KEYS, which
#: every run's thresholds and messages list.
REGISTRY_KEY = "register_s"
#: The phases in display order.
PHASE_ORDER = ("total_s", "retrain_tune_s", REGISTRY_KEY, "queue_s", "startup_s")
#: The study's "total" is the widest scope that is not the whole node; widest first.
TOTAL_SCOPES = ("platform", "execution", "process_tree")
#: What the pipeline computed; equal on both sides unless the workload or the ML code changed.
OUTPUT_KEYS = ("accuracy.initial", "accuracy.drifted", "accuracy.final", "drift_detected", "best_c")
SUCCESS_RATE = "success_rate"
#: Shown, not gating by default: SDK import time sits outside the timed pipeline and follows the page
#: cache (docs/methodology.md); the ``node`` scope is the whole machine, not what the round used.
INFORMATIONAL = frozenset({"startup_s"})
INFORMATIONAL_SCOPES = frozenset({"node"})
#: Dollars per run (src/retrain_bench/measure/cost.py): ``cost.usage.<scope>_usd`` and ``cost.allocation_usd``.
COST_NAMES = ("usage_usd", "allocation_usd")

UNITS = {
    "total_s": "s",
    "retrain_tune_s": "s",
    "queue_s": "s",
    "startup_s": "s",
    REGISTRY_KEY: "s",
    "memory_peak_gib": "GiB",
    "memory_avg_gib": "GiB",
    "cpu_seconds": "CPU-s",
    "cpu_avg_mcpu": "mCPU",
    "cpu_peak_mcpu": "mCPU",
    "usage_usd": "USD",
    "allocation_usd": "USD",
}


@dataclasses.dataclass(frozen=True)
class Metric:
    """One comparable number: ``name`` is a time key or a resource figure; ``scope`` only for figures."""

    key: str
    name: str
    scope: str | None

    @property
    def unit(self) -> str:
        return UNITS[self.name]


def resource_key(scope: str, figure: str) -> str:
    return f"resources.{scope}.{figure}"


def parse_metric(key: str) -> Metric | None:
    """The metric a summary key names, or None for keys this release does not compare."""
    if key in TIME_KEYS or key == REGISTRY_KEY:
        return Metric(key, key, None)
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "resources" and parts[1] in SCOPES and parts[2] in FIGURES:
        return Metric(key, parts[2], parts[1])
    if key == "cost.allocation_usd":
        return Metric(key, "allocation_usd", None)
    if len(parts) == 3 and parts[:2] == ["cost", "usage"] and parts[2].removesuffix("_usd") in SCOPES:
        return Metric(key, "usage_usd", parts[2].removesuffix("_usd"))
    return None


def metric_order(metric: Metric) -> tuple[int, int, int]:
    """Times first (in TIME_KEYS order), then resources by scope, then figure, then costs."""
    if metric.name in COST_NAMES:
        return (2, SCOPES.index(metric.scope) if metric.scope else len(SCOPES), 0)
    if metric.scope is None:
        return (0, PHASE_ORDER.index(metric.name), 0)
    return (1, SCOPES.index(metric.scope), FIGURES.index(metric.name))


def metrics_of(benchmark: Benchmark | Mapping[str, Any]) -> tuple[Metric, ...]:
    """The comparable metrics a benchmark's summary lists, in display order."""
    keys = benchmark.summary_keys if isinstance(benchmark, Benchmark) else tuple(benchmark.get("summary", {}))
    found = (parse_metric(key) for key in keys)
    return tuple(sorted((m for m in found if m is not None), key=metric_order))


def is_informational(metric: Metric) -> bool:
    """Shown by compare but not gating unless ``--gate-metric`` names it."""
    return metric.key in INFORMATIONAL or metric.name in INFORMATIONAL or metric.scope in INFORMATIONAL_SCOPES


# For callers that still hold a raw benchmark record (output/export.py); the rest read the model.


def source_of(record: Mapping[str, Any], scope: str) -> str | None:
    return Benchmark.of(record).source_of(scope)


def success_counts(record: Mapping[str, Any]) -> tuple[int, int]:
    """(ok, measured) rounds."""
    return Benchmark.of(record).success_counts()


def format_number(value: float | None) -> str:
    """Four significant digits, without exponent notation for everyday magnitudes."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    if abs(value) >= 10_000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def format_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_values(values: Iterable[Any]) -> str:
    shown = [format_value(v) for v in values]
    return ", ".join(shown) if shown else "none"


def mean_std(sample: Sample) -> str:
    """``mean ± std (n=…)``; the std is n/a for one value (a sample stddev needs two)."""
    if sample.mean is None:
        return "n/a"
    return f"{format_number(sample.mean)} ± {format_number(sample.stddev)} (n={sample.n})"


def format_pct(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{fraction * 100:.4g}%"
