"""Our numbers in the formats of two continuous-benchmarking services, resources included.

- ``github-action-benchmark``: the ``customSmallerIsBetter`` tool's input, a JSON list of
  ``{name, unit, value, range, extra}`` (``range`` and ``extra`` are free text). Its own pytest
  extractor reads only ``stats.ops`` and ignores ``extra_info``, hence this export. Every entry
  must be smaller-is-better, so reliability goes out as ``failure_rate`` (percent of measured
  rounds that failed) rather than the success rate.
- ``bmf``: Bencher Metric Format, ``{benchmark: {measure: {value, lower_value, upper_value}}}``;
  the bounds are mean ∓ one sample std dev, as Bencher's own pytest adapter does. Bencher
  thresholds carry their own direction, so the success rate goes out as it is.

Benchmarks are named ``platform/case/target/hash`` so a changed workload starts a new series;
metrics keep their JSON keys. A value that is missing is left out — never exported as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retrain_bench.analysis.metrics import SUCCESS_RATE, Sample, metrics_of, source_of, success_counts
from retrain_bench.results.runs import Entry

FORMATS = ("github-action-benchmark", "bmf")


def github_action_benchmark(found: Sequence[Entry]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in found:
        for metric in metrics_of(entry.record):
            sample = Sample.of(entry.record, metric.key)
            if sample.mean is None:
                continue
            item: dict[str, Any] = {"name": f"{entry.key.slug} {metric.key}", "unit": metric.unit, "value": sample.mean}
            if sample.stddev is not None:
                item["range"] = f"± {sample.stddev:.6g}"
            extra = f"n={sample.n} ok rounds"
            if metric.scope is not None:
                extra += f"\nscope: {metric.scope} ({source_of(entry.record, metric.scope) or 'source unknown'})"
            item["extra"] = extra
            out.append(item)
        rate = entry.record.get(SUCCESS_RATE)
        if rate is not None:
            ok, measured = success_counts(entry.record)
            out.append(
                {
                    "name": f"{entry.key.slug} failure_rate",
                    "unit": "%",
                    "value": (1.0 - rate) * 100.0,
                    "extra": f"{measured - ok} of {measured} measured rounds failed",
                }
            )
    return out


def bmf(found: Sequence[Entry]) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for entry in found:
        measures: dict[str, dict[str, float]] = {}
        for metric in metrics_of(entry.record):
            sample = Sample.of(entry.record, metric.key)
            if sample.mean is None:
                continue
            measure = {"value": sample.mean}
            if sample.stddev is not None:
                measure["lower_value"] = sample.mean - sample.stddev
                measure["upper_value"] = sample.mean + sample.stddev
            measures[metric.key] = measure
        rate = entry.record.get(SUCCESS_RATE)
        if rate is not None:
            measures[SUCCESS_RATE] = {"value": float(rate)}
        if measures:
            out[entry.key.slug] = measures
    return out
