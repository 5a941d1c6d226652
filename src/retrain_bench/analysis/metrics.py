"""What a benchmark record measures: the metric catalogue and how to read one metric out of a record.

A metric is a dotted key that names the same thing in ``summary`` and in every round: ``total_s``
is ``rounds[i].total_s`` and ``summary["total_s"]``; ``resources.platform.cpu_avg_mcpu`` is
``rounds[i].resources.platform.cpu_avg_mcpu`` and ``summary["resources.platform.cpu_avg_mcpu"]``.
Comparison and report read the per-round values (the summary is derived from them) so that a
t-test sees the same numbers the summary was computed from.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from retrain_bench.measure.stats import FIGURES, SCOPES
from retrain_bench.results.contract import counted_rounds, measured_rounds

#: Phase timings, in seconds.
TIME_KEYS = ("total_s", "retrain_tune_s", "queue_s", "startup_s")
#: The study's "total" is the widest scope that is not the whole node; widest first.
TOTAL_SCOPES = ("platform", "execution", "process_tree")
#: What the pipeline computed; equal on both sides unless the workload or the ML code changed.
OUTPUT_KEYS = ("accuracy.initial", "accuracy.drifted", "accuracy.final", "drift_detected", "best_c")
SUCCESS_RATE = "success_rate"
#: Dollars per run (src/retrain_bench/measure/cost.py): ``cost.usage.<scope>_usd`` and ``cost.allocation_usd``.
COST_NAMES = ("usage_usd", "allocation_usd")

UNITS = {
    "total_s": "s",
    "retrain_tune_s": "s",
    "queue_s": "s",
    "startup_s": "s",
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
    if key in TIME_KEYS:
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
        return (0, TIME_KEYS.index(metric.name), 0)
    return (1, SCOPES.index(metric.scope), FIGURES.index(metric.name))


def metrics_of(record: Mapping[str, Any]) -> tuple[Metric, ...]:
    """The comparable metrics a record's summary lists, in display order."""
    found = (parse_metric(key) for key in record.get("summary", {}))
    return tuple(sorted((m for m in found if m is not None), key=metric_order))


def dotted(mapping: Any, key: str) -> Any:
    value = mapping
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def round_values(record: Mapping[str, Any], key: str) -> tuple[float, ...]:
    values = (dotted(r, key) for r in counted_rounds(record))
    return tuple(float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool))


@dataclasses.dataclass(frozen=True)
class Sample:
    """The counted rounds' values of one metric: n, mean and sample standard deviation (n-1)."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def stddev(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def zero_variance(self) -> bool:
        return len(self.values) > 1 and all(v == self.values[0] for v in self.values)

    @classmethod
    def of(cls, record: Mapping[str, Any], key: str) -> Sample:
        return cls(round_values(record, key))


def missing_reason(record: Mapping[str, Any], key: str) -> str:
    """Why a record has no value for ``key``: the reasons its rounds wrote down, else what we can see."""
    measured = measured_rounds(record)
    counted = counted_rounds(record)
    if not measured:
        return "no measured rounds"
    if not counted:
        first = next((r["error"] for r in measured if r.get("error")), None)
        error = f": {first.splitlines()[0]}" if first else ""
        return f"no ok rounds (0 of {len(measured)}){error}"
    reasons: list[str] = []
    for round_ in counted:
        reason = _round_reason(round_, key)
        if reason and reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons) if reasons else "not recorded by any ok round"


def _round_reason(round_: Mapping[str, Any], key: str) -> str | None:
    missing = round_.get("missing", {})
    parts = key.split(".")
    # The most specific reason wins: "resources.platform.cpu_peak_mcpu", then "resources.platform",
    # then "resources".
    for end in range(len(parts), 0, -1):
        reason = missing.get(".".join(parts[:end]))
        if reason:
            return str(reason)
    if len(parts) == 3 and parts[0] == "resources":
        scope = dotted(round_, f"resources.{parts[1]}")
        if isinstance(scope, Mapping):
            reason = scope.get("missing", {}).get(parts[2])
            if reason:
                return str(reason)
        elif scope is None:
            return f"no {parts[1]} scope in this round"
    return None


def source_of(record: Mapping[str, Any], scope: str) -> str | None:
    """Where a scope's figures come from (``psutil``, ``prometheus``), as the rounds recorded it."""
    for round_ in counted_rounds(record):
        found = dotted(round_, f"resources.{scope}.source")
        if isinstance(found, str):
            return found
    return None


def output_values(record: Mapping[str, Any], key: str) -> tuple[Any, ...]:
    """The distinct values an output took over the counted rounds (None included), in a stable order.

    Floats are rounded to 9 decimals so that the last bits of an accuracy printed by another
    library version do not read as a changed output.
    """
    seen: list[Any] = []
    for round_ in counted_rounds(record):
        value = dotted(round_, key)
        if isinstance(value, float):
            value = round(value, 9)
        if value not in seen:
            seen.append(value)
    return tuple(sorted(seen, key=_value_order))


def _value_order(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    return (2, value)


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


def success_counts(record: Mapping[str, Any]) -> tuple[int, int]:
    """(ok, measured) rounds."""
    measured = measured_rounds(record)
    return sum(1 for r in measured if r["ok"]), len(measured)


def success_cell(record: Mapping[str, Any]) -> str:
    ok, measured = success_counts(record)
    return f"{format_pct(record.get(SUCCESS_RATE))} ({ok}/{measured})"


def figure_of(key: str) -> str:
    return key.rsplit(".", 1)[-1]
