"""Baseline against current: per (platform, target, case, hash) × metric, a change and a verdict.

Pure functions over loaded documents returning frozen values; rendering lives in ``render.py``.
The rules, summarised in ``docs/metrics.md`` and spelled out in ``docs/comparison.md``:

- a metric regresses when its mean moved beyond the metric's threshold in the worse direction
  (every metric here is smaller-is-better) and, when both sides have at least five ok rounds,
  a one-sided Welch t-test says so at ``alpha`` after Holm correction over every t-test of the
  invocation; with fewer rounds the threshold alone decides; with zero variance on both sides
  the difference is exact, so the threshold alone decides too;
- the success rate regresses on any drop below the baseline or below ``min_success_rate``;
- a benchmark or metric of the baseline that is missing now is a regression unless allowed;
- a changed output (accuracies, drift decision, best C over the ok rounds) fails unless allowed.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from retrain_bench.analysis.metrics import (
    OUTPUT_KEYS,
    SUCCESS_RATE,
    Metric,
    Sample,
    metrics_of,
    missing_reason,
    output_values,
    success_counts,
)
from retrain_bench.analysis.thresholds import Thresholds
from retrain_bench.errors import BenchError
from retrain_bench.results.contract import strict
from retrain_bench.results.runs import BenchKey, Entry, Run, entries

#: Below this many ok rounds on either side a t-test has too little power to mean anything.
MIN_ROUNDS_FOR_TEST = 5

REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNCHANGED = "unchanged"
MISSING = "missing"
OUTPUT_CHANGED = "output changed"
VERDICTS = (REGRESSION, MISSING, OUTPUT_CHANGED, IMPROVEMENT, UNCHANGED)

WELCH = "welch"
EXACT = "exact"
THRESHOLD = "threshold"


@dataclasses.dataclass(frozen=True)
class CompareOptions:
    thresholds: Thresholds
    alpha: float = 0.05
    #: An absolute floor on the current success rate (0..1), on top of "no drop".
    min_success_rate: float | None = None
    allow_missing: bool = False
    allow_output_change: bool = False


@dataclasses.dataclass(frozen=True)
class Side:
    """One side of a comparison. ``n`` counts ok rounds (measured rounds for the success rate)."""

    present: bool = True
    n: int | None = None
    mean: float | None = None
    stddev: float | None = None
    #: Success rate: the ok rounds out of ``n``.
    ok: int | None = None
    #: Outputs: the distinct values over the ok rounds.
    values: tuple[Any, ...] = ()

    @classmethod
    def of(cls, sample: Sample) -> Side:
        return cls(True, sample.n, sample.mean, sample.stddev)


@dataclasses.dataclass(frozen=True)
class Comparison:
    key: BenchKey
    #: A metric key (``total_s``, ``resources.platform.cpu_avg_mcpu``), ``success_rate``, an output
    #: key (``best_c``), or ``benchmark`` for a benchmark missing as a whole.
    metric: str
    kind: str  # "metric", "success_rate", "output", "benchmark"
    baseline: Side
    current: Side
    #: Percent of the baseline mean for metrics; percentage points for the success rate.
    change: float | None
    threshold_pct: float | None
    method: str | None  # metrics: "welch", "exact" or "threshold"
    #: One-sided, in the worse direction; only for the Welch method.
    p_worse: float | None
    p_holm: float | None
    verdict: str
    note: str
    fails: bool

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["key"] = dataclasses.asdict(self.key)
        data["baseline"]["values"] = list(self.baseline.values)
        data["current"]["values"] = list(self.current.values)
        return data


@dataclasses.dataclass(frozen=True)
class CompareResult:
    baseline: Run
    current: Run
    options: CompareOptions
    comparisons: tuple[Comparison, ...]
    #: How many one-sided Welch tests the Holm correction ran over.
    tests: int
    #: Said on stderr: differing machines or versions.
    warnings: tuple[str, ...]
    #: Said below the table: benchmarks only in the current run.
    notes: tuple[str, ...]

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.comparisons if c.verdict == verdict)

    @property
    def failed(self) -> bool:
        return any(c.fails for c in self.comparisons)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def as_dict(self) -> dict[str, Any]:
        return strict(
            {
                "baseline": self.baseline.path,
                "current": self.current.path,
                "alpha": self.options.alpha,
                "min_success_rate": self.options.min_success_rate,
                "allow_missing": self.options.allow_missing,
                "allow_output_change": self.options.allow_output_change,
                "thresholds": self.options.thresholds.as_dict(),
                "tests": self.tests,
                "comparisons": [c.as_dict() for c in self.comparisons],
                "counts": {v: self.count(v) for v in VERDICTS},
                "warnings": list(self.warnings),
                "notes": list(self.notes),
                "exit_code": self.exit_code,
            }
        )


def holm(pvalues: Sequence[float]) -> tuple[float, ...]:
    """Holm–Bonferroni adjusted p-values, in the input order (reject where adjusted ≤ alpha).

    scipy has no Holm (``false_discovery_control`` is Benjamini–Hochberg/Yekutieli) and
    statsmodels is not a dependency: the step-down is a few lines. Sorted ascending, the k-th
    smallest (k from 0) is multiplied by m − k, capped at 1, and made monotone.
    """
    m = len(pvalues)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return tuple(adjusted)


def welch_p(baseline: Sequence[float], current: Sequence[float]) -> float:
    """One-sided Welch p-value that the current mean is larger (worse: every metric is smaller-is-better)."""
    from scipy import stats

    with warnings.catch_warnings():
        # Nearly identical values make scipy warn about precision; the p-value is still right.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(current, baseline, equal_var=False, alternative="greater")
    return float(result.pvalue)


def change_pct(baseline: float, current: float) -> float:
    if baseline == 0:
        return 0.0 if current == 0 else math.copysign(math.inf, current)
    return (current - baseline) / abs(baseline) * 100.0


def beyond(change: float, threshold: float) -> bool:
    """Strictly beyond; rounded so that 11/10 reads as +10 %, not +10.000000000000009 %."""
    return round(change, 9) > threshold


def compare_runs(baseline: Run, current: Run, options: CompareOptions) -> CompareResult:
    base = {e.key: e for e in entries([baseline], merge_rounds=False)}
    cur = {e.key: e for e in entries([current], merge_rounds=False)}
    refuse_mismatches(base, cur)
    if not base.keys() & cur.keys():
        raise BenchError(
            f"{baseline.path} and {current.path} have no benchmark in common "
            "(platform, target, case and case hash must all match)"
        )
    pending: list[Comparison] = []
    for key in sorted(base, key=BenchKey.sort_key):
        if key not in cur:
            pending.append(missing_benchmark(key, options))
            continue
        pending.extend(compare_entries(base[key], cur[key], options))
    finished, tests = apply_holm(pending, options)
    notes = tuple(f"only in the current run, not compared: {k.label}" for k in sorted(cur.keys() - base.keys()))
    return CompareResult(baseline, current, options, finished, tests, environment_warnings(baseline, current), notes)


def refuse_mismatches(base: Mapping[BenchKey, Entry], cur: Mapping[BenchKey, Entry]) -> None:
    """Same platform × case with another hash or target: different workloads, never comparable."""
    for key in sorted(base, key=BenchKey.sort_key):
        if key in cur:
            continue
        for other in sorted(cur, key=BenchKey.sort_key):
            if (other.platform, other.case) != (key.platform, key.case):
                continue
            if other.hash != key.hash:
                raise BenchError(
                    f"{key.platform}/{key.case}: case hash differs (baseline {key.hash}, current {other.hash}): "
                    "the workload changed, so its numbers are not comparable; record a new baseline"
                )
            raise BenchError(
                f"{key.platform}/{key.case}: target differs (baseline {key.target}, current {other.target}): "
                "local and cluster numbers are not comparable"
            )


def missing_benchmark(key: BenchKey, options: CompareOptions) -> Comparison:
    allowed = "; allowed by --allow-missing" if options.allow_missing else ""
    return Comparison(
        key,
        "benchmark",
        "benchmark",
        Side(),
        Side(present=False),
        None,
        None,
        None,
        None,
        None,
        MISSING,
        f"not in the current run{allowed}",
        not options.allow_missing,
    )


def compare_entries(base: Entry, cur: Entry, options: CompareOptions) -> list[Comparison]:
    metrics = (compare_metric(base, cur, metric, options) for metric in metrics_of(base.record))
    found = [c for c in (*metrics, compare_success(base, cur, options)) if c is not None]
    found.extend(compare_outputs(base, cur, options))
    return found


def compare_metric(base: Entry, cur: Entry, metric: Metric, options: CompareOptions) -> Comparison | None:
    """Everything but the Holm step, which needs every test of the invocation (``apply_holm``)."""
    key, threshold = metric.key, options.thresholds.for_metric(metric)
    before, after = Sample.of(base.record, key), Sample.of(cur.record, key)
    if before.n == 0:
        return None  # nothing to regress from (e.g. retrain_tune_s of a case without drift)
    if after.n == 0:
        allowed = "; allowed by --allow-missing" if options.allow_missing else ""
        return Comparison(
            base.key,
            key,
            "metric",
            Side.of(before),
            Side(present=False, n=0),
            None,
            threshold,
            None,
            None,
            None,
            MISSING,
            missing_reason(cur.record, key) + allowed,
            not options.allow_missing,
        )
    assert before.mean is not None and after.mean is not None
    change = change_pct(before.mean, after.mean)
    if before.n >= MIN_ROUNDS_FOR_TEST and after.n >= MIN_ROUNDS_FOR_TEST:
        method = EXACT if before.zero_variance and after.zero_variance else WELCH
    else:
        method = THRESHOLD
    p_worse = welch_p(before.values, after.values) if method == WELCH else None
    return Comparison(
        base.key,
        key,
        "metric",
        Side.of(before),
        Side.of(after),
        change,
        threshold,
        method,
        p_worse,
        None,
        UNCHANGED,
        "",
        False,
    )


def apply_holm(pending: Sequence[Comparison], options: CompareOptions) -> tuple[tuple[Comparison, ...], int]:
    tested = [i for i, c in enumerate(pending) if c.method == WELCH]
    adjusted = dict(zip(tested, holm([pending[i].p_worse or 0.0 for i in tested]), strict=True))
    done = []
    for index, comparison in enumerate(pending):
        if comparison.kind == "metric" and comparison.verdict != MISSING:
            comparison = decide(comparison, adjusted.get(index), options, len(tested))
        done.append(comparison)
    return tuple(done), len(tested)


def decide(c: Comparison, p_holm: float | None, options: CompareOptions, tests: int) -> Comparison:
    assert c.change is not None and c.threshold_pct is not None
    worse, better = beyond(c.change, c.threshold_pct), beyond(-c.change, c.threshold_pct)
    if c.method == WELCH:
        assert c.p_worse is not None and p_holm is not None
        significant_worse = p_holm <= options.alpha
        # Improvements never fail a build, so they are not part of the Holm family: the raw
        # one-sided p in the better direction (1 − p_worse for a continuous t) is enough.
        significant_better = 1.0 - c.p_worse <= options.alpha
        if worse and significant_worse:
            verdict, note = REGRESSION, f"significant after Holm over {tests} t-tests"
        elif better and significant_better:
            verdict, note = IMPROVEMENT, "significant (one-sided Welch)"
        elif worse or better:
            verdict, note = UNCHANGED, f"beyond threshold but not significant (α={options.alpha:g}, Holm)"
        else:
            verdict, note = UNCHANGED, "within threshold"
    else:
        if c.method == EXACT:
            note = "zero variance on both sides: exact"
        else:
            note = f"fewer than {MIN_ROUNDS_FOR_TEST} ok rounds ({c.baseline.n} vs {c.current.n}): threshold alone"
        verdict = REGRESSION if worse else IMPROVEMENT if better else UNCHANGED
    return dataclasses.replace(c, p_holm=p_holm, verdict=verdict, note=note, fails=verdict == REGRESSION)


def compare_success(base: Entry, cur: Entry, options: CompareOptions) -> Comparison | None:
    before, after = base.record.get(SUCCESS_RATE), cur.record.get(SUCCESS_RATE)
    if before is None:
        return None
    ok_b, n_b = success_counts(base.record)
    ok_c, n_c = success_counts(cur.record)
    baseline = Side(True, n_b, before, None, ok_b)
    if after is None:
        allowed = "; allowed by --allow-missing" if options.allow_missing else ""
        return Comparison(
            base.key, SUCCESS_RATE, "success_rate", baseline, Side(False, n_c, None, None, ok_c), None, None,
            None, None, None, MISSING, f"no measured rounds{allowed}", not options.allow_missing,
        )  # fmt: skip
    reasons = []
    if after < before:
        reasons.append("dropped below the baseline")
    floor = options.min_success_rate
    if floor is not None and after < floor:
        reasons.append(f"below --min-success-rate {floor * 100:g}%")
    if reasons:
        verdict, note = REGRESSION, "; ".join(reasons)
    elif after > before:
        verdict, note = IMPROVEMENT, "higher than the baseline"
    else:
        verdict, note = UNCHANGED, "any drop fails"
    return Comparison(
        base.key,
        SUCCESS_RATE,
        "success_rate",
        baseline,
        Side(True, n_c, after, None, ok_c),
        (after - before) * 100.0,
        None,
        None,
        None,
        None,
        verdict,
        note,
        verdict == REGRESSION,
    )


def compare_outputs(base: Entry, cur: Entry, options: CompareOptions) -> list[Comparison]:
    """Changed outputs only: the same workload must compute the same thing on both sides."""
    found = []
    for key in OUTPUT_KEYS:
        before, after = output_values(base.record, key), output_values(cur.record, key)
        if not before or not after or before == after:
            continue  # no ok round on one side: the success rate already says so
        allowed = options.allow_output_change
        found.append(
            Comparison(
                base.key,
                key,
                "output",
                Side(True, values=before),
                Side(True, values=after),
                None,
                None,
                None,
                None,
                None,
                OUTPUT_CHANGED,
                "allowed by --allow-output-change" if allowed else "the pipeline computed something else",
                not allowed,
            )
        )
    return found


def environment_warnings(baseline: Run, current: Run) -> tuple[str, ...]:
    """Absolute numbers from different machines or software versions are not comparable."""
    found = []
    machine_b, machine_c = baseline.document.get("machine_info", {}), current.document.get("machine_info", {})
    if machine_b != machine_c:
        found.append(
            f"machine_info differs ({_differences(machine_b, machine_c)}): "
            "absolute numbers from different machines are not comparable"
        )
    versions_b = baseline.document.get("retrain_bench", {}).get("versions", {})
    versions_c = current.document.get("retrain_bench", {}).get("versions", {})
    if versions_b != versions_c:
        found.append(f"versions differ ({_differences(versions_b, versions_c)}): the change may not be the code's")
    # Files written before --concurrency existed ran one execution per round.
    concurrency_b = baseline.document.get("retrain_bench", {}).get("options", {}).get("concurrency", 1)
    concurrency_c = current.document.get("retrain_bench", {}).get("options", {}).get("concurrency", 1)
    if concurrency_b != concurrency_c:
        found.append(
            f"--concurrency differs ({concurrency_b} → {concurrency_c}): above 1 a round's total_s is the makespan "
            "of that many executions at once, so the times measure different things"
        )
    return tuple(found)


def _differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    shown = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if isinstance(old, dict | list) or isinstance(new, dict | list):
            shown.append(name)
        else:
            shown.append(f"{name} {old} → {new}")
    return "; ".join(shown)
