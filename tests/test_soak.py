"""The soak: its arithmetic on hand-made values, then real rounds through a real session (launcher
processes included): the bare platform clean and with a leak injected into the harness, Prefect with
its session server running, and flytekit 1.15.4 in its own environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from retrain_bench.cli.main import main
from retrain_bench.harness.soak import PROBES, SoakReport, SoakSettings, judge, render, slope, soak
from retrain_bench.workload.cases import CASES
from tests.envs_fixtures import Built, shared_envs_dir
from tests.own_env_platforms import own_environment
from tests.service_platforms import live_processes_with

ROOT = Path(__file__).resolve().parent.parent


def test_slope_is_the_least_squares_growth_per_round() -> None:
    assert slope([7, 7, 7, 7]) == 0
    assert slope([0, 100, 200]) == 100
    # x = 0..3, mean 1.5; y mean 3: (-1.5*0 + -0.5*4 + 0.5*0 + 1.5*8) / (2.25+0.25+0.25+2.25) = 10 / 5
    assert slope([0, 4, 0, 8]) == 2
    assert slope([5]) == 0


def test_exact_probes_fail_on_any_rise_after_the_first_judged_round() -> None:
    # Rounds 1..4 may grow (caches fill); judged from round 5: 6, 6, 6 then a one-off 7.
    calm = judge("fds", [3, 4, 5, 6, 6, 6, 6], 5, 0)
    assert not calm.leaks and calm.growth == 0
    blip = judge("fds", [3, 4, 5, 6, 6, 7, 6], 5, 0)
    assert blip.leaks and blip.growth == 1
    # Falling is not leaking.
    assert not judge("temp_dirs", [0, 0, 0, 2, 2, 1, 0], 5, 0).leaks


def test_heap_fails_only_when_its_slope_reaches_the_bound() -> None:
    kib = 1024
    # 100 KiB/round leaked from round 5 on: slope exactly 100 KiB.
    leak = judge("heap_bytes", [0, 400 * kib, 400 * kib, 400 * kib, 500 * kib, 600 * kib, 700 * kib], 5, 20 * kib)
    assert leak.slope == 100 * kib and leak.leaks
    # A one-off 400 KiB step (a cache filling) halfway through 46 judged rounds. For a step of
    # height h between two halves of m points: sum((x - mean)^2) = m(4m^2 - 1)/6 and
    # sum((x - mean) * y) = h m^2 / 2, so the slope is 3hm / (4m^2 - 1); m = 23 gives 13.05 KiB.
    values = [0] * 4 + [0] * 23 + [400 * kib] * 23
    step = judge("heap_bytes", values, 5, 20 * kib)
    assert step.slope == pytest.approx(400 * kib * 3 * 23 / (4 * 23 * 23 - 1))
    assert not step.leaks


def run_soak(tmp_path: Path, rounds: int, after_round: Callable[[int], None]) -> SoakReport:
    settings = SoakSettings(platform="bare", case=CASES["smoke"], rounds=rounds, run_timeout=120, log_dir=tmp_path)
    return soak(settings, progress=lambda line: None, after_round=after_round)


def test_clean_soak_of_the_real_harness_passes_from_the_command_line(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, "-m", "retrain_bench", "soak", "--platform=bare", "--case=smoke", "--rounds=12",
         f"--round-logs={tmp_path / 'logs'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bare/smoke, 12 rounds (12 ok); verdicts over rounds 5..12" in done.stdout
    table = {line.split()[0]: line for line in done.stdout.splitlines()[2:9]}
    assert set(table) == {"heap_kib", *PROBES[1:]}
    assert all(line.endswith("flat") for line in table.values())
    assert done.stdout.rstrip().endswith("verdict: no leak")
    # The launchers ran this worktree's code and logged one file per round.
    assert len(list((tmp_path / "logs").glob("bare-smoke-*.log"))) == 12
    assert len([line for line in done.stderr.splitlines() if line.startswith("[soak] bare/smoke round")]) == 12


@pytest.fixture
def spawned() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


LEAKS = ("fds", "heap_bytes", "temp_dirs", "processes")


@pytest.mark.parametrize("leak", LEAKS)
def test_an_injected_leak_is_caught_and_named(tmp_path: Path, leak: str, spawned: list[int]) -> None:
    kept: list[object] = []
    fds: list[int] = []

    def leak_one(index: int) -> None:
        if leak == "fds":
            fds.append(os.open(os.devnull, os.O_RDONLY))
        elif leak == "heap_bytes":
            kept.append(bytes(100 * 1024))  # bytes are not gc-tracked: only the heap probe sees this
        elif leak == "temp_dirs":
            tempfile.mkdtemp(prefix="retrain-bench-leaked-")  # the soak's private temp root
        else:
            spawned.append(os.posix_spawn("/bin/sleep", ["sleep", "600"], os.environ))

    try:
        report = run_soak(tmp_path, 7, leak_one)
    finally:
        for fd in fds:
            os.close(fd)
    assert report.ok_rounds == 7
    assert report.leaking == (leak,)
    (verdict,) = [v for v in report.verdicts if v.name == leak]
    if verdict.exact:
        assert verdict.growth == 2  # one per round over rounds 5, 6, 7
        assert verdict.values[-1] - verdict.values[0] == 6  # and one per round since round 1
    else:
        assert verdict.slope == pytest.approx(100 * 1024, abs=4 * 1024)
    assert not report.passed
    assert f"verdict: LEAK in {leak}" in render(report)


def test_bad_soak_options_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["soak", "--platform=nope"]) == 2
    assert main(["soak", "--platform=bare,flyte"]) == 2
    # By default rounds 5.. are judged, or the last round but one of fewer: two judged rounds at the least.
    assert main(["soak", "--platform=bare", "--rounds=2"]) == 2
    assert main(["soak", "--platform=bare", "--from-round=5", "--rounds=5"]) == 2
    assert main(["soak", "--platform=bare", "--case=huge"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "retrain-bench: error: --platform: unknown 'nope';"
        " choose from flyte, flyte2, kfp, bare, airflow, prefect, dagster",
        "retrain-bench: error: --platform: 'bare,flyte' is not one platform spec; give NAME or NAME@VERSION",
        "retrain-bench: error: --rounds: '2' must be at least 3",
        "retrain-bench: error: --rounds: '5' must be at least 6",
        "retrain-bench: error: --case: unknown 'huge'; `python -m retrain_bench cases` lists them",
    ]


@pytest.mark.slow
def test_a_platform_with_session_services_soaks_and_its_server_is_not_a_leak_but_a_rounds_process_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spawned: list[int]
) -> None:
    own_environment("prefect")  # built or reused here, so the session only reuses it
    monkeypatch.setenv("RETRAIN_BENCH_ENVS", str(shared_envs_dir()))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    children: list[int] = []

    def after_round(index: int) -> None:
        children.append(len(psutil.Process().children(recursive=True)))
        if index == 2:  # a process left behind by round 3, as a leaking harness would leave one
            spawned.append(os.posix_spawn("/bin/sleep", ["sleep", "600"], os.environ))

    lines: list[str] = []
    settings = SoakSettings(
        platform="prefect", case=CASES["smoke"], rounds=3, from_round=2, run_timeout=300, log_dir=tmp_path / "logs"
    )
    report = soak(settings, progress=lines.append, after_round=after_round)

    assert (report.ok_rounds, report.failures) == (3, ())
    # The server ran beside every round (children of this process, counted before round 3's sleep),
    # yet only the sleep counts.
    assert children[0] >= 1 and children == [children[0]] * 3
    (processes,) = [v for v in report.verdicts if v.name == "processes"]
    assert processes.values == (0, 0, 1)
    assert report.leaking == ("processes",)
    # Its services started once, before round 1, and went with the session: no process, no directory.
    starts = [i for i, line in enumerate(lines) if "prefect: session services ready" in line]
    assert len(starts) == 1 and starts[0] < next(i for i, line in enumerate(lines) if line.startswith("[soak]"))
    assert live_processes_with("PREFECT_HOME", temp) == []
    assert list(temp.iterdir()) == []
    assert len(list((tmp_path / "logs").glob("prefect-smoke-*.log"))) == 3


#: sitecustomize for the soak's launchers: each appends its interpreter and the flytekit it has
SEEN = """
import sys
if "retrain_bench.harness.launcher" in sys.orig_argv:
    from importlib.metadata import version
    with open({seen!r}, "a") as out:
        out.write(f"{{sys.executable}} {{version('flytekit')}}\\n")
"""


@pytest.mark.slow
def test_a_version_in_its_own_environment_soaks_from_the_command_line(tmp_path: Path, flyte_1_15: Built) -> None:
    # Every launcher says which interpreter it runs in and which flytekit it imports.
    site = tmp_path / "site"
    site.mkdir()
    seen = tmp_path / "launchers.txt"
    (site / "sitecustomize.py").write_text(SEEN.format(seen=str(seen)))
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(site), str(ROOT), os.environ.get("PYTHONPATH")])),
        RETRAIN_BENCH_ENVS=str(flyte_1_15.envs_dir),
        TMPDIR=str(tmp_path),
    )
    done = subprocess.run(
        [sys.executable, "-m", "retrain_bench", "soak", "--platform=flyte@1.15.4", "--case=smoke", "--rounds=3",
         f"--round-logs={tmp_path / 'logs'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("soak: flyte@1.15.4/smoke, 3 rounds (3 ok); verdicts over rounds 2..3 (from round 2")
    assert done.stdout.rstrip().endswith("verdict: no leak")
    # The rounds ran in flytekit 1.15.4's environment (reused, not built again).
    assert "building" not in done.stderr
    assert seen.read_text().splitlines() == [f"{flyte_1_15.env.python} 1.15.4"] * 3
    logs = sorted(p.name for p in (tmp_path / "logs").glob("*.log"))
    assert logs == ["flyte@1.15.4-smoke-0.log", "flyte@1.15.4-smoke-1.log", "flyte@1.15.4-smoke-2.log"]


def test_sigterm_stops_the_soak_without_a_verdict_and_leaves_nothing(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        TMPDIR=str(tmp_path),
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "retrain_bench", "soak", "--platform=bare", "--case=smoke", "--rounds=50",
         f"--round-logs={tmp_path / 'logs'}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stderr is not None
    for line in child.stderr:  # after round 1: the signal lands in round 2 or between rounds
        if line.startswith("[soak] bare/smoke round 1/50"):
            break
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=300)
    assert child.returncode == 2, out
    lines = out.splitlines()
    assert lines[0].startswith("soak: bare/smoke, ") and " of 50 rounds " in lines[0]
    assert lines[-1] == "verdict: none: stopped (SIGTERM) before the last round"
    assert all(line == "FAILED round 2: interrupted (SIGTERM); process group killed" for line in lines[1:-1])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(("soak-root-", "retrain-bench-"))] == []
