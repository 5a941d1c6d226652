"""The workload: every knob that decides what a round computes, pinned and hashed.

Results and comparisons match on ``(platform, target, case name, case hash)``, so a change to any
knob here changes the hash and old baselines stop matching instead of silently comparing apples
with pears.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

#: Rows of ``train_data`` (and of ``drifted_data``) in the base case: the N of ``docs/metrics.md``.
BASE_ROWS = 2000
#: The tuning grid of Table 3.
TUNING_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
#: How ``drifted_data`` differs from ``train_data`` (``retraining.make_data`` says how each is drawn).
DRIFT_KINDS: tuple[str, ...] = ("concept", "none", "covariate", "relabel")
#: What decides to retrain (``retraining.detect_drift``): held-out accuracy falling, a shift of the
#: features' distributions (no labels needed), or a scheduled retrain that decides nothing.
TRIGGERS: tuple[str, ...] = ("accuracy", "data_drift", "always")
#: Knobs added after the study's cases had published hashes: they join the hash only when they
#: matter (trigger away from its default; the data-drift thresholds under that trigger), so a case
#: that computes what it computed before keeps its hash and its baselines.
_TRIGGER_DEFAULT = "accuracy"
_DATA_DRIFT_KNOBS = ("ks_alpha", "psi_threshold", "psi_bins")


@dataclasses.dataclass(frozen=True)
class Case:
    """One workload. Everything except ``name`` goes into the hash."""

    name: str
    rows: int
    grid: tuple[float, ...]
    features: int = 20
    informative: int = 10
    test_fraction: float = 0.25
    seed: int = 7
    #: ``concept`` draws drifted_data from a differently seeded generator (a new concept);
    #: ``none`` draws it from the same generator as train_data (the control case).
    drift: str = "concept"
    drift_seed: int = 1009
    #: Drift is declared when accuracy on drifted_data falls more than this below the
    #: held-out accuracy on train_data.
    drift_threshold: float = 0.10
    max_iter: int = 1000
    #: One of ``TRIGGERS``.
    trigger: str = _TRIGGER_DEFAULT
    #: ``data_drift``: a feature has drifted when its two-sample Kolmogorov-Smirnov p-value is below
    #: ``ks_alpha / features`` (Bonferroni) and its population stability index (``psi_bins`` bins at
    #: train_data's quantiles) is at least ``psi_threshold``; drift when any feature has.
    ks_alpha: float = 0.05
    psi_threshold: float = 0.2
    psi_bins: int = 10
    #: For tests (registered by a test plugin with ``add_case``, never shipped). A variant runs the
    #: same workload (same name, same hash, same results) but sleeps ``tune_delay_s`` in every
    #: ``tune`` body: a deliberately slower pipeline, to show that ``compare`` catches a slowdown
    #: without patching any code. Never part of the hash.
    variant: str = ""
    tune_delay_s: float = 0.0

    @property
    def key(self) -> str:
        """How ``--case`` names it: the name, or ``name:variant``."""
        return f"{self.name}:{self.variant}" if self.variant else self.name

    def knobs(self) -> dict[str, Any]:
        """The knobs the hash is taken over (see ``_TRIGGER_DEFAULT`` for those left out)."""
        knobs = dataclasses.asdict(self)
        for identity_free in ("name", "variant", "tune_delay_s"):
            del knobs[identity_free]
        if self.trigger == _TRIGGER_DEFAULT:
            del knobs["trigger"]
        if self.trigger != "data_drift":
            for unused in _DATA_DRIFT_KNOBS:
                del knobs[unused]
        knobs["grid"] = list(self.grid)
        return knobs

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.knobs(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def as_dict(self) -> dict[str, Any]:
        """The record written into the JSON and handed to every platform."""
        # The trigger is there when it is not the default: the study's records stay as they were.
        record = {"name": self.name, **self.knobs(), "hash": self.hash}
        if self.variant:
            record.update(variant=self.variant, tune_delay_s=self.tune_delay_s)
        return record

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Case:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["grid"] = tuple(float(c) for c in values["grid"])
        case = cls(**values)
        if case.trigger not in TRIGGERS:
            raise ValueError(f"case {case.name!r}: unknown trigger {case.trigger!r}; one of {', '.join(TRIGGERS)}")
        if "hash" in data and data["hash"] != case.hash:
            raise ValueError(f"case {case.name!r}: hash {data['hash']} does not match its knobs")
        return case

    @classmethod
    def from_json(cls, text: str) -> Case:
        return cls.from_dict(json.loads(text))


def log_grid(k: int) -> tuple[float, ...]:
    """k C values log-spaced over [0.01, 100]; k = 1 gives (1.0,)."""
    if k < 1:
        raise ValueError(f"a grid needs at least one C value, got {k}")
    if k == 1:
        return (1.0,)
    return tuple(round(10 ** (-2 + 4 * i / (k - 1)), 10) for i in range(k))


CASES: dict[str, Case] = {
    case.key: case
    for case in (
        Case("base", rows=BASE_ROWS, grid=(1.0,)),
        Case("scaling", rows=3 * BASE_ROWS, grid=(1.0,)),
        Case("tuning", rows=BASE_ROWS, grid=TUNING_GRID),
        Case("no_drift", rows=BASE_ROWS, grid=(1.0,), drift="none"),
        # Not part of the study: a tiny drifting case with a two-value grid, for the suite's own
        # tests and CI, where every second counts.
        Case("smoke", rows=200, grid=(0.1, 1.0)),
        # Why the trigger matters (not run by default): the same data under two triggers each.
        # Covariate shift: the features move, the concept holds, accuracy holds.
        Case("covariate", rows=BASE_ROWS, grid=(0.1, 1.0), drift="covariate"),
        Case("covariate_data_drift", rows=BASE_ROWS, grid=(0.1, 1.0), drift="covariate", trigger="data_drift"),
        # Concept change without marginal shift: the features' distribution holds, the labels' rule changes.
        Case("relabel", rows=BASE_ROWS, grid=(0.1, 1.0), drift="relabel"),
        Case("relabel_data_drift", rows=BASE_ROWS, grid=(0.1, 1.0), drift="relabel", trigger="data_drift"),
        # A scheduled retrain: nothing changed, it tunes anyway.
        Case("scheduled", rows=BASE_ROWS, grid=(0.1, 1.0), drift="none", trigger="always"),
    )
}
#: What ``--case`` selects by default: the study's three tables plus the control.
DEFAULT_CASES: tuple[str, ...] = ("base", "scaling", "tuning", "no_drift")
#: The cases that show what the trigger decides.
TRIGGER_CASES: tuple[str, ...] = ("covariate", "covariate_data_drift", "relabel", "relabel_data_drift", "scheduled")


def add_case(case: Case) -> None:
    """Make ``case`` selectable with ``--case`` in this process (a test plugin's variant, say).
    The launcher needs no registration: it receives the whole case."""
    if case.key in CASES and CASES[case.key] != case:
        raise ValueError(f"case {case.key!r} is already registered with other knobs")
    CASES[case.key] = case


def select_cases(names: Iterable[str]) -> tuple[Case, ...]:
    """The cases with these keys, in the order given; KeyError for unknown ones."""
    return tuple(case_for(name) for name in names)


#: The case every sweep varies, one dimension at a time.
SWEEP_BASE = "base"


def sweep_keys(scales: Iterable[int], fanouts: Iterable[int]) -> tuple[str, ...]:
    """Stable keys of the sweep cases: ``base@scale=K`` (K × N rows) and ``base@fanout=K`` (K C values)."""
    return (*(f"{SWEEP_BASE}@scale={k}" for k in scales), *(f"{SWEEP_BASE}@fanout={k}" for k in fanouts))


def case_for(key: str) -> Case:
    """A registered case, or the sweep case a ``base@scale=K`` / ``base@fanout=K`` key names."""
    if key in CASES:
        return CASES[key]
    base_key, at, spec = key.partition("@")
    dimension, _, value = spec.partition("=")
    if not at or base_key not in CASES or not value.isdigit() or int(value) < 1:
        raise KeyError(key)
    base, k = CASES[base_key], int(value)
    if dimension == "scale":
        return dataclasses.replace(base, name=key, rows=base.rows * k)
    if dimension == "fanout":
        return dataclasses.replace(base, name=key, grid=log_grid(k))
    raise KeyError(key)
