"""A benchmark none of whose measured rounds was ok: no timing stats anywhere an upstream tool reads.

pytest-benchmark's own model for a benchmark whose code raised is ``has_error`` with empty stats:
its table, ``--benchmark-compare`` and ``benchmarks[]`` leave it out. Our record of it sits in
the run level's ``failed_benchmarks``; every file must still load in upstream ``pytest-benchmark
compare`` (its storage calls ``normalize_stats(bench["stats"])`` on every entry of ``benchmarks``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.cli.main import main
from retrain_bench.errors import BenchError
from retrain_bench.pytest_plugin.replay import failed_benchmarks
from retrain_bench.pytest_plugin.xdist import ShippedBenchmark
from retrain_bench.results.contract import validate
from retrain_bench.results.runs import Run, merged_document
from tests import golden
from tests.helpers import BenchRun, records


def upstream_compare(path: Path) -> subprocess.CompletedProcess[str]:
    """pytest-benchmark's own CLI, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path.parent,
    )


def test_a_benchmark_without_an_ok_round_has_no_stats(bench_run: BenchRun, capsys: pytest.CaptureFixture[str]) -> None:
    # One round each, Flyte's first (the first round runs the platforms in --platform order): the
    # first make_data call fails, so Flyte has no ok round and bare has one.
    bench_run.inject_fault(nth_call=1)
    result, document = bench_run.run("--platform=flyte,bare", "--case=smoke", "--rounds=1", "--warmup=0")
    assert result.ret == 1  # flyte/smoke is below --min-success-rate, as any failing benchmark
    result.stdout.fnmatch_lines(["*flyte/smoke: success rate 0% is below --min-success-rate 100%; first error: *"])
    assert document is not None
    # Only bare reaches pytest-benchmark's entries; Flyte's record, with its round and error, is ours.
    assert [b["extra_info"]["retrain_bench"]["platform"] for b in document["benchmarks"]] == ["bare"]
    (failed,) = document["retrain_bench"]["failed_benchmarks"]
    assert "stats" not in failed and failed["fullname"] == "test_bench.py::test_retraining[flyte-smoke]"
    flyte = records(document)["flyte-smoke"]
    assert [r["ok"] for r in flyte["rounds"]] == [False]
    assert "injected fault in make_data call 1" in flyte["rounds"][0]["error"]
    assert flyte["success_rate"] == 0.0
    # pytest-benchmark's own timing table has a row for bare only.
    timing = [line.split()[0] for line in result.outlines if line.startswith("test_retraining[")]
    assert timing == ["test_retraining[bare-smoke]"]
    # The end-of-run table still shows Flyte, as the failure it was: Flyte's column first.
    (success,) = [line for line in result.outlines if line.startswith("Reliability (Success Rate %)")]
    assert success.split()[-4:] == ["0%", "(0/1)", "100%", "(1/1)"]

    out = bench_run.pytester.path / "out.json"
    upstream = upstream_compare(out)
    assert upstream.returncode == 0, upstream.stderr
    assert "Failed to load" not in upstream.stdout + upstream.stderr
    rows = [line for line in upstream.stdout.splitlines() if line.startswith("test_retraining[")]
    assert [row.split()[0] for row in rows] == ["test_retraining[bare-smoke]"]

    exported = export(capsys, str(out), "--format", "github-action-benchmark")
    names = [e["name"] for e in exported]
    assert [name.split()[1] for name in names if name.startswith("flyte/")] == ["failure_rate"]
    flyte_failure = next(e for e in exported if e["name"].startswith("flyte/smoke/local/"))
    assert flyte_failure["value"] == 100.0 and flyte_failure["name"].endswith("failure_rate (smaller is better)")
    assert export.stderr.startswith("retrain-bench: warning: flyte/smoke/local/")  # type: ignore[attr-defined]


def export(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main(["export", *args]) == 0
    captured = capsys.readouterr()
    export.stderr = captured.err  # type: ignore[attr-defined]
    return json.loads(captured.out)


def mixed_document() -> dict[str, Any]:
    """bare/base ok twice (10 s, 12 s); kfp/base failed in both rounds."""
    ok = golden.record("bare", "local", golden.BASE, golden.rounds([10.0, 12.0]))
    failed = golden.record("kfp", "local", golden.BASE, golden.rounds([None, None]))
    return golden.document("local", [ok, failed], commit="8" * 40, when="2026-11-08T10:00:00+00:00")


def test_exports_leave_its_measurements_out_and_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(mixed_document()))
    exported = export(capsys, str(path), "--format", "bmf")
    assert exported["kfp/base/local/dc1daecf77ee"] == {"success_rate": {"value": 0.0}}  # 0 ok of 2
    assert exported["bare/base/local/dc1daecf77ee"]["total_s"]["value"] == 11.0
    assert export.stderr == (  # type: ignore[attr-defined]
        "retrain-bench: warning: kfp/base/local/dc1daecf77ee: none of its 2 measured rounds was ok, so it has no "
        "times or resources to export; only its success and failure rates are exported\n"
    )


def test_upstream_compare_loads_a_merged_file_with_a_failed_benchmark(tmp_path: Path) -> None:
    first = mixed_document()
    path = tmp_path / "one.json"
    path.write_text(json.dumps(first))
    merged = merged_document([Run(str(path), first)])
    validate(merged)
    assert [b["extra_info"]["retrain_bench"]["platform"] for b in merged["benchmarks"]] == ["bare"]
    assert [b["extra_info"]["retrain_bench"]["platform"] for b in merged["retrain_bench"]["failed_benchmarks"]] == [
        "kfp"
    ]
    out = tmp_path / "merged.json"
    out.write_text(json.dumps(merged))
    upstream = upstream_compare(out)
    assert upstream.returncode == 0 and "Failed to load" not in upstream.stdout + upstream.stderr
    # bare's mean of 10 s and 12 s, in pytest-benchmark's own table (its time unit: seconds).
    (row,) = [line for line in upstream.stdout.splitlines() if line.startswith("test_retraining[bare-base]")]
    assert "11.0000" in row


def test_a_worker_ships_it_and_the_controller_keeps_it_errored() -> None:
    # As pytest_plugin/xdist.py ship() writes a benchmark without an ok round: no data, has_error.
    record = golden.record("kfp", "local", golden.BASE, golden.rounds([None]))
    shipped = {**golden.benchmark(record), "stats": {"iterations": 1, "data": []}, "has_error": True, "order": 0}
    meta = ShippedBenchmark.from_output(shipped).metadata()
    # pytest-benchmark's table and compare skip it (falsy), its JSON leaves it out (has_error), ours keeps it.
    assert not meta and meta.has_error
    assert [b["extra_info"]["retrain_bench"]["platform"] for b in failed_benchmarks([meta])] == ["kfp"]
    with pytest.raises(BenchError, match="without usable rounds"):
        ShippedBenchmark.from_output({**shipped, "has_error": False})
