"""The child process of one local round: ``python -m retrain_bench.harness.launcher PLATFORM WORKDIR FD PIPELINES``.

The case is read from WORKDIR/case.json (never the command line, which limits an argument's length).

The harness starts it in its own session (process group) with TMPDIR inside WORKDIR and its
output going to the round's log file. It imports the benchmark's package ``bench`` from the
directory PIPELINES by location (empty: the platform needs none), then its platform, writes ``{"ready": true}`` on the
status pipe FD, waits for ``go`` on stdin, runs the pipeline once, writes ``{"ok": true}`` or
``{"ok": false, "error": "..."}`` and waits for stdin to close. Nothing of the harness (pytest,
the other SDK, earlier rounds) lives in this process, so what the round costs is the platform's.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, TextIO

from retrain_bench.harness.pipelines import import_pipelines
from retrain_bench.platforms import registry
from retrain_bench.workload.cases import Case

#: the round's case in its workdir, written by the harness (``rounds.Launcher``)
CASE_FILE = "case.json"


def _say(status: TextIO, message: dict[str, Any]) -> None:
    status.write(json.dumps(message) + "\n")
    status.flush()


def main(argv: list[str]) -> int:
    platform_name, workdir, fd, pipelines = argv
    with os.fdopen(int(fd), "w") as status:
        try:
            platform = registry.platform(platform_name)
            case = Case.from_json((Path(workdir) / CASE_FILE).read_text())
            if pipelines:
                import_pipelines(Path(pipelines))
            platform.prepare()
        except Exception as exc:
            traceback.print_exc()
            _say(status, {"ready": False, "error": f"start-up failed: {type(exc).__name__}: {exc}"})
            return 1
        _say(status, {"ready": True})
        if sys.stdin.readline().strip() != "go":
            return 1  # the harness went away before the round started
        try:
            platform.run(case, Path(workdir))
        except BaseException as exc:
            traceback.print_exc()
            _say(status, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            return 1
        _say(status, {"ok": True})
        # Stay alive and idle until the harness lets go, so its last resource sample sees this
        # process with every task process already reaped into its children's CPU times.
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    raise SystemExit(main(sys.argv[1:]))
