"""Nothing lost, nothing left running (issue 16): signals at chosen moments, output paths checked
at start and written whole, a hanging Prometheus bounded, sizes within sane bounds.

Signals go to a real child pytest running the real benchmark (bare platform, smoke case) whose
TMPDIR is a directory of this test's, so what a round leaves behind (processes, round
directories) can be looked for. A moment is chosen by waiting for the child's progress line.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.harness.local import run_local_round
from retrain_bench.harness.scopes import PrometheusPlan
from retrain_bench.results.contract import validate
from retrain_bench.results.files import atomic_write
from retrain_bench.results.round import RoundResult
from retrain_bench.workload.cases import CASES, Case, log_grid
from tests.helpers import BenchRun, records, repo_pythonpath
from tests.inline_run import InlineBenchRun
from tests.prometheus import free_port, running_prometheus
from tests.test_plugin import leftover_processes
from tests.test_plugin_prometheus import SPACING, plant_platform


class Child:
    """``pytest test_bench.py ARGS`` in ``tmp_path``, its output read line by line."""

    def __init__(self, tmp_path: Path, *args: str, conftest: str = "", preexec: Any = None) -> None:
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        self.out = tmp_path / "out.json"
        (tmp_path / "test_bench.py").write_text("from bench.test_retraining import test_retraining  # noqa: F401\n")
        if conftest:
            (tmp_path / "conftest.py").write_text(conftest)
        env = {**os.environ, "TMPDIR": str(self.tmp), "PYTHONPATH": repo_pythonpath()}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                "test_bench.py",
                f"--benchmark-json={self.out}",
                f"--round-logs={tmp_path / 'logs'}",
                *args,
            ],  # fmt: skip
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=preexec,
        )
        self.seen: list[str] = []

    def wait_for(self, text: str) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.seen.append(line)
            if text in line:
                return
        pytest.fail(f"the child ended before {text!r}:\n{''.join(self.seen)}")

    def signal(self, *signals: signal.Signals, gap: float = 0.01) -> None:
        for k, sent in enumerate(signals):
            if k:
                time.sleep(gap)
            self.proc.send_signal(sent)

    def finish(self, timeout: float = 90) -> tuple[int, str]:
        rest, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.seen) + rest

    def document(self, output: str) -> dict[str, Any]:
        assert self.out.exists(), output
        document: dict[str, Any] = json.loads(self.out.read_text())
        validate(document)
        return document

    def left_behind(self) -> tuple[list[Any], list[Path]]:
        return leftover_processes(self.tmp), list(self.tmp.glob("retrain-bench-*"))


SLOW = ("-p", "tests.slow_tune", "--platform=bare", "--case=smoke:slow_tune", "--warmup=0")


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("signals", "label"),
    [((signal.SIGTERM,), "SIGTERM"), ((signal.SIGINT, signal.SIGINT), "Ctrl-C")],
    ids=["sigterm", "double-sigint"],
)
def test_a_signal_during_a_round_kills_it_and_keeps_the_rounds_before(
    tmp_path: Path, signals: tuple[signal.Signals, ...], label: str
) -> None:
    child = Child(tmp_path, *SLOW, "--rounds=3")
    child.wait_for("[retrain-bench] bare/smoke:slow_tune round 1/3")
    time.sleep(0.6)  # round 2 runs (each tune task sleeps 0.5 s)
    child.signal(*signals)
    code, output = child.finish()
    assert code == pytest.ExitCode.INTERRUPTED, output
    document = child.document(output)
    assert document["retrain_bench"]["interrupted"] is True
    (record,) = records(document).values()
    assert [r["ok"] for r in record["rounds"]] == [True, False]
    assert record["rounds"][1]["error"] == f"interrupted ({label}); process group killed"
    assert child.left_behind() == ([], [])


BETWEEN_TESTS = """
import sys, time

def pytest_runtest_teardown(item):
    print(f"[test] teardown {item.name}", flush=True)
    time.sleep(5)
"""


@pytest.mark.e2e
def test_sigterm_between_tests_still_saves_the_rounds_of_the_next_one(tmp_path: Path) -> None:
    # bare-smoke's test runs both platforms' interleaved rounds; flyte-smoke's test only replays them.
    child = Child(tmp_path, "--platform=bare,flyte", "--case=smoke", "--rounds=1", "--warmup=0", "-s",
                  conftest=BETWEEN_TESTS)  # fmt: skip
    child.wait_for("[test] teardown test_retraining[bare-smoke]")
    child.signal(signal.SIGTERM)
    code, output = child.finish()
    assert code == pytest.ExitCode.INTERRUPTED, output
    document = child.document(output)
    assert document["retrain_bench"]["interrupted"] is True
    found = records(document)
    assert sorted(found) == ["bare-smoke", "flyte-smoke"]
    assert all(r["ok"] for record in found.values() for r in record["rounds"])
    assert child.left_behind() == ([], [])


BEFORE_ROUNDS = """
import time

def pytest_collection_finish(session):
    print("[test] collected", flush=True)
    time.sleep(10)
"""


@pytest.mark.e2e
def test_sigterm_before_any_round_writes_an_empty_interrupted_run(tmp_path: Path) -> None:
    child = Child(tmp_path, "--platform=bare", "--case=smoke", conftest=BEFORE_ROUNDS)
    child.wait_for("[test] collected")
    child.signal(signal.SIGTERM)
    code, output = child.finish()
    assert code == pytest.ExitCode.INTERRUPTED, output
    document = child.document(output)
    assert document["retrain_bench"]["interrupted"] is True
    assert document["benchmarks"] == [] and document["retrain_bench"]["failed_benchmarks"] == []


@pytest.mark.e2e
def test_sigterm_during_the_scrape_wait_keeps_every_round(tmp_path: Path) -> None:
    # Nothing listens there: the wait (30 s, --scrape-interval) comes before any request.
    child = Child(tmp_path, "--platform=bare", "--case=smoke", "--rounds=2", "--warmup=0",
                  f"--prometheus-url=http://127.0.0.1:{free_port()}", "--prometheus-namespace=plat",
                  "--scrape-interval=30")  # fmt: skip
    child.wait_for("[retrain-bench] waiting")
    started = time.monotonic()
    child.signal(signal.SIGTERM)
    code, output = child.finish()
    assert time.monotonic() - started < 20, "the wait was not cut short"
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert "for Prometheus at http://127.0.0.1:" in output and "(--scrape-interval 30s)" in output
    document = child.document(output)
    assert document["retrain_bench"]["interrupted"] is True
    (record,) = records(document).values()
    assert [r["ok"] for r in record["rounds"]] == [True, True]
    assert all("platform" not in r["resources"] for r in record["rounds"])  # not measured, not zero
    assert child.left_behind() == ([], [])


@contextlib.contextmanager
def hung_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """A server that accepts TCP connections and never answers: a Prometheus that hangs."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


@pytest.mark.e2e
def test_double_sigint_during_prometheus_collection_keeps_every_round(tmp_path: Path) -> None:
    with hung_server() as (url, _):
        child = Child(tmp_path, "--platform=bare", "--case=smoke", "--rounds=2", "--warmup=0",
                      f"--prometheus-url={url}", "--prometheus-namespace=plat", "--scrape-interval=0.1",
                      "--prometheus-timeout=60")  # fmt: skip
        child.wait_for("[retrain-bench] reading bare/smoke figures of 2 rounds")
        time.sleep(0.3)
        started = time.monotonic()
        child.signal(signal.SIGINT, signal.SIGINT)
        code, output = child.finish()
    assert time.monotonic() - started < 20, "the request was not cut short"
    assert code == pytest.ExitCode.INTERRUPTED, output
    document = child.document(output)
    assert document["retrain_bench"]["interrupted"] is True
    (record,) = records(document).values()
    assert [r["ok"] for r in record["rounds"]] == [True, True]
    assert child.left_behind() == ([], [])


# -- a Prometheus that hangs costs one timeout, not one per round --------------------------------


def test_a_hanging_prometheus_costs_one_timeout_and_one_warning(bench_run: BenchRun) -> None:
    with hung_server() as (url, accepted):
        result, document = bench_run.run(
            "--platform=bare", "--case=smoke,no_drift", "--rounds=2", "--warmup=0",
            f"--prometheus-url={url}", "--prometheus-namespace=plat", "--scrape-interval=0.1",
            "--prometheus-timeout=1",
        )  # fmt: skip
        connections = len(accepted)
    assert result.ret == 0, result.stdout.str()
    assert connections == 1  # the first request; every later one skipped
    assert result.stdout.str().count("ResourcesWarning: Prometheus resources are missing") == 1
    assert document is not None
    where = url.removeprefix("http://")
    first = f"metric memory: Prometheus at http://{where} did not answer within 1 s"
    skipped = f"not measured: Prometheus was skipped for the rest of the run after a request failed ({first})"
    reasons = [
        r["missing"]["resources.platform.cpu_seconds"]
        for case in ("bare-smoke", "bare-no_drift")
        for r in records(document)[case]["rounds"]
    ]
    assert reasons == [first, skipped, skipped, skipped]
    for record in records(document).values():
        for r in record["rounds"]:
            assert r["resources"]["platform"]["cpu_seconds"] is None  # missing, not zero
    assert document["retrain_bench"]["prometheus"]["skipped"] == first


def window_round(start: float, end: float, index: int) -> RoundResult:
    return RoundResult(
        platform="bare", case="smoke", index=index, warmup=False, log=Path("x.log"), ok=True, error=None,
        total_s=end - start, startup_s=0.1, queue_s=0.0, retrain_tune_s=None, outcome=None, task_counts={},
        units=1, window=(start, end),
    )  # fmt: skip


@pytest.mark.e2e
@pytest.mark.prometheus
def test_against_a_real_prometheus_the_breaker_opens_when_it_goes_away(tmp_path: Path) -> None:
    warnings: list[str] = []
    with running_prometheus(tmp_path / "prom") as url:
        plant_platform(url)
        plan = PrometheusPlan.from_options(
            url=url, namespaces=["plat"], pod_regex=None, profile=None, scrape_interval=SPACING,
            insecure_skip_verify=False, timeout="2",
        )  # fmt: skip
        assert plan is not None and plan.settings.timeout_s == 2.0
        now = time.time()
        (measured,) = plan.collect([window_round(now - 20, now - 10, 0)], warnings.append)
    assert measured.resources["platform"].memory_peak_gib == pytest.approx(1.0) and warnings == []
    # The server is gone: its first refused request opens the breaker, the next rounds ask nothing.
    out = plan.collect([window_round(now - 20, now - 10, 1), window_round(now - 9, now - 5, 2)], warnings.append)
    (warning,) = warnings
    assert warning.startswith(f"Prometheus resources are missing: metric memory: cannot reach Prometheus at {url}")
    assert plan.breaker.reason is not None and plan.breaker.reason in warning
    assert out[0].resources["platform"].missing["cpu_seconds"] == plan.breaker.reason
    assert out[1].resources["platform"].missing["cpu_seconds"] == plan.breaker.skipped()


def test_prometheus_timeout_is_validated(inline_bench: InlineBenchRun) -> None:
    result, _ = inline_bench.run(
        "--prometheus-url=http://127.0.0.1:9", "--prometheus-namespace=a", "--prometheus-timeout=0"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --prometheus-timeout: '0' must be between 0.1 and 600"])


# -- output paths checked before any round, written whole ----------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--benchmark-json={tmp}/no/run.json"], "--benchmark-json: {tmp}/no/run.json: the directory {tmp}/no does*"),
        (["--benchmark-json={tmp}"], "--benchmark-json: {tmp} is a directory; name a file in it*"),
        (["--benchmark-json={tmp}/file/run.json"], "--benchmark-json: {tmp}/file/run.json: {tmp}/file is not a dir*"),
        (["--benchmark-json=/proc/run.json"], "--benchmark-json: cannot write /proc/run.json (*)"),
        (["--round-logs={tmp}/file"], "--round-logs: {tmp}/file is a file, not a directory; name a*"),
        (["--round-logs={tmp}/file/logs"], "--round-logs: {tmp}/file/logs: {tmp}/file is a file, so the*"),
        (["--round-logs=/proc/logs"], "--round-logs: cannot write in /proc (*)"),
        (["--benchmark-autosave", "--benchmark-storage={tmp}/file"], "--benchmark-storage: {tmp}/file is a file*"),
        (["--benchmark-disable"], "--benchmark-disable turns pytest-benchmark off, so --benchmark-json would get*"),
    ],
)
def test_unusable_outputs_are_usage_errors_before_any_round(
    inline_bench: InlineBenchRun, options: list[str], message: str
) -> None:
    tmp = inline_bench.pytester.path
    (tmp / "file").write_text("not a directory\n")
    result, _ = inline_bench.run("--platform=bare", "--case=smoke", *(o.format(tmp=tmp) for o in options))
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([f"ERROR: {message.format(tmp=tmp)}"])
    assert "Traceback" not in result.stderr.str()
    assert "[retrain-bench] bare/smoke" not in result.stdout.str()  # no round ran
    assert list(inline_bench.tmp.glob("retrain-bench-*")) == []


def limit_file_size() -> None:
    """In the child: files may not grow past 8 KiB (a run's JSON is ~16 KiB) (EFBIG, as a full disk gives ENOSPC)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024, 8 * 1024))


@pytest.mark.e2e
def test_a_json_that_cannot_be_written_leaves_the_previous_one_and_fails_the_run(tmp_path: Path) -> None:
    child = Child(tmp_path, "--platform=bare", "--case=smoke", "--rounds=1", "--warmup=0", preexec=limit_file_size)
    child.out.write_text('{"previous": true}\n')
    code, output = child.finish()
    assert code == pytest.ExitCode.TESTS_FAILED, output
    assert (
        f"ERROR: retrain-bench: could not write {child.out} (File too large); the previous file is untouched" in output
    )
    assert child.out.read_text() == '{"previous": true}\n'
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []  # no temporary file left


def test_atomic_write_keeps_the_previous_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text("previous")

    def half_then_fail(out: Any) -> None:
        out.write(b'{"benchmarks": [')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
    atomic_write(path, lambda out: out.write(b"new") and None)
    assert path.read_text() == "new" and oct(path.stat().st_mode & 0o777) != oct(0o600)


def test_a_round_whose_log_cannot_be_opened_leaves_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    (tmp_path / "logs" / "r.log").mkdir(parents=True)  # the log's path is a directory
    with pytest.raises(IsADirectoryError):
        run_local_round("bare", CASES["smoke"], 0, warmup=False, run_timeout=60, log=tmp_path / "logs" / "r.log")
    assert list(tmp_path.glob("retrain-bench-*")) == []


# -- sizes -----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_grid_longer_than_a_command_line_argument_reaches_the_launcher(tmp_path: Path) -> None:
    # 10,000 C values: ~170 KiB of case JSON, past Linux's 128 KiB per argument. No drift, so the
    # adaptive branch (10,000 tune calls) is skipped and the round stays quick.
    wide = Case("wide", rows=2000, grid=log_grid(10_000), drift="none")
    assert len(wide.to_json()) > 128 * 1024
    result = run_local_round("bare", wide, 0, warmup=False, run_timeout=120, log=tmp_path / "wide.log")
    assert result.ok, result.error
    assert result.outcome is not None and not result.outcome.drift_detected


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--fanout=1001", "--fanout: 1001 is above 1000 (1001 tune tasks per round); pass --allow-large*"),
        ("--scale=1,5000", "--scale: 5000 is above 1000 (5000 x 2,000 rows of train and drifted data per round)*"),
        ("--concurrency=101", "--concurrency: 101 is above 100 (101 executions at once per round)*"),
        (
            "--platform=,",
            "--platform: ',' names no platform; choose from flyte, flyte2, kfp, bare, airflow, prefect, dagster",
        ),
        (
            "--case=,",
            "--case: ',' names nothing; choose from base, scaling, tuning, no_drift, smoke, covariate, "
            "covariate_data_drift, relabel, relabel_data_drift, scheduled",
        ),
        ("--target=cluster --connect-timeout=0", "--connect-timeout: '0' must be more than 0 and at most 600 seconds"),
    ],
)
def test_sizes_above_their_bound_and_empty_lists_are_usage_errors(
    inline_bench: InlineBenchRun, option: str, message: str
) -> None:
    result, _ = inline_bench.run(*option.split())
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_allow_large_lets_a_large_sweep_through(inline_bench: InlineBenchRun) -> None:
    result, _ = inline_bench.run("--platform=bare", "--fanout=2000", "--allow-large", "--collect-only", "-q")
    assert result.ret == 0, result.stderr.str()
    assert [line.split("::")[1] for line in result.outlines if "::" in line] == [
        "test_retraining[bare-base@fanout=2000]"
    ]
