"""Flyte 2 and Dagster through the real harness: a child ``pytest bench/`` round in each platform's own environment.

Start-up is shown to stay out of ``total_s`` with a known delay: ``tests/slow_import`` makes the
launcher's first import of one SDK module sleep, and that sleep must land in ``startup_s`` (before
"go"), not in ``queue_s`` (from "go" to the first task's stamp), where it would land if the
platform imported that module only when the timed run starts. The modules: the SDK itself, and for
Dagster the storage of the ephemeral instance ``prepare`` makes (imported only when one is made).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from retrain_bench.platforms.flyte2.local import METADATA_ROOT
from tests.envs_fixtures import shared_envs_dir
from tests.helpers import REPO, BenchRun, records
from tests.own_env_platforms import own_environment
from tests.test_plugin import leftover_processes

pytestmark = pytest.mark.slow

DELAY_S = 4.0


def _metadata_entries() -> set[str] | None:
    if not METADATA_ROOT.parent.exists():
        return None
    return {p.name for p in METADATA_ROOT.iterdir()} if METADATA_ROOT.exists() else set()


@pytest.mark.parametrize(
    ("platform", "module"),
    [("flyte2", "flyte"), ("dagster", "dagster"), ("dagster", "dagster._core.storage.runs.in_memory")],
)
def test_a_round_is_ok_with_start_up_outside_the_timer_and_leaves_nothing(
    platform: str, module: str, bench_run: BenchRun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    own_environment(platform)  # built (or reused) here, so the child run only reuses it
    monkeypatch.setenv("RETRAIN_BENCH_ENVS", str(shared_envs_dir()))
    slow_log = tmp_path / "slow-imports.jsonl"
    monkeypatch.setenv(
        "RETRAIN_BENCH_SLOW_IMPORT", json.dumps({"modules": [module], "seconds": DELAY_S, "log": str(slow_log)})
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests" / "slow_import"), os.environ["PYTHONPATH"]]))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    before = _metadata_entries()

    result, document = bench_run.run(f"--platform={platform}", "--case=smoke", "--rounds=1", "--warmup=0")

    assert result.ret == 0, result.stdout.str()[-3000:]
    assert document is not None
    record = records(document)[f"{platform}-smoke"]
    (round_,) = record["rounds"]
    assert round_["ok"] is True, round_["error"]
    assert (round_["drift_detected"], round_["best_c"], round_["accuracy"]["final"]) == (True, 0.1, 0.72)
    # The delay ran once, in the round's launcher of this platform...
    (slept,) = [json.loads(line) for line in slow_log.read_text().splitlines()]
    assert (slept["platform"], slept["module"]) == (platform, module)
    # ...before "go": in start-up. Had the module been first imported in the timed run, the
    # first task would have started DELAY_S after "go" at the earliest.
    assert round_["startup_s"] >= DELAY_S
    assert round_["queue_s"] < DELAY_S
    # Nothing left: no round directory, no process, no metadata under /tmp/flyte, nothing in HOME.
    assert list(bench_run.tmp.glob("retrain-bench-*")) == []
    assert leftover_processes(bench_run.tmp) == []
    # Only what this run made is judged: another flyte process on the machine may come and go meanwhile.
    after = _metadata_entries()
    assert (after or set()) - (before or set()) == set()
    if before is None:
        assert after is None  # /tmp/flyte did not exist, and the round did not leave it behind
    assert list(home.rglob("*")) == []
    # The round's log has no Dagster DEBUG event lines and no Flyte chatter: the launcher printed nothing.
    (log,) = (bench_run.pytester.path / "logs").glob(f"{platform}-smoke-*.log")
    assert log.read_text().strip() == ""
