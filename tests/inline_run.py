"""Runs of the plugin in this process, for the tests whose run ends before any round."""

from __future__ import annotations

import json
import tempfile
import warnings
from typing import Any

import pytest
from pytest_benchmark.logger import PytestBenchmarkWarning


class InlineBenchRun:
    """``BenchRun``'s run, in this process (pytester's in-process mode) instead of a fresh one.

    For runs that end before any round: usage errors and ``--collect-only``. A child pytest costs
    seconds to start (most of it imports) and adds nothing to what these assert: the same plugin
    parses the same options and pytest prints the same ``ERROR:`` line. Rounds still run in a child
    (``BenchRun``), where signals, process groups and TMPDIR are the child's own.
    """

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester = pytester
        self.tmp = pytester.path / "tmp"
        self.tmp.mkdir()
        # Where a round directory would land, as BenchRun's TMPDIR: this process has read TMPDIR already.
        monkeypatch.setenv("TMPDIR", str(self.tmp))
        monkeypatch.setattr(tempfile, "tempdir", str(self.tmp))
        pytester.makepyfile(test_bench="from bench.test_retraining import test_retraining  # noqa: F401\n")

    def run(self, *args: str) -> tuple[pytest.RunResult, dict[str, Any] | None]:
        out = self.pytester.path / "out.json"
        with warnings.catch_warnings():
            # The inner run's "no benchmarks have been run" is its own, not this test's.
            warnings.simplefilter("ignore", PytestBenchmarkWarning)
            result = self.pytester.runpytest_inprocess(
                "-p",
                "no:cacheprovider",
                f"--benchmark-json={out}",
                f"--round-logs={self.pytester.path / 'logs'}",
                *args,
            )
        return result, json.loads(out.read_text()) if out.exists() else None
