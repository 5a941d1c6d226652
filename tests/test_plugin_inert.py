"""The plugin loads in every pytest run of an environment where retrain-bench is installed: a user's
own test suite, in a project without the benchmark's ``bench/``, must run as if it were not there.
Only a run that collects a benchmark needs the pipelines, and then it fails in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.e2e


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_project_without_the_benchmark_runs_its_own_tests(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the rootdir search stops here
    (tmp_path / "test_theirs.py").write_text("def test_theirs() -> None:\n    assert 2 + 2 == 4\n")
    done = _pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "bench" not in done.stderr


def test_a_benchmark_collected_without_its_pipelines_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # the benchmark's test file, but not the bench/ package it runs kfp's pipeline from
    (tmp_path / "test_bench.py").write_text((REPO / "bench" / "test_retraining.py").read_text())
    done = _pytest(tmp_path, "test_bench.py", "--platform=kfp", "--case=smoke")
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "ERROR: cannot find the benchmark's pipelines (a bench/ directory holding test_retraining.py) for kfp: "
        "run from the repository's root, where `pytest bench/` finds them"
    )
