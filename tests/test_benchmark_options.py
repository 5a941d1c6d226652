"""pytest-benchmark options the suite overrides are named; --codspeed is refused; the JSON's
``benchmarks[].options`` says how many rounds and warm-ups really ran."""

from __future__ import annotations

from tests.helpers import BenchRun


def test_overridden_options_are_named_and_options_tell_what_ran(bench_run: BenchRun) -> None:
    result, document = bench_run.run(
        "--platform=bare",
        "--case=smoke",
        "--rounds=2",
        "--warmup=1",
        "--benchmark-min-rounds=9",
        "--benchmark-timer=time.process_time",
        "--benchmark-max-time=1.0",  # its default: not named
    )
    assert result.ret == 0 and document is not None
    result.stdout.fnmatch_lines(
        ["*OverriddenOptionWarning: --benchmark-min-rounds, --benchmark-timer have no effect here*--warmup*"]
    )
    assert "--benchmark-max-time" not in result.stdout.str()
    (bench,) = document["benchmarks"]
    options = bench["options"]
    # 2 measured rounds and 1 warm-up ran, not pytest-benchmark's min_rounds 5 (nor the 9 asked for).
    assert (options["min_rounds"], options["warmup"], options["rounds"], options["warmup_rounds"]) == (2, 1, 2, 1)
    assert bench["stats"]["rounds"] == 2
    assert options["timer"].startswith("retrain_bench harness")


def test_no_warning_without_them(bench_run: BenchRun) -> None:
    result, _ = bench_run.run("--platform=bare", "--case=smoke", "--rounds=1", "--warmup=0")
    assert result.ret == 0
    assert "OverriddenOptionWarning" not in result.stdout.str()


def test_codspeed_is_refused(bench_run: BenchRun) -> None:
    # pytest-codspeed is not installed here; this registers its option exactly as its
    # pytest_codspeed/plugin.py pytest_addoption does (store_true, default False).
    bench_run.pytester.makeconftest(
        "def pytest_addoption(parser):\n"
        "    parser.getgroup('CodSpeed benchmarking').addoption('--codspeed', action='store_true', default=False)\n"
    )
    result, document = bench_run.run("--platform=bare", "--case=smoke", "--rounds=1", "--codspeed")
    assert result.ret == 4 and document is None  # a usage error, before any round ran
    result.stderr.fnmatch_lines(["*--codspeed: pytest-codspeed replaces pytest-benchmark's benchmark fixture*"])
    assert not (bench_run.pytester.path / "logs").exists()
