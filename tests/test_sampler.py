"""The process-tree sampler: arithmetic on hand-made samples, then real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from retrain_bench.measure.sampler import ControlPlaneSampler, TreeSampler, tree_stats
from retrain_bench.measure.stats import GIB

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def test_figures_from_hand_made_samples() -> None:
    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    cpu = [10.0, 10.5, 11.0, 11.2, 11.4]  # cumulative: the round used 1.4 s
    pss = [g * GIB for g in (1, 3, 3, 1, 1)]
    rss = [g * GIB for g in (2, 4, 4, 2, 2)]
    stats = tree_stats(times, cpu, pss, rss, 0.5)
    assert stats.cpu_seconds == pytest.approx(1.4)
    assert stats.cpu_avg_mcpu == pytest.approx(700.0)  # 1000 * 1.4 / 2
    # 1 s windows ending at 1.0, 1.5, 2.0: 1.0, 0.7, 0.4 CPU-seconds per second
    assert stats.cpu_peak_mcpu == pytest.approx(1000.0)
    assert stats.memory_peak_gib == 3.0
    # trapezoids: (1+3)/2*.5 + (3+3)/2*.5 + (3+1)/2*.5 + (1+1)/2*.5 = 4 GiB·s over 2 s
    assert stats.memory_avg_gib == pytest.approx(2.0)
    assert stats.details["memory_rss_peak_gib"] == 4.0
    assert stats.details["memory_baseline_gib"] == 1.0
    assert stats.samples == 5 and stats.window_s == 2.0 and stats.missing == {}


def test_a_round_shorter_than_the_peak_window_peaks_at_its_average() -> None:
    stats = tree_stats([0.0, 0.2, 0.4], [0.0, 0.1, 0.3], [GIB] * 3, [GIB] * 3, 0.2)
    assert stats.cpu_peak_mcpu == pytest.approx(stats.cpu_avg_mcpu) == pytest.approx(750.0)
    assert stats.cpu_peak_window_s == pytest.approx(0.4)


def test_too_few_samples_is_missing_not_zero() -> None:
    stats = tree_stats([0.0], [1.0], [GIB], [GIB], 0.1)
    assert stats.cpu_seconds is None and stats.memory_peak_gib is None
    assert stats.missing["cpu_seconds"].startswith("fewer than two samples")


def parent_script(body: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(body)]


def test_counts_children_that_exit_between_samples() -> None:
    # One sample every 3 s: the child is born, burns 0.4 s of CPU and is reaped between the
    # baseline and the last sample, so only its parent's children times can show it.
    burn = BURN.format(seconds=0.4)
    proc = subprocess.Popen(
        parent_script(f"""
        import subprocess, sys
        subprocess.run([sys.executable, "-c", {burn!r}], check=True)
        print("done", flush=True)
        sys.stdin.read()
        """),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    sampler = TreeSampler(proc.pid, hz=1 / 3)
    sampler.start()
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "done\n"
        stats = sampler.stop()
    finally:
        proc.kill()
        proc.wait()
    assert stats.samples == 2
    assert stats.cpu_seconds is not None and 0.4 <= stats.cpu_seconds < 1.5


def test_follows_grandchildren_and_ignores_processes_outside_the_tree(tmp_path: Path) -> None:
    (tmp_path / "grandchild.py").write_text("import time\nb = bytes(1) * (300 * 1024 * 1024)\ntime.sleep(1.5)\n")
    (tmp_path / "child.py").write_text(
        f"import subprocess, sys\nsubprocess.run([sys.executable, {str(tmp_path / 'grandchild.py')!r}])\n"
    )
    outsider = subprocess.Popen([sys.executable, "-c", BURN.format(seconds=3)])
    proc = subprocess.Popen(
        parent_script(f"""
        import subprocess, sys
        subprocess.run([sys.executable, {str(tmp_path / "child.py")!r}])
        print("done", flush=True)
        sys.stdin.read()
        """),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    sampler = TreeSampler(proc.pid, hz=10)
    started = time.monotonic()
    sampler.start()
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "done\n"
        stats = sampler.stop()
    finally:
        for p in (proc, outsider):
            p.kill()
            p.wait()
    elapsed = time.monotonic() - started
    assert stats.memory_peak_gib is not None and 0.29 < stats.memory_peak_gib < 0.5  # the grandchild's 300 MiB
    assert stats.memory_avg_gib is not None and stats.memory_avg_gib < stats.memory_peak_gib
    assert stats.details["memory_baseline_gib"] < 0.1
    # Three interpreters starting up cost CPU; the outsider's busy loop, running all along, must not count.
    assert stats.cpu_seconds is not None and stats.cpu_seconds < 0.6 * elapsed
    assert stats.samples >= 10


def test_a_process_gone_between_the_listing_and_the_sample_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # The race a sweep hit once in ~100 rounds: /proc listed a task process that exited before
    # the sampler opened it, and the sampler thread died with NoSuchProcess. Replay it exactly: a
    # listing taken while the child lived, the child then gone and reaped.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        listing = os.listdir("/proc")
        sampler = TreeSampler(os.getpid(), hz=10)
        sampler.sample()  # learns the child as a member of the tree
    finally:
        child.kill()
        child.wait()
    fresh = TreeSampler(os.getpid(), hz=10)
    fresh._parents = dict(sampler._parents)  # the child's parent is known, as after earlier samples
    monkeypatch.setattr(os, "listdir", lambda path: listing)
    fresh.sample()  # must not raise: the child is skipped
    monkeypatch.undo()
    fresh.sample()
    stats = fresh.stats()
    assert stats.samples == 2 and stats.cpu_seconds is not None


def test_an_unreadable_instant_is_skipped_and_counted_not_the_end_of_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    real_listdir, calls = os.listdir, []

    def listdir(path: str) -> list[str]:
        calls.append(path)
        if len(calls) == 2:  # the thread's first sample, after start()'s baseline
            raise PermissionError(13, "Permission denied", "/proc")
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    sampler = TreeSampler(child.pid, hz=50)
    sampler.start()
    child.wait()
    stats = sampler.stop()
    assert stats.details["skipped_samples"] == 1
    assert str(stats.details["first_skip"]).startswith("PermissionError:")
    # sampling went on after the skip: far more than the baseline and the final sample
    assert stats.samples > 5 and stats.cpu_seconds is not None


def test_control_plane_scopes_split_the_rounds_processes_from_the_services(tmp_path: Path) -> None:
    # A "service" holding 200 MiB is running before the round; during it, it starts a task process
    # that holds 300 MiB, burns 0.6 s of CPU, sleeps, and is reaped by the service before the end.
    (tmp_path / "task.py").write_text(
        "import time\nb = bytes(1) * (300 * 1024 * 1024)\n" + BURN.format(seconds=0.6) + "time.sleep(0.8)\n"
    )
    service = subprocess.Popen(
        parent_script(f"""
        import subprocess, sys
        held = bytes(1) * (200 * 1024 * 1024)
        print("up", flush=True)
        sys.stdin.readline()
        subprocess.run([sys.executable, {str(tmp_path / "task.py")!r}], check=True)
        print("done", flush=True)
        sys.stdin.read()
        """),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert service.stdout is not None and service.stdout.readline() == "up\n"
        sampler = ControlPlaneSampler([service.pid], hz=10)
        sampler.start()
        assert service.stdin is not None
        service.stdin.write("go\n")
        service.stdin.flush()
        assert service.stdout.readline() == "done\n"
        time.sleep(0.3)  # the task is reaped: its CPU now sits in the service's children times
        sampler.halt()
        sampler.sample()
        scopes = sampler.scopes()
    finally:
        service.kill()
        service.wait()
    execution, platform = scopes["execution"], scopes["platform"]
    assert (execution.scope, platform.scope) == ("execution", "platform")
    # the task's 300 MiB, not the service's 200 MiB
    assert execution.memory_peak_gib is not None and 0.29 < execution.memory_peak_gib < 0.45
    assert execution.details["memory_baseline_gib"] == 0.0
    # both: the service's 200 MiB and the task's 300 MiB at once
    assert platform.memory_peak_gib is not None and platform.memory_peak_gib > 0.49
    # the task's CPU is kept after it was reaped (an interpreter's start-up on top of the 0.6 s burn)
    assert execution.cpu_seconds is not None and 0.55 < execution.cpu_seconds < 1.6
    assert platform.cpu_seconds is not None and platform.cpu_seconds >= execution.cpu_seconds - 0.05


class _Reaping:
    """A parent and its child as psutil shows them, where reading one process can reap the child:
    the child's 5 s of CPU then move into the parent's children times."""

    def __init__(self) -> None:
        self.reap_on_next_read = False
        self.reaped = False

    def read(self) -> None:
        if self.reap_on_next_read and not self.reaped:
            self.reaped = True


class _FakeProcess:
    def __init__(self, world: _Reaping, *, parent: bool) -> None:
        self.world, self.parent = world, parent

    def cpu_times(self) -> Any:
        was_reaped = self.world.reaped
        self.world.read()  # the reap happens right after this read answered
        if self.parent:
            children = 5.0 if was_reaped else 0.0
            return SimpleNamespace(user=1.0, system=0.0, children_user=children, children_system=0.0)
        if was_reaped:
            raise psutil.NoSuchProcess(200)
        return SimpleNamespace(user=5.0, system=0.0, children_user=0.0, children_system=0.0)

    def memory_full_info(self) -> Any:
        return SimpleNamespace(pss=1000, rss=2000)


def test_a_child_reaped_while_a_sample_is_taken_is_not_counted_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    world = _Reaping()
    ticks = iter([0.0, 1.0, 2.0])
    sampler = TreeSampler(100, hz=1, clock=lambda: next(ticks))
    monkeypatch.setattr(sampler, "_refresh_tree", lambda: None)
    sampler._parents = {100: 1, 200: 100}
    # the child listed first, as /proc may list it: read it first and its reap would count it twice
    sampler._members = {200: _FakeProcess(world, parent=False), 100: _FakeProcess(world, parent=True)}  # type: ignore[dict-item]
    sampler.sample()  # 1 s of the parent + 5 s of the child
    world.reap_on_next_read = True
    sampler.sample()  # the child is reaped during this sample
    sampler._members.pop(200, None)  # gone from /proc too
    sampler.sample()  # the parent now holds the child's 5 s
    stats = sampler.stats()
    assert stats.cpu_seconds == 0.0  # nothing ran after the baseline
    assert stats.cpu_peak_mcpu == 0.0  # and no instant looked like 5 s of CPU in one
