"""Airflow's control plane on this machine (``--target=server``), measured: one start-up, several runs.

Starts the control plane once (``retrain_bench.platforms.airflow.server``) in the airflow
platform's own environment, then submits ``--runs`` runs of each case one after another through
its REST API and prints medians: control-plane start-up, submit -> done as the client sees it,
the scheduler's latency per task (queued -> started, and the previous step's end -> the next
step's start, from Airflow's own task-instance record), and the memory of the service trees
(PostgreSQL and every Airflow part with their children) while idle and at its peak during runs.

    python scripts/server_airflow.py --runs 3 --case smoke --case base
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from retrain_bench.platforms import registry
from retrain_bench.platforms.airflow.server import control_plane
from retrain_bench.platforms.environments import EnvironmentRequest, default_envs_dir, ensure, project_root
from retrain_bench.platforms.server import RunRequest, ServerContext, ServerRunner
from retrain_bench.workload.cases import CASES
from retrain_bench.workload.stamps import StampLog

MIB = 1024 * 1024
#: the harness's default: the client polls at most this often
POLL_S = 0.2


def tree(leaders: tuple[int, ...]) -> list[psutil.Process]:
    found = []
    for leader in leaders:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(leader)
            found.extend([process, *process.children(recursive=True)])
    return found


def memory(leaders: tuple[int, ...], pss: bool) -> dict[str, float]:
    """RSS (and PSS: shared pages divided among their sharers) of every process of the trees, MiB."""
    rss = pss_total = 0.0
    count = 0
    for process in tree(leaders):
        with contextlib.suppress(psutil.Error):
            if pss:
                info = process.memory_full_info()
                pss_total += info.pss
                rss += info.rss
            else:
                rss += process.memory_info().rss
            count += 1
    found = {"processes": float(count), "rss_mib": rss / MIB}
    if pss:
        found["pss_mib"] = pss_total / MIB
    return found


class Peak:
    """The largest RSS and PSS of the trees, sampled every second while runs go on."""

    def __init__(self, leaders: tuple[int, ...]) -> None:
        self.leaders = leaders
        self.rss = self.pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            seen = memory(self.leaders, pss=True)
            self.rss, self.pss = max(self.rss, seen["rss_mib"]), max(self.pss, seen["pss_mib"])
            self._stop.wait(1.0)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def latencies(timings: dict[str, Any]) -> dict[str, list[float]]:
    """Per task instance: queued -> started; and per step of the chain, the previous step's end -> its start."""
    ran = [t for t in timings["tasks"] if t["state"] == "success"]
    by_task: dict[str, list[dict[str, Any]]] = {}
    for task in ran:
        by_task.setdefault(task["task"], []).append(task)
    queued = [t["started"] - t["queued"] for t in ran]
    chain = ["make_data", "train", "detect_drift", "adapt", "c_values", "tune", "select_best", "keep_current"]
    gaps = []
    previous_end = None
    for step in chain:
        if step not in by_task:
            continue
        if previous_end is not None:
            gaps.append(min(t["started"] for t in by_task[step]) - previous_end)
        previous_end = max(t["ended"] for t in by_task[step])
    return {"queued_to_started_s": queued, "previous_end_to_start_s": gaps}


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="default: smoke and base")
    parser.add_argument("--idle-s", type=float, default=10.0, help="settle time before the idle memory sample")
    args = parser.parse_args()
    cases = args.case or ["smoke", "base"]
    root = project_root()
    sdk = registry.sdk_of("airflow")
    assert sdk is not None and sdk.own_version is not None
    env = ensure(EnvironmentRequest(sdk, sdk.own_version, root / "constraints.txt", root), default_envs_dir(root))
    with tempfile.TemporaryDirectory(prefix="server-airflow-") as scratch:
        home = Path(scratch) / "home"
        home.mkdir()
        context = ServerContext(
            python=str(env.python),
            home=home,
            pipelines=root / "bench",
            progress=lambda line: print(line, file=sys.stderr),
        )
        started = time.perf_counter()
        with control_plane(context) as runner:
            startup_s = time.perf_counter() - started
            report(runner, startup_s, cases, args.runs, args.idle_s, Path(scratch))
    return 0


def report(runner: ServerRunner, startup_s: float, cases: list[str], runs: int, idle_s: float, scratch: Path) -> None:
    facts = runner.facts()
    leaders = runner.processes()
    time.sleep(idle_s)
    idle = memory(leaders, pss=True)
    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}")
    print(
        f"control plane start-up: {startup_s:.1f} s (airflow db migrate {facts['migrate_s']:.1f} s,"
        f" PostgreSQL initdb+start {facts['database']['startup_s']:.1f} s)"
    )
    print(
        f"idle after {idle_s:g} s: {idle['processes']:.0f} processes,"
        f" RSS {idle['rss_mib']:.0f} MiB, PSS {idle['pss_mib']:.0f} MiB"
    )
    rows: dict[str, dict[str, list[float]]] = {}
    with Peak(leaders) as peak:
        for name in cases:
            rows[name] = {
                "total_s": [],
                "queue_s": [],
                "queued_to_started_s": [],
                "previous_end_to_start_s": [],
                "body_s": [],
                "instance_minus_body_s": [],
            }
            for index in range(runs):
                workdir = scratch / f"{name.replace('_', '')}{index}"
                workdir.mkdir()
                request = RunRequest(CASES[name], f"{name.replace('_', '')}{index}", workdir)
                submitted, submitted_ns = time.perf_counter(), time.time_ns()
                run = runner.submit(request)
                while not (seen := runner.poll(run)).done:
                    time.sleep(POLL_S)
                total = time.perf_counter() - submitted
                if not seen.ok:
                    raise SystemExit(f"{name} run {index} ended {seen.state}: {seen.error}")
                rows[name]["total_s"].append(total)
                timings = runner.platform_timings(run)
                for key, values in latencies(timings).items():
                    rows[name][key].extend(values)
                log = StampLog.read(request.stamps)
                rows[name]["body_s"].extend((s.end_ns - s.start_ns) / 1e9 for s in log.stamps)
                rows[name]["queue_s"].append(log.phases(submitted_ns)["queue_s"] or 0.0)
                # A task instance's life (Airflow's start -> end) minus its body (the stamp): the task
                # process's own start-up (DAG parse, imports) and its reporting back.
                by_pid = {t["pid"]: t for t in timings["tasks"] if t["pid"] is not None}
                rows[name]["instance_minus_body_s"].extend(
                    (by_pid[s.pid]["ended"] - by_pid[s.pid]["started"]) - (s.end_ns - s.start_ns) / 1e9
                    for s in log.stamps
                    if s.pid in by_pid
                )
                print(f"  {name} run {index}: {total:.1f} s", file=sys.stderr)
    print(f"peak during runs: RSS {peak.rss:.0f} MiB, PSS {peak.pss:.0f} MiB")
    print(f"load average at end: {Path('/proc/loadavg').read_text().strip()}")
    print(
        "case | runs | submit->done median s (min-max) | submit->first body s | queued->started s"
        " | prev end->start s | task body s | task instance minus body s  (medians)"
    )
    for name, row in rows.items():
        totals = row["total_s"]
        print(
            f"{name} | {len(totals)} | {median(totals)} ({min(totals):.1f}-{max(totals):.1f}) |"
            f" {median(row['queue_s'])} | {median(row['queued_to_started_s'])} |"
            f" {median(row['previous_end_to_start_s'])} | {median(row['body_s'])} |"
            f" {median(row['instance_minus_body_s'])}"
        )
    print(json.dumps({"settings": facts["settings"], "versions": facts["versions"]}, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
