"""Tests only: a known delay in importing an SDK, in round launchers only, to show where start-up lands.

A test puts this directory first on PYTHONPATH and sets ``RETRAIN_BENCH_SLOW_IMPORT`` to
``{"modules": [...], "seconds": S, "log": PATH}``. In a launcher process (``python -m
retrain_bench.harness.launcher ...``) the first import of any of those modules sleeps S seconds and
appends ``{"platform", "module", "start_ns", "end_ns"}`` to PATH. Anything else (the harness's
pytest, a session service's subprocess) imports them unchanged.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from typing import Any

PLAN = "RETRAIN_BENCH_SLOW_IMPORT"


class _Slow(importlib.abc.MetaPathFinder):
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name not in self.plan["modules"]:
            return None
        sys.meta_path.remove(self)  # once per process
        if sys.argv and sys.argv[0].endswith(os.path.join("harness", "launcher.py")):
            start = time.time_ns()
            time.sleep(float(self.plan["seconds"]))
            line = {"platform": sys.argv[1], "module": name, "start_ns": start, "end_ns": time.time_ns()}
            with open(self.plan["log"], "a") as log:
                log.write(json.dumps(line) + "\n")
        return None  # the normal finders import it


if os.environ.get(PLAN):
    sys.meta_path.insert(0, _Slow(json.loads(os.environ[PLAN])))
