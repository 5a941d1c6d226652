"""Our numbers in the formats of two continuous-benchmarking services, resources included.

- ``github-action-benchmark``: its custom tools' input, a JSON list of ``{name, unit, value,
  range, extra}`` (``range`` and ``extra`` free text; src/extract.ts ``extractCustomBenchmarkResult``).
  The direction belongs to the tool, not to an entry: ``customSmallerIsBetter`` alerts when a value
  grows, ``customBiggerIsBetter`` when it shrinks. So one file per direction: ``smaller`` holds the
  times, resources, costs and the failure rate, ``bigger`` the accuracies, the success rate and the
  concurrency throughput, and every entry's name ends in its direction. Its own ``pytest`` tool
  reads only ``stats.ops`` of our raw JSON (one over the mean total_s) and ignores ``extra_info``.
- ``bmf``: Bencher Metric Format, ``{benchmark: {measure: {value, lower_value, upper_value}}}``,
  every metric at once; the bounds are mean ∓ one sample std dev, as Bencher's own pytest
  adapter does. Bencher thresholds carry their own direction (docs/exports.md: each measure's unit
  and direction, and how to create the measures before the first upload).

Benchmarks are named ``platform/case/target/hash`` so a changed workload starts a new series;
metrics keep their JSON keys. A value that is missing is left out, never exported as 0; a
benchmark without an ok measured round exports only its rates (``left_out`` says so).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from retrain_bench.analysis.metrics import SUCCESS_RATE, Sample, metrics_of, source_of, success_counts
from retrain_bench.results.contract import CONCURRENCY_SUMMARY_KEY
from retrain_bench.results.model import Benchmark

FORMATS = ("github-action-benchmark", "bmf")
DIRECTIONS = ("smaller", "bigger")
FAILURE_RATE = "failure_rate"


@dataclasses.dataclass(frozen=True)
class Exported:
    """One metric of one benchmark, as both formats need it."""

    key: str
    unit: str
    direction: str
    sample: Sample
    #: the scope and its source for resource and cost figures
    scope: str | None = None


#: Metrics that are not in the compared catalogue (analysis/metrics.py), bigger is better.
BIGGER_KEYS = (("accuracy.initial", "fraction"), ("accuracy.final", "fraction"), (CONCURRENCY_SUMMARY_KEY, "runs/min"))


def exported_metrics(entry: Benchmark) -> Iterator[Exported]:
    """The benchmark's metrics with a value: the compared catalogue (smaller is better), then the
    outputs and throughput that grow when things get better. Rates are separate (``rates``)."""
    record = entry.record
    for metric in metrics_of(record):
        sample = entry.sample(metric.key)
        if sample.mean is not None:
            scope = None
            if metric.scope is not None:
                scope = f"{metric.scope} ({source_of(record, metric.scope) or 'source unknown'})"
            yield Exported(metric.key, metric.unit, "smaller", sample, scope)
    for key, unit in BIGGER_KEYS:
        sample = entry.sample(key)
        if sample.mean is not None:
            yield Exported(key, unit, "bigger", sample)


def rates(entry: Benchmark) -> tuple[int, int] | None:
    """(ok, measured) rounds, or None when no round was measured (no rate to export)."""
    ok, measured = success_counts(entry.record)
    return (ok, measured) if measured else None


def left_out(found: Sequence[Benchmark]) -> list[str]:
    """One line per benchmark whose times and resources are not exported, and why."""
    lines = []
    for entry in found:
        counts = rates(entry)
        if counts is not None and counts[0] == 0:
            lines.append(
                f"{entry.key.slug}: none of its {counts[1]} measured rounds was ok, so it has no times or resources "
                "to export; only its success and failure rates are exported"
            )
    return lines


def github_action_benchmark(found: Sequence[Benchmark], direction: str = "smaller") -> list[dict[str, Any]]:
    """The entries of one direction; feed the file to the custom tool of that direction."""
    suffix = f"({direction} is better)"
    out: list[dict[str, Any]] = []
    for entry in found:
        for metric in exported_metrics(entry):
            if metric.direction != direction:
                continue
            sample = metric.sample
            item: dict[str, Any] = {"name": f"{entry.key.slug} {metric.key} {suffix}", "unit": metric.unit}
            item["value"] = sample.mean
            if sample.stddev is not None:
                item["range"] = f"± {sample.stddev:.6g}"
            item["extra"] = f"n={sample.n} ok rounds" + (f"\nscope: {metric.scope}" if metric.scope else "")
            out.append(item)
        counts = rates(entry)
        if counts is not None:
            ok, measured = counts
            # From the counts: (5 - 4) / 5 * 100 is 20.0, 100 * (1 - 0.8) is 19.999999999999996.
            failed_pct, ok_pct = (measured - ok) * 100 / measured, ok * 100 / measured
            if direction == "smaller":
                rate, value, extra = FAILURE_RATE, failed_pct, f"{measured - ok} of {measured} measured rounds failed"
            else:
                rate, value, extra = SUCCESS_RATE, ok_pct, f"{ok} of {measured} measured rounds ok"
            out.append({"name": f"{entry.key.slug} {rate} {suffix}", "unit": "%", "value": value, "extra": extra})
    return out


def bmf(found: Sequence[Benchmark]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for entry in found:
        measures: dict[str, dict[str, float]] = {}
        for metric in exported_metrics(entry):
            sample = metric.sample
            assert sample.mean is not None  # exported_metrics yields only values
            measure = {"value": sample.mean}
            if sample.stddev is not None:
                measure["lower_value"] = sample.mean - sample.stddev
                measure["upper_value"] = sample.mean + sample.stddev
            measures[metric.key] = measure
        counts = rates(entry)
        if counts is not None:
            measures[SUCCESS_RATE] = {"value": counts[0] / counts[1]}
        if measures:
            out[entry.key.slug] = measures
    return out
