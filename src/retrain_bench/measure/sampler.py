"""Local resources: sample a process tree from a harness thread.

The sampler follows a root process (the round's launcher) and all its descendants: the summed
PSS (RSS beside it), and the tree's cumulative CPU time, which includes children that exited and
were reaped, because the kernel adds a reaped child's time to its parent's ``children_*`` times.

It stays cheap on a busy host by walking the tree incrementally: each tick lists ``/proc`` (one
``listdir``), reads the parent of pids it has not seen before only, and reads CPU and memory of
the tree's members only. (``/proc/<pid>/task/<tid>/children`` would be cheaper still but is not
available on every kernel.)

What it cannot see, by construction:
- a descendant that was re-parented away from the tree (its parent exited without waiting for
  it, so it now belongs to init or a subreaper): neither its memory nor its CPU count from then on;
- the memory of a process that starts and ends between two samples (its CPU is still counted,
  through its parent's children times);
- a pid recycled between two ticks for an unrelated process (pids are not reused that fast in
  practice).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence

import psutil

from retrain_bench.measure.stats import GIB, ResourceStats, cpu_avg_mcpu

#: The rolling window of ``cpu_peak_mcpu`` locally.
PEAK_WINDOW_S = 1.0


def _tree_cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


class TreeSampler:
    """Sample one process tree, or the sum of several (``root_pid`` a sequence: concurrent
    executions), at ``hz`` between ``start()`` and ``stop()``."""

    def __init__(
        self, root_pid: int | Sequence[int], hz: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if hz <= 0:
            raise ValueError(f"sampling rate must be positive, got {hz}")
        self.root_pids = (root_pid,) if isinstance(root_pid, int) else tuple(root_pid)
        self.root_pid = self.root_pids[0]
        self.interval = 1.0 / hz
        self._clock = clock
        self._parents: dict[int, int] = {}
        self._members: dict[int, psutil.Process] = {}
        self._times: list[float] = []
        self._cpu: list[float] = []
        self._pss: list[int] = []
        self._rss: list[int] = []
        self._pss_ok = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: samples that could not be taken (a process table that changed under us), as errors
        self._failed: list[str] = []

    def _refresh_tree(self) -> None:
        pids = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        for gone in self._parents.keys() - pids:
            del self._parents[gone]
        for pid in pids - self._parents.keys():
            try:
                self._parents[pid] = psutil.Process(pid).ppid()
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        tree = set(self.root_pids)
        grew = True
        while grew:
            found = {pid for pid, ppid in self._parents.items() if ppid in tree} - tree
            tree |= found
            grew = bool(found)
        members = {}
        for pid in tree & pids:
            proc = self._members.get(pid)
            if proc is None:
                try:
                    proc = psutil.Process(pid)
                except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    continue  # exited between the listing of /proc and now: nothing left to measure
            members[pid] = proc
        self._members = members

    def _parents_first(self) -> list[tuple[int, psutil.Process]]:
        """The members, every process before its descendants.

        A process's CPU time includes its reaped children's (``children_*``). Reading a child and then
        its parent, a reap in between counts the child twice, a spike of its whole CPU time in one
        interval; parent first, it is at worst missing for an instant, which the cumulative series,
        kept from going down, rides over.
        """

        def depth(pid: int) -> int:
            level, seen = 0, pid
            while seen in self._parents and self._parents[seen] in self._members and level < 64:
                seen, level = self._parents[seen], level + 1
            return level

        return sorted(self._members.items(), key=lambda item: depth(item[0]))

    def sample(self) -> None:
        """Take one sample now (the thread calls this; so do start and stop)."""
        with self._lock:
            now = self._clock()
            self._refresh_tree()
            cpu = 0.0
            pss = rss = 0
            for pid, proc in self._parents_first():
                read = self._read(pid, proc)
                if read is not None:
                    cpu, pss, rss = cpu + read[0], pss + read[1], rss + read[2]
            if not self._members:
                return  # every root is gone: nothing to attribute to this instant
            self._times.append(now)
            self._cpu.append(max(cpu, self._cpu[-1]) if self._cpu else cpu)
            self._pss.append(pss)
            self._rss.append(rss)

    def _read(self, pid: int, proc: psutil.Process) -> tuple[float, int, int] | None:
        """One member's tree CPU seconds, PSS and RSS (RSS for both once PSS is denied: the series is
        then reported as RSS); None for a zombie (exited, not yet reaped: no memory, and its CPU
        arrives with the parent's) or a process gone meanwhile (dropped from the members)."""
        try:
            cpu = _tree_cpu(proc)
            if self._pss_ok:
                try:
                    info = proc.memory_full_info()
                    return cpu, info.pss, info.rss
                except psutil.AccessDenied:
                    self._pss_ok = False
            rss = proc.memory_info().rss
            return cpu, rss, rss
        except psutil.ZombieProcess:
            return None
        except psutil.NoSuchProcess:
            del self._members[pid]
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except (psutil.Error, OSError) as exc:
                # One unreadable instant must not end the round's sampling: skip it, count it.
                self._failed.append(f"{type(exc).__name__}: {exc}")

    def start(self) -> None:
        """Sample once now (the baseline) and keep sampling in a thread."""
        self.sample()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.root_pid}", daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """Stop the thread (idempotent); what was sampled stays."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> ResourceStats:
        """Take the last sample, stop the thread and compute the round's figures."""
        self.halt()
        self.sample()
        return self.stats()

    def stats(self) -> ResourceStats:
        found = tree_stats(self._times, self._cpu, self._pss if self._pss_ok else None, self._rss, self.interval)
        if not self._failed:
            return found
        skipped = {"skipped_samples": len(self._failed), "first_skip": self._failed[0][:300]}
        return dataclasses.replace(found, details={**found.details, **skipped})


class ControlPlaneSampler(TreeSampler):
    """The server target's two scopes, sampled over the process trees of a control plane's services.

    ``platform``: every process of the trees (servers, schedulers, workers, the database, and the
    processes they start for the round). ``execution``: the processes that were not in the trees at
    the baseline ("go"), i.e. those the control plane started for this round's run (an Airflow
    task's supervisor and runner, Prefect's flow-run process, Dagster's run and step processes).
    Rounds run one at a time, so nothing else starts processes there meanwhile; with
    ``--concurrency N`` the scope is the N runs' together.

    An execution process that exits is reaped by a service process, which then holds its CPU time
    in its ``children_*`` times: for the ``platform`` scope nothing is lost, but the ``execution``
    scope keeps each such process's last tree CPU time instead (what it did after its last sample,
    at most one interval, is missed). A process of the round that lived less than one interval is
    missed by ``execution`` entirely, and counted by ``platform`` through its parent.
    """

    def __init__(self, root_pids: Sequence[int], hz: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(root_pids, hz, clock)
        self._baseline: set[int] | None = None
        #: last tree CPU of execution processes whose parent is a service process, kept after they exit
        self._exited_cpu: dict[int, float] = {}
        self._alive_cpu: dict[int, float] = {}
        self._exec_cpu: list[float] = []
        self._exec_pss: list[int] = []
        self._exec_rss: list[int] = []

    def sample(self) -> None:
        with self._lock:
            now = self._clock()
            self._refresh_tree()
            if self._baseline is None:
                self._baseline = set(self._members)
            cpu = exec_cpu = 0.0
            pss = rss = exec_pss = exec_rss = 0
            alive: dict[int, float] = {}
            for pid, proc in self._parents_first():
                read = self._read(pid, proc)
                if read is None:
                    continue
                tree_cpu, own_pss, own_rss = read
                cpu += tree_cpu
                pss += own_pss
                rss += own_rss
                if pid not in self._baseline:
                    alive[pid] = tree_cpu
                    exec_cpu += tree_cpu
                    exec_pss += own_pss
                    exec_rss += own_rss
            for pid, last in self._alive_cpu.items():
                if pid not in alive:
                    self._exited_cpu[pid] = last  # reaped by a service: its CPU now sits with the service
            self._alive_cpu = {pid: value for pid, value in alive.items() if self._parents.get(pid) in self._baseline}
            if not self._members:
                return
            self._times.append(now)
            self._cpu.append(max(cpu, self._cpu[-1]) if self._cpu else cpu)
            self._pss.append(pss)
            self._rss.append(rss)
            exec_total = exec_cpu + sum(self._exited_cpu.values())
            self._exec_cpu.append(max(exec_total, self._exec_cpu[-1]) if self._exec_cpu else exec_total)
            self._exec_pss.append(exec_pss)
            self._exec_rss.append(exec_rss)

    def scopes(self) -> dict[str, ResourceStats]:
        """``platform`` and ``execution``, each named as its scope."""
        platform = dataclasses.replace(self.stats(), scope="platform")
        exec_pss = self._exec_pss if self._pss_ok else None
        execution = tree_stats(self._times, self._exec_cpu, exec_pss, self._exec_rss, self.interval)
        return {"execution": dataclasses.replace(execution, scope="execution"), "platform": platform}


def tree_stats(
    times: list[float], cpu: list[float], pss: list[int] | None, rss: list[int], interval: float
) -> ResourceStats:
    """The figures from samples of (time, cumulative tree CPU seconds, summed PSS and RSS bytes).

    The first sample is the baseline taken at "go"; CPU is the increase from it. Memory averages
    are time-weighted (trapezoids), so irregular tick spacing does not bias them.
    """
    missing: dict[str, str] = {}
    details: dict[str, object] = {"sample_interval_s": interval, "pss": pss is not None}
    if len(times) < 2:
        reason = "fewer than two samples: the round ended before the sampler could measure it"
        return ResourceStats(
            scope="process_tree", source="psutil", window_s=0.0, samples=len(times),
            memory_peak_gib=None, memory_avg_gib=None, cpu_seconds=None, cpu_avg_mcpu=None,
            cpu_peak_mcpu=None, cpu_peak_window_s=PEAK_WINDOW_S, details=details,
            missing={k: reason for k in ("memory_peak_gib", "memory_avg_gib", "cpu_seconds", "cpu_avg_mcpu",
                                         "cpu_peak_mcpu")},
        )  # fmt: skip
    window = times[-1] - times[0]
    cpu_seconds = max(cpu[-1] - cpu[0], 0.0)
    memory = pss if pss is not None else rss
    if pss is None:
        details["memory_kind"] = "rss"
        details["pss_unavailable"] = "reading /proc/<pid>/smaps_rollup was denied; memory figures are RSS sums"
    details["memory_baseline_gib"] = memory[0] / GIB
    details["memory_rss_peak_gib"] = max(rss) / GIB
    return ResourceStats(
        scope="process_tree",
        source="psutil",
        window_s=window,
        samples=len(times),
        memory_peak_gib=max(memory) / GIB,
        memory_avg_gib=_time_weighted_mean(times, memory) / GIB if window > 0 else memory[0] / GIB,
        cpu_seconds=cpu_seconds,
        cpu_avg_mcpu=cpu_avg_mcpu(cpu_seconds, window),
        cpu_peak_mcpu=_peak_rate(times, cpu, PEAK_WINDOW_S) * 1000.0,
        cpu_peak_window_s=min(PEAK_WINDOW_S, window),
        details=details,
        missing=missing,
    )


def _time_weighted_mean(times: list[float], values: list[int]) -> float:
    area = sum((t1 - t0) * (v0 + v1) / 2 for t0, t1, v0, v1 in zip(times, times[1:], values, values[1:], strict=False))
    return area / (times[-1] - times[0])


def _peak_rate(times: list[float], cumulative: list[float], window: float) -> float:
    """Max of (C(t) − C(t − w)) / w over the samples, w the smallest span ≥ ``window`` back from
    each sample (the whole round when it is shorter than the window)."""
    if times[-1] - times[0] <= window:
        span = times[-1] - times[0]
        return (cumulative[-1] - cumulative[0]) / span if span > 0 else 0.0
    best = 0.0
    start = 0
    for end in range(1, len(times)):
        while start + 1 < end and times[end] - times[start + 1] >= window:
            start += 1
        span = times[end] - times[start]
        if span >= window:
            best = max(best, (cumulative[end] - cumulative[start]) / span)
    return best
