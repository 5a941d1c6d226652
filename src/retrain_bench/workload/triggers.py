"""The retraining triggers' statistics: what ``detect_drift`` decides on, under each case's trigger.

``accuracy`` needs the labels of the new data (the study's rule); ``data_drift`` only its features,
as production monitors do when labels arrive late or never: per feature a two-sample
Kolmogorov-Smirnov test (scipy's ``ks_2samp``, exact for small samples) against train_data, with a
Bonferroni correction over the features, and the population stability index as the effect size, so
that a shift too small to matter is not a retrain just because N is large. ``always`` decides
nothing. Every number here is a plain float, so each platform records and compares the same JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

#: Floor for an empty bin's share in the PSI: ln(0) is undefined. 1e-4 is the usual floor in
#: credit-risk practice, small enough that a bin emptied by the shift still weighs heavily.
PSI_FLOOR = 1e-4


def psi(reference: npt.ArrayLike, current: npt.ArrayLike, bins: int) -> float:
    """Population stability index of ``current`` against ``reference``: sum over bins of
    (a - e) * ln(a / e), e and a the shares of reference and current in each bin. The bins cut
    ``reference`` at its quantiles 1/bins, ..., (bins-1)/bins (numpy's linear interpolation); a
    value on a cut goes to the bin above it; shares below ``PSI_FLOOR`` count as ``PSI_FLOOR``."""
    if bins < 2:
        raise ValueError(f"the PSI needs at least two bins, got {bins}")
    ref, cur = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    cuts = np.quantile(ref, [i / bins for i in range(1, bins)])
    expected = np.bincount(np.searchsorted(cuts, ref, side="right"), minlength=bins) / len(ref)
    actual = np.bincount(np.searchsorted(cuts, cur, side="right"), minlength=bins) / len(cur)
    expected, actual = np.maximum(expected, PSI_FLOOR), np.maximum(actual, PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclasses.dataclass(frozen=True)
class FeatureShift:
    """One feature's two-sample statistics."""

    feature: str
    ks_statistic: float
    ks_pvalue: float
    psi: float


def feature_shifts(reference: Any, current: Any, columns: Sequence[str], bins: int) -> tuple[FeatureShift, ...]:
    """KS and PSI of every column of ``current`` (a DataFrame) against ``reference``."""
    shifts = []
    for column in columns:
        ref, cur = reference[column].to_numpy(dtype=float), current[column].to_numpy(dtype=float)
        result = stats.ks_2samp(ref, cur)
        shifts.append(FeatureShift(column, float(result.statistic), float(result.pvalue), psi(ref, cur, bins)))
    return tuple(shifts)


def drifted_features(shifts: Sequence[FeatureShift], alpha: float, psi_threshold: float) -> tuple[str, ...]:
    """The features whose shift is both significant and material: KS p-value below ``alpha`` divided
    by the number of features tested (Bonferroni: the chance of any false alarm over all features
    stays at most ``alpha``), and PSI at least ``psi_threshold`` (0.2: the customary 'significant
    shift' line of PSI monitoring)."""
    if not shifts:
        return ()
    corrected = alpha / len(shifts)
    return tuple(s.feature for s in shifts if s.ks_pvalue < corrected and s.psi >= psi_threshold)


def data_drift_statistic(shifts: Sequence[FeatureShift], drifted: Sequence[str]) -> dict[str, Any]:
    """What the detection step records under ``data_drift``: the largest KS statistic, the smallest
    p-value, the largest PSI, and the features that drifted, in column order."""
    return {
        "ks_max": max(s.ks_statistic for s in shifts),
        "ks_pvalue_min": min(s.ks_pvalue for s in shifts),
        "psi_max": max(s.psi for s in shifts),
        "drifted_features": list(drifted),
    }
