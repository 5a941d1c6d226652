"""The CLI on checked-in runs: exact output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from retrain_bench.cli.main import main

DATA = Path(__file__).parent / "data"
GOOD = DATA / "smoke-run.json"


def test_validate_accepts_a_real_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(GOOD)]) == 0
    assert capsys.readouterr().out == f"{GOOD}: ok, 3 benchmarks\n"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "run.json"
    path.write_text(text)
    return str(path)


def broken(tmp_path: Path, change: str) -> str:
    document = json.loads(GOOD.read_text())
    rounds = document["benchmarks"][0]["extra_info"]["retrain_bench"]["rounds"]
    if change == "negative-time":
        rounds[1]["total_s"] = -1.0
    elif change == "ok-with-error":
        rounds[1]["error"] = "but it was fine"
    elif change == "schema-2":
        document["benchmarks"][0]["extra_info"]["retrain_bench"]["schema"] = 2
    elif change == "schema-string":
        document["benchmarks"][0]["extra_info"]["retrain_bench"]["schema"] = "1"
    return write(tmp_path, json.dumps(document))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: str(tmp / "absent.json"), "{path}: cannot read it (No such file or directory)"),
        (
            lambda tmp: write(tmp, "{not json"),
            "{path}: not valid JSON (Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)); pass a file written with "
            "--benchmark-json",
        ),
        (
            lambda tmp: write(tmp, '{"benchmarks": [], "x": NaN}'),
            "{path}: not valid JSON (NaN is not JSON); pass a file written with --benchmark-json",
        ),
        (
            lambda tmp: write(tmp, "[1, 2]"),
            "{path}: not pytest-benchmark JSON (no 'benchmarks'); pass a file written with --benchmark-json",
        ),
        (
            lambda tmp: broken(tmp, "negative-time"),
            "{path}: does not match the retrain-bench schema at "
            "benchmarks/0/extra_info/retrain_bench/rounds/1/total_s: -1.0 is "
            "less than the minimum of 0",
        ),
        (
            lambda tmp: broken(tmp, "schema-2"),
            "{path}: written with retrain-bench JSON schema 2; this release reads schema 1: use the release that "
            "wrote it, or re-run the benchmark",
        ),
        (
            lambda tmp: broken(tmp, "schema-string"),
            "{path}: does not match the retrain-bench schema at "
            "benchmarks/0/extra_info/retrain_bench/schema: 1 was expected",
        ),
    ],
)
def test_validate_rejects_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], str], message: str
) -> None:
    path = make(tmp_path)
    assert main(["validate", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "retrain-bench: error: " + message.format(path=path) + "\n"


def test_an_ok_round_with_an_error_is_not_valid(tmp_path: Path) -> None:
    assert main(["validate", broken(tmp_path, "ok-with-error")]) == 2


def test_module_entry_point_exits_with_the_code() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "retrain_bench", "validate", "/nonexistent.json"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr == "retrain-bench: error: /nonexistent.json: cannot read it (No such file or directory)\n"


GOLDEN = {
    "smoke-run.json": ("bare-smoke", "flyte-smoke", "kfp-smoke"),
    "compare-baseline.json": ("bare-base", "flyte-base", "kfp-base", "bare-tuning", "flyte-tuning"),
    "compare-current.json": ("bare-base", "flyte-base", "kfp-base", "flyte-tuning"),
    "compare-hash-mismatch.json": ("flyte-base",),
    "report-local.json": ("flyte-base", "kfp-base", "bare-base", "flyte-no_drift", "kfp-no_drift", "bare-no_drift"),
    "report-cluster.json": ("flyte-base", "kfp-base"),
    "report-sweep.json": ("flyte-base", "kfp-base", "bare-base@scale=30", "kfp-base@fanout=4"),
    "compare-versions.json": ("flyte@1.15.4-smoke", "flyte@1.16.31-smoke", "bare-smoke"),
    "compare-rates-baseline.json": ("bare-base", "flyte-base"),
    "compare-rates-current.json": ("bare-base", "flyte-base"),
    "compare-all-failed-baseline.json": (),
    "compare-all-failed-current.json": (),
    "report-server-local.json": ("prefect-base", "airflow-base"),
    "report-server.json": ("prefect-base", "airflow-base"),
}


GOOD_FILES = sorted(GOLDEN)


@pytest.mark.parametrize("name", GOOD_FILES)
def test_upstream_pytest_benchmark_compare_loads_our_json(tmp_path: Path, name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(DATA / name)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for param in GOLDEN[name]:
        assert f"test_retraining[{param}]" in done.stdout


def test_every_json_under_tests_data_is_listed_and_valid() -> None:
    from retrain_bench.results.contract import validate

    assert sorted(p.name for p in DATA.glob("*.json")) == GOOD_FILES
    for name in GOOD_FILES:
        validate(json.loads((DATA / name).read_text()))


def test_golden_files_are_what_tests_golden_writes() -> None:
    from tests import golden

    for name in golden.FILES:
        assert (DATA / name).read_text() == golden.render(name), "regenerate: PYTHONPATH=. python -m tests.golden"


def test_merge_pools_rounds_into_a_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retrain_bench.results.contract import validate

    # Two sessions of bare/base: total_s [9.9, 10, 10.1, 10, 10] and [10.9, 11, 11.1, 11, 11] (tests/golden.py).
    first, second = str(DATA / "gate" / "gate-runs-1.json"), str(DATA / "gate" / "gate-runs-2.json")
    out = tmp_path / "merged.json"
    assert main(["merge", first, second, "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    validate(merged)
    bare = merged["benchmarks"][0]
    record = bare["extra_info"]["retrain_bench"]
    assert [r["index"] for r in record["rounds"]] == list(range(10))
    assert record["summary"]["total_s"]["n"] == 10
    assert record["summary"]["resources.process_tree.cpu_avg_mcpu"]["n"] == 10
    # pytest-benchmark's own stats follow the pooled rounds, so upstream tools agree with ours: (50 + 55) / 10.
    assert (bare["stats"]["rounds"], bare["stats"]["mean"]) == (10, pytest.approx(10.5))
    assert bare["stats"]["data"] == [9.9, 10.0, 10.1, 10.0, 10.0, 10.9, 11.0, 11.1, 11.0, 11.0]
    run_level = merged["retrain_bench"]
    assert run_level["notes"][-1] == "merged: rounds pooled from 2 files by `python -m retrain_bench merge`"
    assert run_level["merged_from"] == [
        {"datetime": f"2026-11-1{n}T10:00:00+00:00", "commit": str(n) * 40, "node": "bench-runner"} for n in (1, 2)
    ]
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("again", ["same-path", "copy", "merged-file"])
def test_merge_refuses_a_run_it_has_already_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], again: str
) -> None:
    """Merging a run with itself doubled its rounds (n 5 → 10): the same session twice is refused, also when it
    comes back inside a file merged from it (merged_from)."""
    first, second = DATA / "gate" / "gate-runs-1.json", str(DATA / "gate" / "gate-runs-2.json")
    if again == "same-path":
        files = [str(first), str(first)]
    elif again == "copy":
        (tmp_path / "copy.json").write_text(first.read_text())
        files = [str(first), str(tmp_path / "copy.json")]
    else:
        assert main(["merge", str(first), second, "--out", str(tmp_path / "m.json")]) == 0
        files = [str(tmp_path / "m.json"), second]
    assert main(["merge", *files, "--out", str(tmp_path / "out.json")]) == 2
    session = (
        "datetime 2026-11-12T10:00:00+00:00, commit 2222222"
        if again == "merged-file"
        else ("datetime 2026-11-11T10:00:00+00:00, commit 1111111")
    )
    assert capsys.readouterr().err == (
        f"retrain-bench: error: {files[1]}: bare/base (local, dc1daecf77ee) holds the rounds of a run already read "
        f"from {files[0]} ({session}, node bench-runner); pooling would count them twice: give each run once\n"
    )
    assert not (tmp_path / "out.json").exists()


def test_version_is_the_one_pyproject_declares() -> None:
    # Expected value read from pyproject.toml, not from the package metadata the command itself uses:
    # an install whose metadata drifted from the source, or a hard-coded string, would differ.
    import tomllib

    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run(
        [sys.executable, "-m", "retrain_bench", "--version"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"retrain-bench {declared}\n", "")


def test_validate_counts_the_failed_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    """A benchmark without an ok round lives in the run level's failed_benchmarks: it is counted, and said."""
    failed, rates = DATA / "compare-all-failed-current.json", DATA / "compare-rates-current.json"
    assert main(["validate", str(failed), str(rates)]) == 0
    assert capsys.readouterr().out == f"{failed}: ok, 1 benchmark (1 without an ok round)\n{rates}: ok, 2 benchmarks\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda record: record["rounds"][0].update(error=None),
            "does not match the retrain-bench schema at "
            "retrain_bench/failed_benchmarks/0/extra_info/retrain_bench/rounds/0",
        ),
        (
            lambda record: record.update(schema=2),
            "written with retrain-bench JSON schema 2; this release reads schema 1",
        ),
    ],
    ids=["failed-round-without-error", "schema-2"],
)
def test_validate_checks_the_failed_benchmarks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Callable[[dict[str, object]], None], message: str
) -> None:
    document = json.loads((DATA / "compare-all-failed-current.json").read_text())
    change(document["retrain_bench"]["failed_benchmarks"][0]["extra_info"]["retrain_bench"])
    path = write(tmp_path, json.dumps(document))
    assert main(["validate", path]) == 2
    assert capsys.readouterr().err.startswith(f"retrain-bench: error: {path}: {message}")


def test_reprice_prices_the_failed_benchmarks_too() -> None:
    from retrain_bench.measure.cost import Prices
    from retrain_bench.results.records import reprice

    document = json.loads((DATA / "compare-all-failed-current.json").read_text())
    record = document["retrain_bench"]["failed_benchmarks"][0]["extra_info"]["retrain_bench"]
    assert "cost" not in record["rounds"][0]  # the golden rounds carry no cost: reprice must add it
    priced = reprice(document, Prices(3600.0, 0.0, "a test"))
    rounds = priced["retrain_bench"]["failed_benchmarks"][0]["extra_info"]["retrain_bench"]["rounds"]
    # A failed local round: no resources, so no usage scope; nothing is allocated on the local target.
    assert [r["cost"] for r in rounds] == [{"usage": {}, "allocation_usd": None}] * 5
    assert all(r["missing"]["cost.allocation_usd"].startswith("not_applicable: local target") for r in rounds)
