"""Growth laws of the sweeps: ``t = a + b·x^k`` fitted per platform, metric and sweep axis (pure, scipy).

Axes. ``scale``: x = rows / the base case's rows (``base@scale=K`` has x = K); ``fanout``: x = the
number of C values in the grid (``base@fanout=K`` has x = K). Plain ``base`` is the same workload
as ``base@scale=1`` and ``base@fanout=1`` (same knobs, same hash), so it counts as x = 1 on an axis
that has sweep points but no x = 1 point of its own; when the sweep has its own x = 1 point, plain
``base`` is left out rather than pooled with it (they ran at different places in the schedule).

Fits run on the per-round values (every ok measured round is a point), not on the means, so the
scatter between rounds reaches the standard errors. ``scipy.optimize.curve_fit`` (trust-region
reflective, bounds a ≥ 0, b ≥ 0, 0 ≤ k ≤ 4); the standard errors are the square roots of the
covariance's diagonal, which curve_fit scales by the residual variance (``absolute_sigma=False``).
Fewer than ``MIN_POINTS`` distinct x values, a flat series, a fit pinned to a bound of k or with
b = 0, or a covariance that cannot be estimated: not fitted, with the reason, never a made-up k.

Overhead over bare: at each x, each of the platform's rounds is paired with bare's round of the same
index (the two ran in the same cycle of the interleaved schedule); the fit runs on the differences.
A fixed start-up cost then sits in ``a`` and cannot make a platform's own exponent look smaller.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from retrain_bench.analysis.metrics import TOTAL_SCOPES, resource_key
from retrain_bench.platforms import registry
from retrain_bench.results.model import Benchmark
from retrain_bench.workload.cases import CASES, SWEEP_BASE

if TYPE_CHECKING:  # numpy and scipy are imported where a curve is fitted, not with the plugin's summary
    import numpy as np

#: A curve with three parameters needs at least four distinct x values to say anything about k.
MIN_POINTS = 4
K_BOUNDS = (0.0, 4.0)
#: Below this share of the series' spread, b (or k) counts as zero: no growth to take an exponent of.
FLAT = 1e-9
AXES = ("scale", "fanout")
AXIS_LABELS = {"scale": "rows (× base rows)", "fanout": "fan-out (C values)"}
#: Times, then the resource figures read from the widest scope a platform has (the study's "total").
GROWTH_METRICS = ("total_s", "retrain_tune_s", "memory_peak_gib", "memory_avg_gib", "cpu_seconds")
RESOURCE_METRICS = frozenset(GROWTH_METRICS[2:])
_SWEEP = re.compile(rf"^{re.escape(SWEEP_BASE)}@(scale|fanout)=(\d+)$")


@dataclasses.dataclass(frozen=True)
class Fit:
    """``a + b·x^k`` with standard errors, or ``missing`` saying why there is no fit."""

    points: int
    values: int
    a: float | None = None
    b: float | None = None
    k: float | None = None
    se_a: float | None = None
    se_b: float | None = None
    se_k: float | None = None
    missing: str | None = None

    def at(self, x: np.ndarray) -> np.ndarray:
        if self.a is None or self.b is None or self.k is None:
            raise ValueError("no fit to evaluate")
        import numpy as np

        return self.a + self.b * np.power(x, self.k)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _model(x: np.ndarray, a: float, b: float, k: float) -> np.ndarray:
    import numpy as np

    return a + b * np.power(x, k)


def fit_power(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """Least-squares ``a + b·x^k`` over these points (x > 0), or a Fit saying why not."""
    import numpy as np
    from scipy.optimize import OptimizeWarning, curve_fit

    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    distinct = len(set(x.tolist()))
    n = len(x)
    if distinct < MIN_POINTS:
        return Fit(distinct, n, missing=f"not fitted: {distinct} points, need {MIN_POINTS}")
    spread = float(np.ptp(y))
    if spread == 0:
        return Fit(distinct, n, missing=f"not fitted: every value is {y[0]:.4g}, no growth to take an exponent of")
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    failure = ""
    # A few starting exponents: the surface is not convex in k and one start can stall on a plateau.
    for k0 in (0.5, 1.0, 2.0):
        b0 = max(spread / (x.max() ** k0 - x.min() ** k0), FLAT)
        a0 = max(float(y.min()) - b0 * x.min() ** k0, 0.0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", OptimizeWarning)
                popt, pcov = curve_fit(
                    _model, x, y, p0=(a0, b0, k0), bounds=((0.0, 0.0, K_BOUNDS[0]), (np.inf, np.inf, K_BOUNDS[1])),
                    method="trf", x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=20_000,
                )  # fmt: skip
        except (RuntimeError, ValueError, OptimizeWarning) as exc:
            failure = str(exc).splitlines()[0]
            continue
        rss = float(np.sum((_model(x, *popt) - y) ** 2))
        if best is None or rss < best[0]:
            best = (rss, popt, pcov)
    if best is None:
        return Fit(distinct, n, missing=f"not fitted: the fit failed ({failure})")
    _, popt, pcov = best
    a, b, k = (float(v) for v in popt)
    if a < 1e-12 * float(np.max(np.abs(y))):
        # The bound a ≥ 0 is active: what the optimiser leaves above it is round-off, not an intercept.
        a = 0.0
    se = np.sqrt(np.diag(pcov))
    if b * (x.max() ** k - x.min() ** k) <= FLAT * spread or k <= K_BOUNDS[0] + 1e-6:
        return Fit(distinct, n, missing="not fitted: no growth with x (b·x^k is flat), so k is undefined")
    if k >= K_BOUNDS[1] - 1e-6:
        return Fit(distinct, n, missing=f"not fitted: k reached its bound {K_BOUNDS[1]:g}")
    if not all(math.isfinite(float(s)) for s in se):
        return Fit(distinct, n, missing="not fitted: the covariance of the parameters cannot be estimated")
    return Fit(distinct, n, a=a, b=b, k=k, se_a=float(se[0]), se_b=float(se[1]), se_k=float(se[2]))


@dataclasses.dataclass(frozen=True)
class Series:
    """One platform's metric along one axis: the per-round points and their fit.

    ``overhead`` series hold platform − bare for rounds paired by index at each x.
    """

    platform: str
    metric: str
    key: str | None
    points: tuple[tuple[float, float], ...]
    fit: Fit
    overhead: bool = False

    @property
    def scope(self) -> str | None:
        return self.key.split(".")[1] if self.key and self.key.startswith("resources.") else None


@dataclasses.dataclass(frozen=True)
class AxisGrowth:
    axis: str
    target: str
    #: x per case name, as found in the runs
    cases: tuple[tuple[str, float], ...]
    series: tuple[Series, ...]


def axis_point(entry: Benchmark) -> tuple[str, float] | None:
    """(axis, x) of a sweep case; None for every other case (plain base is decided by the caller)."""
    found = _SWEEP.match(entry.key.case)
    if found is None:
        return None
    axis, case = found.group(1), entry.case
    if axis == "scale":
        return axis, case["rows"] / CASES[SWEEP_BASE].rows
    return axis, float(len(case["grid"]))


def build_growth(found: Sequence[Benchmark]) -> tuple[AxisGrowth, ...]:
    """Every sweep axis of every target, in AXES order; empty when the runs hold no sweep."""
    result = []
    targets = list(dict.fromkeys(e.key.target for e in found))
    for target in targets:
        for axis in AXES:
            on_axis = _axis_entries(found, target, axis)
            if not on_axis:
                continue
            cases = tuple(sorted({(e.key.case, x) for x, e in on_axis}, key=lambda c: (c[1], c[0])))
            result.append(AxisGrowth(axis, target, cases, _axis_series(on_axis)))
    return tuple(result)


def _axis_entries(found: Sequence[Benchmark], target: str, axis: str) -> list[tuple[float, Benchmark]]:
    points: list[tuple[float, Benchmark]] = []
    for entry in found:
        where = axis_point(entry) if entry.key.target == target else None
        if where is not None and where[0] == axis:
            points.append((where[1], entry))
    if not points:
        return []
    for entry in found:
        if entry.key.target == target and entry.key.case == SWEEP_BASE:
            has_one = any(x == 1.0 and e.key.column == entry.key.column for x, e in points)
            if not has_one:
                points.append((1.0, entry))
    return points


def _platforms(on_axis: Sequence[tuple[float, Benchmark]]) -> list[str]:
    present = {e.key.column for _, e in on_axis}
    return list(registry.in_order(present))


def _axis_series(on_axis: Sequence[tuple[float, Benchmark]]) -> tuple[Series, ...]:
    by_platform: dict[str, list[tuple[float, Benchmark]]] = {}
    for x, entry in on_axis:
        by_platform.setdefault(entry.key.column, []).append((x, entry))
    platforms = _platforms(on_axis)
    metrics = [m for m in GROWTH_METRICS if _key_for(m, [e for _, e in on_axis]) is not None]
    series: list[Series] = []
    for metric in metrics:
        for platform in platforms:
            series.append(_series(platform, metric, by_platform[platform]))
    reference = registry.reference()
    if reference in by_platform:
        for metric in metrics:
            for platform in platforms:
                if platform != reference:
                    series.append(_overhead(platform, metric, by_platform[platform], by_platform[reference]))
    return tuple(series)


def _key_for(metric: str, entries_: Sequence[Benchmark]) -> str | None:
    """The dotted key a metric is read from: a time key, or the widest scope with a value in any round."""
    if metric not in RESOURCE_METRICS:
        return metric if any(e.numbers(metric) for e in entries_) else None
    for scope in TOTAL_SCOPES:
        key = resource_key(scope, metric)
        if any(e.numbers(key) for e in entries_):
            return key
    return None


def _series(platform: str, metric: str, points: Sequence[tuple[float, Benchmark]]) -> Series:
    key = _key_for(metric, [e for _, e in points])
    if key is None:
        return Series(platform, metric, None, (), Fit(0, 0, missing="not fitted: no value in any round"))
    values = tuple((x, v) for x, entry in sorted(points, key=lambda p: p[0]) for v in entry.numbers(key).values())
    return Series(platform, metric, key, values, fit_power([x for x, _ in values], [v for _, v in values]))


def _overhead(
    platform: str, metric: str, points: Sequence[tuple[float, Benchmark]], reference: Sequence[tuple[float, Benchmark]]
) -> Series:
    key = _key_for(metric, [e for _, e in points])
    ref_key = _key_for(metric, [e for _, e in reference])
    if key is None or ref_key is None:
        return Series(platform, metric, key, (), Fit(0, 0, missing="not fitted: no value in any round"), overhead=True)
    if key != ref_key:
        reason = f"not fitted: scopes differ ({key} vs bare's {ref_key})"
        return Series(platform, metric, key, (), Fit(0, 0, missing=reason), overhead=True)
    bare_at = {x: e.numbers(key) for x, e in reference}
    diffs: list[tuple[float, float]] = []
    for x, entry in sorted(points, key=lambda p: p[0]):
        bare = bare_at.get(x, {})
        own = entry.numbers(key)
        diffs += [(x, own[i] - bare[i]) for i in sorted(own) if i in bare]
    fit = fit_power([x for x, _ in diffs], [d for _, d in diffs])
    return Series(platform, metric, key, tuple(diffs), fit, overhead=True)
