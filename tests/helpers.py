"""Helpers shared by the suite's own tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.results.contract import validate
from retrain_bench.results.runs import benchmarks_of

FAULTS = Path(__file__).parent / "faults"
#: The repository: ``bench`` (the benchmark) and ``fixtures`` live here, not in site-packages.
REPO = Path(__file__).resolve().parents[1]


def repo_pythonpath() -> str:
    """PYTHONPATH for a child pytest that imports ``bench``/``fixtures`` from outside the repository."""
    return os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


def run_kfp_local(case_json: str, workdir: Path, variables: dict[str, str] | None = None) -> None:
    """One run of KFP's local executor, in a child process: kfp.local swaps print() for an indenting one
    while it runs and leaves traces of that in the interpreter, which later tests' captured output would
    show. ``variables`` join the environment (a stamp file)."""
    import subprocess
    import sys

    script = "import sys; from retrain_bench.workload.cases import Case; "
    script += "from retrain_bench.platforms.kfp import local; from pathlib import Path; "
    script += "local.run(Case.from_json(sys.argv[1]), Path(sys.argv[2]))"
    done = subprocess.run(
        [sys.executable, "-c", script, case_json, str(workdir)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": repo_pythonpath(), **(variables or {})},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


class BenchRun:
    """Run the real benchmark test in a fresh pytest process inside pytester's directory."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester = pytester
        self.monkeypatch = monkeypatch
        self.tmp = pytester.path / "tmp"
        self.tmp.mkdir()
        # Round directories land under here, so tests can see what a round left behind.
        monkeypatch.setenv("TMPDIR", str(self.tmp))
        monkeypatch.setenv("PYTHONPATH", repo_pythonpath())
        pytester.makepyfile(test_bench="from bench.test_retraining import test_retraining  # noqa: F401\n")

    def inject_fault(self, nth_call: int) -> None:
        path = os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")]))
        self.monkeypatch.setenv("PYTHONPATH", path)
        self.monkeypatch.setenv("RETRAIN_BENCH_FAULT", f"{self.pytester.path / 'fault-count'}:{nth_call}")

    def run(self, *args: str, timeout: float = 300) -> tuple[pytest.RunResult, dict[str, Any] | None]:
        out = self.pytester.path / "out.json"
        result = self.pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            f"--benchmark-json={out}",
            f"--round-logs={self.pytester.path / 'logs'}",
            *args,
            timeout=timeout,
        )
        document = json.loads(out.read_text()) if out.exists() else None
        if document is not None:
            validate(document)
        return result, document


def records(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """retrain_bench records by '<platform>-<case>', those without an ok round (failed_benchmarks) included."""
    return {
        f"{b['extra_info']['retrain_bench']['platform']}-{b['extra_info']['retrain_bench']['case']['name']}": b[
            "extra_info"
        ]["retrain_bench"]
        for b in benchmarks_of(document)
    }
