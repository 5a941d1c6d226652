"""How much the process-tree sampler costs, and how close it gets, measured in one run.

    python scripts/sampler_overhead.py [--others 300] [--rounds 7]

1. One sampling tick, incremental walk vs a full scan (psutil's children(recursive=True), which
   reads every process's parent each time), on a host with --others extra idle processes.
2. A bare/smoke round with the sampler at 10 Hz vs off, interleaved, median of --rounds each.
3. Accuracy: a tree whose parent starts two children that each burn 0.5 s of CPU while holding
   200 MiB, then reports its own user+system+children times (the kernel's truth); compared with
   the sampler's cpu_seconds and memory peak.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

from retrain_bench.harness.local import run_local_round
from retrain_bench.measure.sampler import TreeSampler
from retrain_bench.workload.cases import CASES


def tick_costs(others: int, ticks: int = 200) -> tuple[float, float]:
    idle = [subprocess.Popen(["sleep", "600"]) for _ in range(others)]
    root = subprocess.Popen(
        [sys.executable, "-c", "import subprocess,sys; subprocess.run(['sleep','600'])"],
    )
    try:
        time.sleep(0.5)
        sampler = TreeSampler(root.pid, hz=10)
        sampler.sample()  # the first tick reads every parent once
        incremental = []
        for _ in range(ticks):
            t = time.perf_counter()
            sampler.sample()
            incremental.append(time.perf_counter() - t)
        full = []
        for _ in range(ticks):
            t = time.perf_counter()
            proc = psutil.Process(root.pid)
            for p in [proc, *proc.children(recursive=True)]:
                p.cpu_times()
                p.memory_full_info()
            full.append(time.perf_counter() - t)
        return statistics.median(incremental), statistics.median(full)
    finally:
        for p in [*idle, root]:
            p.kill()
            p.wait()


def round_costs(rounds: int) -> tuple[float, float]:
    on, off = [], []
    for index in range(rounds):
        for hz, into in ((10.0, on), (None, off)) if index % 2 == 0 else ((None, off), (10.0, on)):
            result = run_local_round("bare", CASES["smoke"], index, warmup=False, run_timeout=120,
                               log=Path("/tmp/sampler-overhead.log"), sample_hz=hz)  # fmt: skip
            assert result.ok, result.error
            assert result.total_s is not None
            into.append(result.total_s)
    return statistics.median(on), statistics.median(off)


CHILD = (
    "import time\nb = bytes(1) * (200 * 1024 * 1024)\n"
    "end = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"
)
PARENT = f"""
import os, subprocess, sys
before = os.times()
sys.stdin.readline()
start = os.times()
children = [subprocess.Popen([sys.executable, "-c", {CHILD!r}]) for _ in range(2)]
for c in children: c.wait()
end = os.times()
used = sum(end[:4]) - sum(start[:4])
print(used, flush=True)
sys.stdin.read()
"""


def accuracy() -> tuple[float, float, float]:
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        sampler = TreeSampler(proc.pid, hz=10)
        sampler.start()
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        truth = float(proc.stdout.readline())
        stats = sampler.stop()
    finally:
        proc.kill()
        proc.wait()
    assert stats.cpu_seconds is not None and stats.memory_peak_gib is not None
    return truth, stats.cpu_seconds, stats.memory_peak_gib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--others", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    incremental, full = tick_costs(args.others)
    print(f"one tick with {args.others} other processes: incremental {incremental * 1e3:.2f} ms, "
          f"full scan {full * 1e3:.2f} ms, ratio full/incremental {full / incremental:.2f}")  # fmt: skip
    truth, measured, peak = accuracy()
    print(f"accuracy: kernel says the tree used {truth:.3f} CPU-s, the sampler {measured:.3f} CPU-s "
          f"(ratio {measured / truth:.3f}); memory peak {peak * 1024:.0f} MiB for 2 x 200 MiB held")  # fmt: skip
    on, off = round_costs(args.rounds)
    print(f"bare/smoke round, median of {args.rounds}: sampler 10 Hz {on:.3f} s, off {off:.3f} s, "
          f"ratio on/off {on / off:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
