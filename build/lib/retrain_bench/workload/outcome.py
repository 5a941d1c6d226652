"""What one pipeline run computes: equal on every platform for the same case."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a pipeline run computes: equal on every platform for the same case."""

    initial_accuracy: float
    drifted_accuracy: float
    drift_detected: bool
    final_accuracy: float
    best_c: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": {
                "initial": self.initial_accuracy,
                "drifted": self.drifted_accuracy,
                "final": self.final_accuracy,
            },
            "drift_detected": self.drift_detected,
            "best_c": self.best_c,
        }
