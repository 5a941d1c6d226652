"""Calibration only: an injected slowdown in the ``tune`` tasks of alternate rounds, outside the shipped code.

``scripts/calibrate_gate.py`` puts this directory first on PYTHONPATH, so every process of a round
(the launcher, and kfp.local's task subprocesses, which inherit its environment) imports this
module at start-up. Nothing happens unless ``RETRAIN_BENCH_SLOWDOWN`` holds a JSON plan:

    {"factors": {"<platform>": factor}, "scale": {"<platform>": s}, "state": DIR, "warmup": W}

A launcher process (``python -m retrain_bench.harness.launcher PLATFORM ...``, one per round) takes
the next ordinal of its platform from a counter file in DIR. Launchers start in round order (the
harness starts a round's launcher when the round starts), so the ordinal is the round's index in
the JSON (warm-up rounds first). Every ``tune`` call of every round is timed and appended to
DIR/calls.jsonl (undelayed rounds too, so both halves of a run carry the same instrument). In
measured rounds with an odd ordinal after the warm-ups each call, once it has run, sleeps
``(factor - 1) × s`` times as long as it took. ``s`` is the phase's time over its tune calls' time
(``retrain_tune_s`` also holds select_best and the executor's own steps, most of Flyte's phase), so
the phase, not only the calls, grows about ``factor ×``; and as the sleep follows each call's own
time it moves with the machine's load (a delay fixed from an earlier run drifts as the load does).
Each round's decision goes to DIR/rounds.jsonl; the calibration reads both files back rather than
assuming the mapping. The sleep sits inside ``tune`` (so inside the tasks' stamps), where the
suite's own slowed-down test variant sleeps.
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
ROUND_FACTOR = "RETRAIN_BENCH_SLOWDOWN_ROUND_FACTOR"
ROUND_ORDINAL = "RETRAIN_BENCH_SLOWDOWN_ROUND"
TARGET = "retrain_bench.workload.retraining"


def _round_factor(plan: dict[str, Any]) -> float | None:
    """The factor of this process's round; None outside a round (the pytest process, anything else)."""
    inherited = os.environ.get(ROUND_FACTOR)
    if inherited is not None:
        return float(inherited)
    if not sys.argv or not sys.argv[0].endswith(os.path.join("harness", "launcher.py")):
        return None
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
        factor = float(plan["factors"].get(platform, 1.0)) if measured >= 0 and measured % 2 == 1 else 1.0
        with (state / "rounds.jsonl").open("a") as log:
            log.write(json.dumps({"platform": platform, "ordinal": ordinal, "factor": factor}) + "\n")
    os.environ[ROUND_FACTOR] = repr(factor)
    os.environ[ROUND_ORDINAL] = f"{platform} {ordinal}"
    return factor


def _instrument(module: ModuleType, factor: float, plan: dict[str, Any]) -> None:
    original = module.tune
    platform, ordinal = os.environ[ROUND_ORDINAL].split(" ")
    stretch = (factor - 1.0) * float(plan.get("scale", {}).get(platform, 1.0))
    state = Path(plan["state"])

    def tune(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = original(*args, **kwargs)
        took = time.perf_counter() - started
        if stretch > 0:
            time.sleep(stretch * took)
        with (state / "calls.jsonl").open("a") as log:  # one short append: parallel kfp tasks do not tear it
            record = {"platform": platform, "ordinal": int(ordinal), "tune_s": took, "slept_s": stretch * took}
            log.write(json.dumps(record) + "\n")
        return result

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
            factor = _round_factor(plan)
            if factor is not None:
                _instrument(module, factor, plan)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if os.environ.get(PLAN):
    sys.meta_path.insert(0, _Patch(json.loads(os.environ[PLAN])))
