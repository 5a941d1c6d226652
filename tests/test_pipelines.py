"""The launcher imports the benchmark's ``bench`` package by location, nothing else of the repository.

Each child below runs from an empty directory with no ``PYTHONPATH``, as a round does after a
non-editable install: the only way to reach ``bench`` is the directory the harness hands over.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retrain_bench.harness.local import run_local_round
from retrain_bench.harness.pipelines import find_pipelines
from retrain_bench.workload.cases import CASES
from tests.helpers import REPO

BENCH = REPO / "bench"


def child(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_harness_finds_the_bench_it_imports() -> None:
    # The suite's own process imports bench from this repository (its root conftest puts it on the path).
    assert find_pipelines(["flyte", "bare"]) == BENCH.resolve()
    # bare Python's run is all in retrain_bench: it needs no pipelines, from wherever it runs
    assert find_pipelines(["bare"], cwd=Path("/")) is None


def test_outside_the_repository_bench_is_found_in_the_working_directory_or_named(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path; from retrain_bench.errors import BenchError\n"
        "from retrain_bench.harness.pipelines import find_pipelines\n"
        f"print(find_pipelines(['kfp'], cwd=Path({str(REPO)!r})))\n"
        "try:\n    find_pipelines(['kfp'])\nexcept BenchError as exc:\n    print(exc)\n"
    )
    done = child(code, tmp_path)
    assert done.returncode == 0, done.stderr
    found, error = done.stdout.splitlines()
    assert found == str(BENCH.resolve())
    assert error == (
        "cannot find the benchmark's pipelines (a bench/ directory holding test_retraining.py) for kfp: "
        "run from the repository's root, where `pytest bench/` finds them"
    )


def test_the_command_line_says_so_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "retrain_bench", "soak", "--platform=flyte", "--case=smoke", "--rounds=6"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("retrain-bench: error: cannot find the benchmark's pipelines")
    assert len(done.stderr.splitlines()) == 1


def test_only_bench_becomes_importable(tmp_path: Path) -> None:
    code = (
        "import importlib.util, json, sys; from pathlib import Path\n"
        "from retrain_bench.harness.pipelines import import_pipelines\n"
        f"import_pipelines(Path({str(BENCH)!r}))\n"
        "import bench.flyte.workflow, bench.kfp.pipeline\n"
        "docker = importlib.util.find_spec('docker')\n"
        "print(json.dumps({'workflow': bench.flyte.workflow.__file__, 'pipeline': bench.kfp.pipeline.__file__,\n"
        "    'fixtures': importlib.util.find_spec('fixtures') is not None,\n"
        "    'conftest': importlib.util.find_spec('conftest') is not None,\n"
        "    'docker': list(docker.submodule_search_locations or []) if docker else []}))\n"
    )
    done = child(code, tmp_path)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["workflow"] == str(BENCH / "flyte" / "workflow.py")
    assert seen["pipeline"] == str(BENCH / "kfp" / "pipeline.py")
    # the repository's fixtures/, conftest.py and docker/ stay out of reach
    assert not seen["fixtures"] and not seen["conftest"]
    assert str(REPO / "docker") not in seen["docker"]


@pytest.mark.slow
def test_a_flyte_round_runs_with_nothing_on_the_pythonpath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.chdir(tmp_path)
    result = run_local_round(
        "flyte", CASES["smoke"], 0, warmup=False, run_timeout=300, log=tmp_path / "round.log", pipelines=BENCH
    )
    assert result.ok, result.error
    # the smoke case drifts: every step ran, tune once per C of its two-value grid
    assert result.task_counts == {"make_data": 1, "train": 1, "detect_drift": 1, "tune": 2, "select_best": 1}
