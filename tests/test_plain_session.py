"""The benchmark session from plain Python, without pytest: it runs, its records are the plugin's, and
a SIGTERM stops it with its round killed and its session services closed.

Each session runs in a fresh child process (``PLAIN``), as ``soak`` and ``scripts/calibrate_gate.py``
run one, so that ``"pytest" not in sys.modules`` means something.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest

from retrain_bench.workload.cases import CASES
from retrain_bench.workload.retraining import run_bare
from tests.helpers import REPO, BenchRun, records
from tests.test_registry import distribution

pytestmark = pytest.mark.slow

#: A plain session of ``--platform`` argv[1], smoke, 2 rounds after 1 warm-up; its records and run level as JSON.
PLAIN = """
import json, sys
from pathlib import Path
from retrain_bench.harness.session import BenchSession
from retrain_bench.options import parse_options

options = parse_options(
    platform=sys.argv[1], case="smoke", rounds=2, warmup=int(sys.argv[3]), target="local", run_timeout=300,
    min_success_rate=1.0,
)
lines = []
with BenchSession.open(options, Path(sys.argv[2]), lines.append) as session:
    session.plan_everything()
    found = {}
    for spec in options.labels:
        session.rounds_of(spec, "smoke")
        found[spec] = session.record(spec, "smoke")
    run_level = session.run_level()
print(json.dumps({"pytest": "pytest" in sys.modules, "records": found, "run_level": run_level, "lines": lines}))
"""


def plain(tmp_path: Path, platform: str, *, warmup: int = 1, pythonpath: str = "") -> subprocess.Popen[str]:
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    path = os.pathsep.join(filter(None, [pythonpath, str(REPO), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", PLAIN, platform, str(tmp_path / "logs"), str(warmup)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(child: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, out + err
    found: dict[str, Any] = json.loads(out)
    return found


#: Leaves that are measurements (times, resources, their cost and summaries) or how long a build took.
MEASURED = ("_s", "resources", "cost", "summary")


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        found: dict[str, Any] = {}
        for key, inner in value.items():
            found.update(leaves(inner, f"{path}.{key}" if path else str(key)))
        return found or {path: {}}
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return {k: v for i, inner in enumerate(value) for k, v in leaves(inner, f"{path}[{i}]").items()}
    return {path: value}


def unmeasured(found: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in found.items() if not any(part in k for part in MEASURED)}


def test_a_plain_session_runs_without_pytest_and_records_what_the_plugin_records(
    tmp_path: Path, bench_run: BenchRun
) -> None:
    child = plain(tmp_path, "bare")
    result, document = bench_run.run("--platform=bare", "--case=smoke", "--rounds=2", "--warmup=1", "--run-timeout=300")
    ran = finished(child)

    assert ran["pytest"] is False
    (record,) = ran["records"].values()
    expected = run_bare(CASES["smoke"])
    assert [(r["index"], r["warmup"], r["ok"]) for r in record["rounds"]] == [
        (0, True, True),
        (1, False, True),
        (2, False, True),
    ]
    assert {r["best_c"] for r in record["rounds"]} == {expected.best_c}
    assert {r["accuracy"]["final"] for r in record["rounds"]} == {expected.final_accuracy}
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [f"bare-smoke-{i}.log" for i in range(3)]
    assert list((tmp_path / "tmp").iterdir()) == []  # every round directory removed

    # The plugin's record of the same options: the same keys, the same values but the measured ones.
    assert result.ret == 0, "\n".join(result.outlines[-30:])
    assert document is not None
    theirs = records(document)["bare-smoke"]
    assert leaves(record).keys() == leaves(theirs).keys()
    assert unmeasured(leaves(record)) == unmeasured(leaves(theirs))
    # Its run level is the plugin's without what is pytest's (xdist, pytest-benchmark's failed benchmarks).
    level = document["retrain_bench"]
    assert set(level) - set(ran["run_level"]) == {"xdist", "failed_benchmarks"}
    assert set(ran["run_level"]) <= set(level)
    assert unmeasured(leaves(ran["run_level"])) == unmeasured(leaves({k: level[k] for k in ran["run_level"]}))


#: A platform with a session service (a real process in a group of its own) whose rounds wait.
HELD = """
import contextlib, os, subprocess, time
from pathlib import Path
from retrain_bench.platforms.definition import Platform

MARKERS = Path(os.environ["HELD_MARKERS"])

@contextlib.contextmanager
def _services(context):
    server = subprocess.Popen(["sleep", "600"], start_new_session=True)
    (MARKERS / "service").write_text(f"{server.pid} {context.home}")
    try:
        yield {"HELD_HOME": str(context.home)}
    finally:
        server.kill()
        server.wait()
        (MARKERS / "stopped").write_text("stopped")

def _run(case, workdir):
    (MARKERS / "running").write_text(str(os.getpid()))
    time.sleep(600)

HELD = Platform(
    name="held", title="Held", order=27, local_executor="held waits beside its service",
    prepare=lambda: None, run=_run, default=False, services=_services,
)
"""


def test_sigterm_stops_a_plain_session_killing_its_round_and_closing_its_services(tmp_path: Path) -> None:
    site = distribution(tmp_path / "site", {"held": "held_platform:HELD"})
    (site / "held_platform.py").write_text(HELD)
    markers = tmp_path / "markers"
    markers.mkdir()
    os.environ["HELD_MARKERS"] = str(markers)
    try:
        child = plain(tmp_path, "held", warmup=0, pythonpath=str(site))
    finally:
        del os.environ["HELD_MARKERS"]
    deadline = time.monotonic() + 300
    while not (markers / "running").exists():  # the first round's pipeline is running, its service too
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the first round never started"
        time.sleep(0.1)
    server_pid, home = (markers / "service").read_text().split(" ")
    launcher = int((markers / "running").read_text())
    child.send_signal(signal.SIGTERM)
    ran = finished(child)

    (record,) = ran["records"].values()
    assert [(r["ok"], r["error"]) for r in record["rounds"]] == [(False, "interrupted (SIGTERM); process group killed")]
    assert ran["run_level"]["interrupted"] is True
    assert ran["run_level"]["services"]["held"]["error"] is None
    # Nothing left: the round's launcher, the service's process, its session directory.
    assert (markers / "stopped").read_text() == "stopped"
    for pid in (launcher, int(server_pid)):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not Path(home).exists()
    assert list((tmp_path / "tmp").iterdir()) == []
