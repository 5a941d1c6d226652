"""What Dagster's control plane costs on this machine (``--target=server``): medians over several runs.

    python scripts/server_dagster.py [--runs 3] [--cases smoke,base] [--json OUT]

Starts the control plane once (code server, webserver, daemon; ``platforms/dagster/server.py``) in
the dagster environment (built or reused under ``.retrain-bench/envs``), then prints:

- start-up: each part until healthy, and the whole (one start per invocation);
- idle memory: PSS and RSS of every service process tree, summed, sampled for a few seconds
  before the first run (median);
- per case, ``--runs`` runs one after another, each submitted through GraphQL and polled every
  0.2 s: submit -> done as the client sees it; the run's launch (enqueued -> run worker started);
  per step the scheduler's latency, queued -> started (the executor launching the step's process
  until the op starts in it) and the previous step's end -> this step's start; the service trees'
  peak PSS during the run (the runs' own processes included: they are the code server's children).

Not a test: nothing is asserted. ``/proc/loadavg`` is printed before and after, since every figure
moves with the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

from retrain_bench.platforms import registry
from retrain_bench.platforms.dagster import server
from retrain_bench.platforms.dagster.runner import DagsterRunner
from retrain_bench.platforms.environments import EnvironmentRequest, default_envs_dir, ensure
from retrain_bench.platforms.server import RunRequest, ServerContext
from retrain_bench.workload.cases import CASES

REPO = Path(__file__).resolve().parent.parent
POLL_S = 0.2
MIB = 1024 * 1024


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def tree_memory(leaders: Iterable[int]) -> tuple[int, int]:
    """PSS and RSS (bytes) of the leaders and all their descendants."""
    pss = rss = 0
    for leader in leaders:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(leader)
            for process in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    info = process.memory_full_info()
                    pss, rss = pss + info.pss, rss + info.rss
    return pss, rss


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def step_latencies(timings: dict[str, Any]) -> tuple[list[float], list[float]]:
    """queued -> started of every step that ran, and the previous step's end -> its start (the
    latest end before it started: the step it waited for, on this chain-shaped graph)."""
    ran = sorted((t for t in timings["tasks"] if t["started"] is not None), key=lambda t: t["started"])
    queued = [t["started"] - t["queued"] for t in ran if t["queued"] is not None]
    handoff = []
    for task in ran:
        before = [t["ended"] for t in ran if t["ended"] is not None and t["ended"] <= task["started"]]
        if before:
            handoff.append(task["started"] - max(before))
    return queued, handoff


def one_run(runner: DagsterRunner, case_name: str, workdir: Path, name: str) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    request = RunRequest(CASES[case_name], name, workdir)
    peak_pss = 0
    submitted = time.time()
    run = runner.submit(request)
    while not (poll := runner.poll(run)).done:
        peak_pss = max(peak_pss, tree_memory(runner.processes())[0])
        time.sleep(POLL_S)
    done = time.time()
    if not poll.ok:
        raise SystemExit(f"run {name} of {case_name} ended {poll.state}: {poll.error}")
    timings = runner.platform_timings(run)
    queued, handoff = step_latencies(timings)
    return {
        "submit_to_done_s": done - submitted,
        "launch_s": timings["started"] - timings["queued"],
        "step_queued_to_started_s": median(queued),
        "step_handoff_s": median(handoff),
        "peak_pss_mib": peak_pss / MIB,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default="smoke,base")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sdk = registry.sdk_of("dagster")
    assert sdk is not None and sdk.own_version is not None
    env = ensure(EnvironmentRequest(sdk, sdk.own_version, REPO / "constraints.txt", REPO), default_envs_dir(REPO))
    out: dict[str, Any] = {"load_before": loadavg(), "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="server-dagster-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        context = ServerContext(str(env.python), home, REPO / "bench", lambda line: print(line, file=sys.stderr))
        with server.control_plane(context) as runner:
            out["startup_s"] = runner.settings.startup_s
            time.sleep(5.0)  # let the start-up's own work settle before "idle"
            idle = []
            for _ in range(10):
                idle.append(tree_memory(runner.processes()))
                time.sleep(0.5)
            out["idle_pss_mib"] = median([p / MIB for p, _ in idle])
            out["idle_rss_mib"] = median([r / MIB for _, r in idle])
            out["cases"] = {}
            for case_name in args.cases.split(","):
                runs = [
                    one_run(runner, case_name, Path(tmp) / f"{case_name}-{i}", f"{case_name.replace('_', '')}{i}")
                    for i in range(args.runs)
                ]
                for r in runs:
                    print(f"{case_name}: " + ", ".join(f"{k}={v:.2f}" for k, v in r.items() if v is not None))
                out["cases"][case_name] = {key: median([r[key] for r in runs if r[key] is not None]) for key in runs[0]}
    out["load_after"] = loadavg()
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
