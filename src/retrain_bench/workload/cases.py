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
        knobs = dataclasses.asdict(self)
        for identity_free in ("name", "variant", "tune_delay_s"):
            del knobs[identity_free]
        knobs["grid"] = list(self.grid)
        return knobs

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.knobs(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def as_dict(self) -> dict[str, Any]:
        """The record written into the JSON and handed to every platform."""
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
    )
}
#: What ``--case`` selects by default: the study's three tables plus the control.
DEFAULT_CASES: tuple[str, ...] = ("base", "scaling", "tuning", "no_drift")


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
