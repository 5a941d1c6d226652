"""Calibration only: an injected slowdown in the ``tune`` tasks of alternate rounds, outside the shipped code.

``scripts/calibrate_gate.py`` puts this directory first on PYTHONPATH, so every process of a round
(the launcher, and kfp.local's task subprocesses, which inherit its environment) imports this
module at start-up. Nothing happens unless ``RETRAIN_BENCH_SLOWDOWN`` holds a JSON plan:

    {"delays": {"<platform>": seconds per tune call}, "state": DIR, "warmup": W}

A launcher process (``python -m retrain_bench.harness.launcher PLATFORM ...``, one per round) takes
the next ordinal of its platform from a counter file in DIR. Launchers start in round order (the
harness starts a round's launcher when the round starts), so the ordinal is the round's index in
the JSON (warm-up rounds first). Measured rounds with an odd ordinal after the warm-ups sleep in
every ``tune`` call; the others run unchanged. Each decision is appended to DIR/rounds.jsonl, which
the calibration reads back rather than assuming the mapping. The sleep sits inside ``tune`` (so
inside the tasks' stamps), where the suite's own slowed-down test variant sleeps.
"""

from __future__ import annotations

import fcntl
import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

PLAN = "RETRAIN_BENCH_SLOWDOWN"
#: Set by a launcher for its own round, so that task subprocesses follow the launcher's decision.
ROUND_DELAY = "RETRAIN_BENCH_SLOWDOWN_ROUND_DELAY"
TARGET = "retrain_bench.workload.retraining"


def _round_delay(plan: dict[str, Any]) -> float:
    inherited = os.environ.get(ROUND_DELAY)
    if inherited is not None:
        return float(inherited)
    if not sys.argv or not sys.argv[0].endswith(os.path.join("harness", "launcher.py")):
        return 0.0  # the pytest process or anything else: never slowed
    platform = sys.argv[1]
    state = Path(plan["state"])
    state.mkdir(parents=True, exist_ok=True)
    with (state / f"{platform}.count").open("a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        ordinal = int(counter.read() or 0)
        counter.seek(0)
        counter.truncate()
        counter.write(str(ordinal + 1))
        measured = ordinal - int(plan["warmup"])
        delay = float(plan["delays"].get(platform, 0.0)) if measured >= 0 and measured % 2 == 1 else 0.0
        with (state / "rounds.jsonl").open("a") as log:
            log.write(json.dumps({"platform": platform, "ordinal": ordinal, "delay_s": delay}) + "\n")
    os.environ[ROUND_DELAY] = repr(delay)
    return delay


def _slow_down(module: ModuleType, delay: float) -> None:
    original = module.tune

    def tune(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        return original(*args, **kwargs)

    module.tune = tune  # type: ignore[attr-defined]


class _Patch(importlib.abc.MetaPathFinder):
    """Wraps ``tune`` once the pipeline module has been executed."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader, plan = spec.loader, self.plan
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            delay = _round_delay(plan)
            if delay > 0:
                _slow_down(module, delay)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if os.environ.get(PLAN):
    sys.meta_path.insert(0, _Patch(json.loads(os.environ[PLAN])))
