"""Baseline against current: per (platform, target, case, hash) × metric, a change and a verdict.

Pure functions over loaded runs (the read model, ``retrain_bench.results.model``) returning frozen
values; rendering lives in ``render.py``. The rules, summarised in ``docs/metrics.md``, are spelled out
in docs/comparison.md:

- a metric regresses when its mean moved beyond the metric's threshold (relative) **and** its noise
  floor (absolute) in the worse direction (every metric here is smaller-is-better) and a one-sided
  test says so at ``alpha`` after Holm correction over every gating test of the invocation;
- with one run a side the test is Welch's over the two runs' rounds, when both have at least five
  ok rounds (fewer: the threshold and floor alone; zero variance on both sides: exact); with
  several runs on a side it is over the run means, against the spread between runs;
- informational metrics (``startup_s``, the ``node`` scope) are compared and shown but never fail,
  unless ``--gate-metric`` names them;
- the success rate regresses on any drop below the baseline or below ``min_success_rate``;
- a benchmark or metric of the baseline that is missing now is a regression unless allowed;
- a changed output (accuracies, drift decision, best C over the ok rounds) fails unless allowed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from retrain_bench.analysis.metrics import (
    OUTPUT_KEYS,
    SUCCESS_RATE,
    Metric,
    Sample,
    format_number,
    is_informational,
    metrics_of,
    parse_metric,
)
from retrain_bench.analysis.thresholds import Thresholds
from retrain_bench.errors import BenchError
from retrain_bench.platforms.specs import platform_of
from retrain_bench.results.contract import strict
from retrain_bench.results.model import BenchKey, Benchmark, Run, output_values
from retrain_bench.results.runs import entries, sort_key

#: Below this many ok rounds on either side a t-test has too little power to mean anything.
MIN_ROUNDS_FOR_TEST = 5

REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNCHANGED = "unchanged"
MISSING = "missing"
OUTPUT_CHANGED = "output changed"
#: Worse beyond threshold, floor and test, on a metric that does not gate: shown, never fails.
INFORMATIONAL = "informational"
VERDICTS = (REGRESSION, MISSING, OUTPUT_CHANGED, IMPROVEMENT, UNCHANGED, INFORMATIONAL)

WELCH = "welch"
EXACT = "exact"
THRESHOLD = "threshold"
#: Several runs on a side: the test is over run means (Welch; Student's pooled t when one side has one run).
BETWEEN = "between runs"
TESTED = (WELCH, BETWEEN)

#: Said once, with one run a side that was not interleaved with the other.
ONE_RUN_CAVEAT = (
    "One run a side, not interleaved: significance describes the rounds of these two runs only, not the "
    "spread between runs; keep 3 or more baseline runs, or interleave both sides in one job (.ci/bench-gate)."
)


@dataclasses.dataclass(frozen=True)
class CompareOptions:
    thresholds: Thresholds
    alpha: float = 0.05
    #: An absolute floor on the current success rate (0..1), on top of "no drop".
    min_success_rate: float | None = None
    allow_missing: bool = False
    allow_output_change: bool = False
    #: Informational metrics (names or keys) that gate anyway: ``--gate-metric``.
    gate_metrics: frozenset[str] = frozenset()
    #: Both sides' rounds were interleaved in one job (``.ci/bench-gate``): no one-run caveat.
    interleaved: bool = False

    def gates(self, metric: Metric) -> bool:
        if not is_informational(metric):
            return True
        return bool({metric.key, metric.name} & self.gate_metrics)


@dataclasses.dataclass(frozen=True)
class Side:
    """One side of a comparison. ``n`` counts ok rounds (measured rounds for the success rate).

    With several runs, ``mean`` is the mean of the run means and ``stddev`` their spread between runs.
    """

    present: bool = True
    n: int | None = None
    mean: float | None = None
    stddev: float | None = None
    #: Success rate: the ok rounds out of ``n``.
    ok: int | None = None
    #: Outputs: the distinct values over the ok rounds.
    values: tuple[Any, ...] = ()
    #: How many runs the side's values come from.
    runs: int = 1

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
    method: str | None  # metrics: "welch", "between runs", "exact" or "threshold"
    #: One-sided, in the worse direction; only for the tested methods.
    p_worse: float | None
    p_holm: float | None
    verdict: str
    note: str
    fails: bool
    #: Metrics: the absolute noise floor, in the metric's unit.
    floor: float | None = None
    #: False for an informational metric that ``--gate-metric`` did not name.
    gating: bool = True

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["key"] = dataclasses.asdict(self.key)
        data["baseline"]["values"] = list(self.baseline.values)
        data["current"]["values"] = list(self.current.values)
        return data


@dataclasses.dataclass(frozen=True)
class CompareResult:
    baselines: tuple[Run, ...]
    currents: tuple[Run, ...]
    options: CompareOptions
    comparisons: tuple[Comparison, ...]
    #: How many one-sided tests of gating metrics the Holm correction ran over.
    tests: int
    #: Said on stderr: differing machines or versions.
    warnings: tuple[str, ...]
    #: Said below the table: benchmarks only in the current run.
    notes: tuple[str, ...]
    #: Two SDK versions of one run (``compare_versions``): (platform, baseline version, current version).
    versions: tuple[str, str, str] | None = None

    @property
    def baseline(self) -> Run:
        return self.baselines[0]

    @property
    def current(self) -> Run:
        return self.currents[0]

    @property
    def caveat(self) -> str | None:
        one_each = len(self.baselines) == 1 and len(self.currents) == 1
        return ONE_RUN_CAVEAT if one_each and not self.options.interleaved else None

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.comparisons if c.verdict == verdict)

    def counts(self) -> dict[str, int]:
        """Every verdict's count; ``informational`` only when an informational metric got worse."""
        found = {v: self.count(v) for v in VERDICTS}
        if not found[INFORMATIONAL]:
            del found[INFORMATIONAL]
        return found

    @property
    def nothing_compared(self) -> bool:
        """No metric had values on both sides: every benchmark in common lacked ok rounds on one side."""
        return not any(c.kind == "metric" and c.verdict != MISSING for c in self.comparisons)

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
                "baselines": [r.path for r in self.baselines],
                "currents": [r.path for r in self.currents],
                "alpha": self.options.alpha,
                "min_success_rate": self.options.min_success_rate,
                "allow_missing": self.options.allow_missing,
                "allow_output_change": self.options.allow_output_change,
                "thresholds": self.options.thresholds.as_dict(),
                "floors": dict(self.options.thresholds.floors),
                "gate_metrics": sorted(self.options.gate_metrics),
                "interleaved": self.options.interleaved,
                "caveat": self.caveat,
                "tests": self.tests,
                "comparisons": [c.as_dict() for c in self.comparisons],
                "counts": self.counts(),
                "warnings": list(self.warnings),
                "notes": list(self.notes),
                "nothing_compared": self.nothing_compared,
                "exit_code": self.exit_code,
                "versions": (
                    None
                    if self.versions is None
                    else dict(zip(("platform", "baseline", "current"), self.versions, strict=True))
                ),
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


def welch_p(baseline: Sequence[float], current: Sequence[float], *, equal_var: bool = False) -> float:
    """One-sided p-value that the current mean is larger (worse: every metric is smaller-is-better).

    Welch's t by default. ``equal_var`` is Student's pooled t, for run means when one side has a
    single run: its variance then comes from the other side alone (df = runs − 1), which is the
    test of one new run against the spread of the earlier ones.
    """
    from scipy import stats

    with warnings.catch_warnings():
        # Nearly identical values make scipy warn about precision; the p-value is still right.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(current, baseline, equal_var=equal_var, alternative="greater")
    return float(result.pvalue)


def change_pct(baseline: float, current: float) -> float:
    if baseline == 0:
        return 0.0 if current == 0 else math.copysign(math.inf, current)
    return (current - baseline) / abs(baseline) * 100.0


def beyond(change: float, threshold: float) -> bool:
    """Strictly beyond; rounded so that 11/10 reads as +10 %, not +10.000000000000009 %."""
    return round(change, 9) > threshold


def above_floor(difference: float, floor: float) -> bool:
    """Strictly above the floor; rounded like ``beyond`` so binary round-off does not decide."""
    return round(abs(difference), 12) > floor


Sides = Mapping[BenchKey, tuple[Benchmark, ...]]


def by_key(runs: Sequence[Run]) -> dict[BenchKey, tuple[Benchmark, ...]]:
    """Each benchmark key of these runs with its benchmark in every run that has it (one per run)."""
    found: dict[BenchKey, tuple[Benchmark, ...]] = {}
    for run in runs:
        for benchmark in entries([run], merge_rounds=False):
            found[benchmark.key] = (*found.get(benchmark.key, ()), benchmark)
    return found


def compare_runs(
    baselines: Run | Sequence[Run], currents: Run | Sequence[Run], options: CompareOptions, *, one_run: bool = False
) -> CompareResult:
    """``one_run``: both sides are cut from one run (``--versions``), so they share its identity."""
    base_runs = (baselines,) if isinstance(baselines, Run) else tuple(baselines)
    cur_runs = (currents,) if isinstance(currents, Run) else tuple(currents)
    for side, runs in (("baseline", base_runs), ("current", cur_runs)):
        refuse_repeated_runs(runs, side)
    overlap = () if one_run else refuse_overlap(base_runs, cur_runs)
    base, cur = by_key(base_runs), by_key(cur_runs)
    refuse_mismatches(base, cur)
    if not base.keys() & cur.keys():
        raise BenchError(
            f"{_paths(base_runs)} and {_paths(cur_runs)} have no benchmark in common "
            "(platform, target, case and case hash must all match)"
        )
    pending: list[Comparison] = []
    for key in sorted(base, key=sort_key):
        if key not in cur:
            pending.append(missing_benchmark(key, options))
            continue
        pending.extend(compare_benchmarks(base[key], cur[key], options))
    finished, tests = apply_holm(pending, options)
    notes = tuple(f"only in the current run, not compared: {k.label}" for k in sorted(cur.keys() - base.keys()))
    found = (
        *overlap,
        *environment_warnings(base_runs, cur_runs),
        *interrupted_warnings((*base_runs, *cur_runs)),
    )
    return CompareResult(base_runs, cur_runs, options, finished, tests, found, notes)


def refuse_repeated_runs(runs: Sequence[Run], side: str) -> None:
    """One session twice on a side (a copy, or a file merged from it) would count as two runs' spread."""
    seen: dict[Any, str] = {}
    for run in runs:
        for session in run.identities:
            first = seen.setdefault(session, run.path)
            if first != run.path:
                raise BenchError(
                    f"{run.path} and {first} on the {side} side hold the same run ({session.describe()}); "
                    "each run counts once"
                )


def refuse_overlap(base_runs: Sequence[Run], cur_runs: Sequence[Run]) -> tuple[str, ...]:
    """A current run that a baseline holds too would be compared with itself: no change could show, so
    the gate would pass on anything. A baseline merged from the current run, or a current run merged
    from a baseline (``merged_from``), is refused as merge and report refuse it; one file on both sides is
    warned about (``compare run.json run.json`` checks that a file compares clean). Two files that only
    share an identity pass silently: files written from one template (tests, hand-made baselines) do."""
    seen = {session: run for run in base_runs for session in run.identities}
    found: list[str] = []
    for run in cur_runs:
        for session in run.identities:
            base = seen.get(session)
            if base is None:
                continue
            if base.merged or run.merged:
                raise BenchError(
                    f"{run.path} (current) holds the rounds of a run that the baseline {base.path} holds too "
                    f"({session.describe()}); compare a run with a baseline that does not contain it"
                )
            if os.path.realpath(base.path) == os.path.realpath(run.path):
                found.append(
                    f"{run.path} (current) is the baseline {base.path}: a run compared with itself cannot show "
                    "a change; compare it with another run"
                )
    return tuple(found)


def _paths(runs: Sequence[Run]) -> str:
    return ", ".join(r.path for r in runs)


def compare_versions(run: Run, baseline: str, current: str, options: CompareOptions) -> CompareResult:
    """Two specs of one platform inside one run (``flyte@1.15.4`` against ``flyte@1.16.31``), with the
    same statistics and thresholds as two runs: each side is the run cut down to one spec's benchmarks."""
    platform = platform_of(baseline)
    if platform_of(current) != platform or baseline == current:
        raise BenchError(
            f"--versions: {baseline},{current}: give two specs of one platform, e.g. flyte@1.15.4,flyte@1.16.31"
        )
    sides = [_one_spec(run, label) for label in (baseline, current)]
    result = compare_runs(sides[0][0], sides[1][0], options, one_run=True)
    # Versions of one run share machine and packages but the SDK's: nothing to warn about.
    return dataclasses.replace(result, warnings=(), versions=(platform, sides[0][1], sides[1][1]))


def _one_spec(run: Run, label: str) -> tuple[Run, str]:
    """The run with only ``label``'s benchmarks (ok or failed), keyed as the bare platform so both
    sides match, and the SDK version they ran with."""
    mine = [b for b in run.benchmarks if b.key.column == label]
    if not mine:
        present = sorted({b.key.column for b in run.benchmarks})
        raise BenchError(f"--versions: {run.path} has no {label} benchmark; it has {', '.join(present)}")
    version = next((v for b in mine if (v := (b.record.get("sdk") or {}).get("version"))), None)

    # the bare platform's key on both sides, so flyte@1.15 meets flyte@1.16
    name = f"{run.path} [{label}]"
    keyed = [dataclasses.replace(b, key=dataclasses.replace(b.key, version=None), sources=(name,)) for b in mine]
    return run.only(name, keyed), str(version or label.partition("@")[2] or "unknown")


def refuse_mismatches(base: Sides, cur: Sides) -> None:
    """Same platform × case with another hash or target: different workloads, never comparable."""
    for key in sorted(base, key=sort_key):
        if key in cur:
            continue
        for other in sorted(cur, key=sort_key):
            if (other.column, other.case) != (key.column, key.case):
                continue
            if other.hash != key.hash:
                raise BenchError(
                    f"{key.column}/{key.case}: case hash differs (baseline {key.hash}, current {other.hash}): "
                    "the workload changed, so its numbers are not comparable; record a new baseline"
                )
            raise BenchError(
                f"{key.column}/{key.case}: target differs (baseline {key.target}, current {other.target}): "
                "local and cluster numbers are not comparable"
            )


def _allowed(options: CompareOptions) -> str:
    return "; allowed by --allow-missing" if options.allow_missing else ""


def missing_benchmark(key: BenchKey, options: CompareOptions) -> Comparison:
    return Comparison(
        key, "benchmark", "benchmark", Side(), Side(present=False), None, None, None, None, None, MISSING,
        f"not in the current run{_allowed(options)}", not options.allow_missing,
    )  # fmt: skip


def compare_benchmarks(
    base: Sequence[Benchmark], cur: Sequence[Benchmark], options: CompareOptions
) -> list[Comparison]:
    metrics = (compare_metric(base, cur, metric, options) for metric in metrics_of(base[0]))
    found = [c for c in (*metrics, compare_success(base, cur, options)) if c is not None]
    found.extend(compare_outputs(base, cur, options))
    return found


@dataclasses.dataclass(frozen=True)
class Runs:
    """One side's values of one metric: a sample per run that has any."""

    samples: tuple[Sample, ...]

    @classmethod
    def of(cls, benchmarks: Sequence[Benchmark], key: str) -> Runs:
        return cls(tuple(s for b in benchmarks if (s := b.sample(key)).n))

    @property
    def pooled(self) -> Sample:
        return Sample(tuple(v for s in self.samples for v in s.values))

    @property
    def means(self) -> tuple[float, ...]:
        return tuple(s.mean for s in self.samples if s.mean is not None)

    def side(self, *, between: bool) -> Side:
        if not between:
            return Side.of(self.pooled)
        means = Sample(self.means)
        return Side(True, self.pooled.n, means.mean, means.stddev, runs=len(self.samples))


def compare_metric(
    base: Sequence[Benchmark], cur: Sequence[Benchmark], metric: Metric, options: CompareOptions
) -> Comparison | None:
    """Everything but the Holm step, which needs every test of the invocation (``apply_holm``)."""
    key, threshold, floor = metric.key, options.thresholds.for_metric(metric), options.thresholds.floor_for(metric)
    gating = options.gates(metric)
    before, after = Runs.of(base, key), Runs.of(cur, key)
    if not before.samples:
        return None  # nothing to regress from (e.g. retrain_tune_s of a case without drift)
    if not after.samples:
        reasons = "; ".join(dict.fromkeys(b.missing_reason(key) for b in cur))
        fails = gating and not options.allow_missing
        return Comparison(
            base[0].key, key, "metric", before.side(between=False), Side(present=False, n=0), None, threshold,
            None, None, None, MISSING, reasons + _allowed(options) + ("" if gating else "; informational"), fails,
            floor, gating,
        )  # fmt: skip
    between = len(before.samples) + len(after.samples) > 2
    b_side, a_side = before.side(between=between), after.side(between=between)
    assert b_side.mean is not None and a_side.mean is not None
    p_worse = None
    if between:
        spread = [r for r in (before, after) if len(r.samples) > 1]
        method = EXACT if all(Sample(r.means).zero_variance for r in spread) else BETWEEN
        if method == BETWEEN:
            one_side_single = min(len(before.samples), len(after.samples)) == 1
            p_worse = welch_p(before.means, after.means, equal_var=one_side_single)
    else:
        b_pool, a_pool = before.pooled, after.pooled
        if b_pool.n >= MIN_ROUNDS_FOR_TEST and a_pool.n >= MIN_ROUNDS_FOR_TEST:
            method = EXACT if b_pool.zero_variance and a_pool.zero_variance else WELCH
        else:
            method = THRESHOLD
        if method == WELCH:
            p_worse = welch_p(b_pool.values, a_pool.values)
    change = change_pct(b_side.mean, a_side.mean)
    return Comparison(
        base[0].key, key, "metric", b_side, a_side, change, threshold, method, p_worse, None, UNCHANGED, "", False,
        floor, gating,
    )  # fmt: skip


def apply_holm(pending: Sequence[Comparison], options: CompareOptions) -> tuple[tuple[Comparison, ...], int]:
    """Holm over the gating tests (the family that can fail a build); informational tests are their own family."""
    adjusted: dict[int, float] = {}
    families: dict[bool, list[int]] = {True: [], False: []}
    for index, c in enumerate(pending):
        if c.method in TESTED:
            families[c.gating].append(index)
    for members in families.values():
        adjusted.update(zip(members, holm([pending[i].p_worse or 0.0 for i in members]), strict=True))
    tests = {gating: len(members) for gating, members in families.items()}
    done = []
    for index, comparison in enumerate(pending):
        if comparison.kind == "metric" and comparison.verdict != MISSING:
            comparison = decide(comparison, adjusted.get(index), options, tests[comparison.gating])
        done.append(comparison)
    return tuple(done), tests[True]


def decide(c: Comparison, p_holm: float | None, options: CompareOptions, tests: int) -> Comparison:
    assert c.change is not None and c.threshold_pct is not None and c.floor is not None
    assert c.baseline.mean is not None and c.current.mean is not None
    difference = c.current.mean - c.baseline.mean
    over_floor = above_floor(difference, c.floor)
    worse = beyond(c.change, c.threshold_pct) and over_floor
    better = beyond(-c.change, c.threshold_pct) and over_floor
    if c.method in TESTED:
        assert c.p_worse is not None and p_holm is not None
        significant_worse = p_holm <= options.alpha
        # Improvements never fail a build, so they are not part of the Holm family: the raw
        # one-sided p in the better direction (1 − p_worse for a continuous t) is enough.
        significant_better = 1.0 - c.p_worse <= options.alpha
        family = f"{tests} t-tests" if c.gating else f"the {tests} informational t-tests"
        if worse and significant_worse:
            verdict, note = REGRESSION, f"significant after Holm over {family}"
        elif better and significant_better:
            verdict, note = IMPROVEMENT, "significant (one-sided Welch)" if c.method == WELCH else "significant"
        elif worse or better:
            verdict, note = UNCHANGED, f"beyond threshold but not significant (α={options.alpha:g}, Holm)"
        else:
            verdict, note = UNCHANGED, "within threshold"
        if c.method == BETWEEN:
            note += f"; between {c.baseline.runs} and {c.current.runs} runs"
    else:
        if c.method == EXACT:
            note = "zero variance on both sides: exact"
            if c.baseline.runs > 1 or c.current.runs > 1:
                note = "zero variance between runs: exact"
        else:
            note = f"fewer than {MIN_ROUNDS_FOR_TEST} ok rounds ({c.baseline.n} vs {c.current.n}): threshold alone"
        verdict = REGRESSION if worse else IMPROVEMENT if better else UNCHANGED
    if not over_floor and beyond(abs(c.change), c.threshold_pct):
        unit = _unit(c.metric)
        verdict = UNCHANGED
        note = f"below the noise floor (|change| {format_number(abs(difference))} ≤ {format_number(c.floor)} {unit})"
    if verdict == REGRESSION and not c.gating:
        verdict = INFORMATIONAL
        note += f"; informational, not gating (--gate-metric {c.metric} to gate on it)"
    return dataclasses.replace(c, p_holm=p_holm, verdict=verdict, note=note, fails=verdict == REGRESSION)


def _unit(key: str) -> str:
    metric = parse_metric(key)
    return metric.unit if metric is not None else ""


def _success(benchmarks: Sequence[Benchmark]) -> tuple[Fraction | None, int, int]:
    """(rate, ok, measured) over every run's measured rounds; the rate exact, from the counts."""
    counts = [b.success_counts() for b in benchmarks]
    ok, measured = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return (Fraction(ok, measured) if measured else None), ok, measured


def compare_success(base: Sequence[Benchmark], cur: Sequence[Benchmark], options: CompareOptions) -> Comparison | None:
    (before, ok_b, n_b), (after, ok_c, n_c) = _success(base), _success(cur)
    if before is None:
        return None
    key = base[0].key
    baseline = Side(True, n_b, float(before), None, ok_b, runs=len(base))
    if after is None:
        return Comparison(
            key, SUCCESS_RATE, "success_rate", baseline, Side(False, n_c, None, None, ok_c, runs=len(cur)), None,
            None, None, None, None, MISSING, f"no measured rounds{_allowed(options)}", not options.allow_missing,
        )  # fmt: skip
    reasons = []
    if ok_c == 0:
        # Nothing was measured now: whatever the baseline did, a gate cannot pass a benchmark that never ran.
        reasons.append("no ok round now: nothing measured to compare" + ("" if ok_b else ", on either side"))
    elif after < before:
        reasons.append("dropped below the baseline")
    floor = options.min_success_rate
    if floor is not None and after < Fraction(floor):
        reasons.append(f"below --min-success-rate {floor * 100:g}%")
    if reasons:
        verdict, note = REGRESSION, "; ".join(reasons)
    elif after > before:
        verdict, note = IMPROVEMENT, "higher than the baseline"
        if not ok_b:
            note += "; the baseline has no ok round, so no metric of it could be compared"
    else:
        verdict, note = UNCHANGED, "any drop fails"
    # Percentage points from the counts: 7/10 → 9/10 is +20 exactly, not (0.9 − 0.7) × 100 = 20.000000000000018.
    change = float((after - before) * 100)
    return Comparison(
        key, SUCCESS_RATE, "success_rate", baseline, Side(True, n_c, float(after), None, ok_c, runs=len(cur)),
        change, None, None, None, None, verdict, note, verdict == REGRESSION,
    )  # fmt: skip


def compare_outputs(base: Sequence[Benchmark], cur: Sequence[Benchmark], options: CompareOptions) -> list[Comparison]:
    """Changed outputs only: the same workload must compute the same thing on both sides."""
    found = []
    for key in OUTPUT_KEYS:
        before, after = output_values(base, key), output_values(cur, key)
        if not before or not after or before == after:
            continue  # no ok round on one side: the success rate already says so
        allowed = options.allow_output_change
        note = "allowed by --allow-output-change" if allowed else "the pipeline computed something else"
        found.append(
            Comparison(
                base[0].key,
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
                note,
                not allowed,
            )  # fmt: skip
        )
    return found


def interrupted_warnings(runs: Sequence[Run]) -> tuple[str, ...]:
    """A stopped run's cut-short rounds did not fail: say so, and that success is judged without them."""
    found = []
    for run in runs:
        if run.interrupted:
            cut = sum(b.interrupted for b in run.benchmarks)
            found.append(
                f"{run.path} was interrupted ({cut} round{'' if cut == 1 else 's'} cut short): its success rates "
                "are over the rounds that ran, and rounds that never ran are not compared"
            )
    return tuple(found)


def environment_warnings(baselines: Sequence[Run], currents: Sequence[Run]) -> tuple[str, ...]:
    """Absolute numbers from different machines or software versions are not comparable."""
    found: list[str] = []
    reference = baselines[0]
    for other in (*baselines[1:], *currents):
        if reference.machine != other.machine:
            found.append(
                f"machine_info differs ({_differences(reference.machine, other.machine)}): "
                "absolute numbers from different machines are not comparable"
            )
        if reference.versions != other.versions:
            changed = _differences(reference.versions, other.versions)
            found.append(f"versions differ ({changed}): the change may not be the code's")
        if reference.concurrency != other.concurrency:
            found.append(
                f"--concurrency differs ({reference.concurrency} → {other.concurrency}): above 1 a round's total_s is "
                "the makespan of that many executions at once, so the times measure different things"
            )
    return tuple(dict.fromkeys(found))


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
