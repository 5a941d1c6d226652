"""The resource figures of one round in one scope: an immutable value, missing kept apart from zero."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

GIB = 1024**3
#: The figures every source produces, in the units of ``docs/metrics.md``.
FIGURES = ("memory_peak_gib", "memory_avg_gib", "cpu_seconds", "cpu_avg_mcpu", "cpu_peak_mcpu")
#: Resource scopes in the JSON: local ``process_tree``; cluster ``execution``, ``platform``, ``node``.
SCOPES = ("process_tree", "execution", "platform", "node")


@dataclasses.dataclass(frozen=True)
class ResourceStats:
    """CPU and memory over one window in one scope.

    ``scope`` is ``process_tree`` (local), ``execution``, ``platform`` or ``node`` (cluster);
    ``source`` says where the numbers come from (``psutil`` or ``prometheus``). A figure that
    could not be measured is None and ``missing`` says why; it is never 0 for lack of data.
    ``details`` holds what a reader needs to trust the figures: query text, step, rate window,
    the RSS beside PSS, the baseline before "go", pods seen versus expected, and so on.
    """

    scope: str
    source: str
    window_s: float
    samples: int
    memory_peak_gib: float | None
    memory_avg_gib: float | None
    cpu_seconds: float | None
    cpu_avg_mcpu: float | None
    cpu_peak_mcpu: float | None
    cpu_peak_window_s: float | None
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    missing: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in FIGURES:
            if getattr(self, name) is None and name not in self.missing:
                raise ValueError(f"{name} is None without a reason in missing")

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["details"], data["missing"] = dict(self.details), dict(self.missing)
        return data


def cpu_avg_mcpu(cpu_seconds: float | None, window_s: float) -> float | None:
    """``1000 × cpu_seconds / window``: the same formula on every target."""
    if cpu_seconds is None or window_s <= 0:
        return None
    return 1000.0 * cpu_seconds / window_s
