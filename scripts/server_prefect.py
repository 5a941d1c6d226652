"""What Prefect's production path costs on this machine: start-up, submit -> done, scheduler latency, memory.

    python scripts/server_prefect.py [--runs 4] [--cases smoke,base]

Starts the server target's control plane once (server, process work pool + deployment, worker;
``retrain_bench.platforms.prefect.server``) from the platform's own environment, then runs each
case ``--runs`` times one after the other through the same runner the harness uses, polling every
0.2 s. Prints medians (and the first run apart: the worker's first flow-run process warms the page
cache): submit -> done as the client sees it, the run's own phases from Prefect's record, per-task
scheduler latency (a task run's queued -> started, and the previous task's end -> the next task's
start), and the PSS/RSS of the services' process trees idle and at their peak during the runs. A
measurement, not a test: the figures move with the machine's load, printed beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from retrain_bench.platforms import registry
from retrain_bench.platforms.environments import EnvironmentRequest, default_envs_dir, ensure
from retrain_bench.platforms.prefect.server import control_plane
from retrain_bench.platforms.server import RunRequest, ServerContext
from retrain_bench.workload.cases import CASES

REPO = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def tree_memory(leaders: Sequence[int]) -> tuple[int, int]:
    """PSS and RSS (bytes) summed over the leaders' process trees."""
    pss = rss = 0
    for leader in leaders:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(leader)
            for process in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    info = process.memory_full_info()
                    pss += info.pss
                    rss += info.rss
    return pss, rss


def median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def latencies(timings: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Per task: queued -> started; and for each task that started after another ended, the latest
    such end -> its start (the scheduler's hand-over between dependent steps)."""
    tasks = [t for t in timings["tasks"] if None not in (t["queued"], t["started"], t["ended"])]
    queued = [t["started"] - t["queued"] for t in tasks]
    handover = []
    for task in tasks:
        before = [t["ended"] for t in tasks if t["ended"] <= task["started"]]
        if before:
            handover.append(task["started"] - max(before))
    return queued, handover


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--cases", default="smoke,base")
    args = parser.parse_args()
    sdk = registry.sdk_of("prefect")
    assert sdk is not None and sdk.own_version is not None
    env = ensure(EnvironmentRequest(sdk, sdk.own_version, REPO / "constraints.txt", REPO), default_envs_dir(REPO))
    print(f"load before: {load()} ({psutil.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="retrain-bench-server-prefect-") as tmp:
        root = Path(tmp)
        context = ServerContext(python=str(env.python), home=root / "home", pipelines=REPO / "bench", progress=print)
        context.home.mkdir()
        started = time.perf_counter()
        with control_plane(context) as runner:
            up = time.perf_counter() - started
            startup = runner.facts()["startup_s"]
            print(f"control plane up in {up:.1f} s: " + ", ".join(f"{k} {v:.1f}" for k, v in startup.items()))
            time.sleep(5.0)  # let the services settle before the idle figure
            idle = []
            for _ in range(5):
                idle.append(tree_memory(runner.processes()))
                time.sleep(0.5)
            idle_pss, idle_rss = statistics.median(p for p, _ in idle), statistics.median(r for _, r in idle)
            print(f"idle services: PSS {idle_pss / MiB:.0f} MiB, RSS {idle_rss / MiB:.0f} MiB (median of 5)")
            peak_pss = peak_rss = 0
            for name in args.cases.split(","):
                case = CASES[name]
                totals: list[float] = []
                phases: dict[str, list[float]] = {"pickup": [], "process": [], "to_first_task": [], "tail": []}
                queued: list[float] = []
                handover: list[float] = []
                for index in range(args.runs):
                    workdir = root / f"{name}-{index}"
                    workdir.mkdir()
                    request = RunRequest(case=case, name=f"{name.replace('_', '')}{index}", workdir=workdir)
                    began = time.perf_counter()
                    run = runner.submit(request)
                    while not (poll := runner.poll(run)).done:
                        pss, rss = tree_memory(runner.processes())
                        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
                        time.sleep(0.2)
                    total = time.perf_counter() - began
                    if not poll.ok:
                        raise SystemExit(f"{name} run {index} ended {poll.state}: {poll.error}")
                    timings = runner.platform_timings(run)
                    first_task = min(t["started"] for t in timings["tasks"])
                    last_task = max(t["ended"] for t in timings["tasks"])
                    print(
                        f"  {name} #{index}: submit -> done {total:.2f} s (worker took it +"
                        f"{timings['submitted'] - timings['queued']:.2f} s, flow running +"
                        f"{timings['started'] - timings['queued']:.2f} s, tasks {last_task - first_task:.2f} s)"
                    )
                    if index == 0:
                        continue  # the first run is printed, not in the medians
                    totals.append(total)
                    phases["pickup"].append(timings["submitted"] - timings["queued"])
                    phases["process"].append(timings["started"] - timings["submitted"])
                    phases["to_first_task"].append(first_task - timings["started"])
                    phases["tail"].append(timings["ended"] - last_task)
                    waits, gaps = latencies(timings)
                    queued += waits
                    handover += gaps
                print(
                    f"{name}: median of {len(totals)} after the first: submit -> done {median(totals)} s;"
                    f" submit -> worker took it {median(phases['pickup'])} s; -> flow running (process start)"
                    f" {median(phases['process'])} s; running -> first task {median(phases['to_first_task'])} s;"
                    f" last task -> run ended {median(phases['tail'])} s; per task queued -> started"
                    f" {median(queued)} s (n={len(queued)}); previous end -> next start {median(handover)} s"
                    f" (n={len(handover)})"
                )
            print(f"peak during the runs: PSS {peak_pss / MiB:.0f} MiB, RSS {peak_rss / MiB:.0f} MiB")
        print(f"load after: {load()}")


if __name__ == "__main__":
    main()
