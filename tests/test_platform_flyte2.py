"""Flyte 2 through a real ``flyte.run`` in local mode: bare's answers on every case, its shape, nothing left behind.

The environment is the platform's own (flyte 2.12.1), built or reused by ``environments.ensure``;
every case runs in one child of its interpreter, as a launcher runs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from retrain_bench.platforms.flyte2.local import METADATA_ROOT
from retrain_bench.workload.cases import CASES
from retrain_bench.workload.retraining import run_bare
from tests.own_env_platforms import Batch, own_environment, parquet_tables, run_cases
from tests.slow_tune import SLOW_TUNE

pytestmark = pytest.mark.slow

NAMES = ("base", "scaling", "tuning", "no_drift", "smoke")
#: A case whose make_data raises (an unknown drift kind): the run fails inside Flyte.
BROKEN = dataclasses.replace(CASES["smoke"], drift="sideways", variant="broken")
#: What ``local.run`` returned: the root task's outputs (final accuracy, best C).
EVIDENCE = "def evidence(result):\n    return list(result)\n"


def _metadata_entries() -> set[str] | None:
    """The run directories under flyte's hard-coded metadata root; None when /tmp/flyte is absent."""
    if not METADATA_ROOT.parent.exists():
        return None
    return {p.name for p in METADATA_ROOT.iterdir()} if METADATA_ROOT.exists() else set()


@dataclasses.dataclass(frozen=True)
class Flyte2Runs:
    batch: Batch
    before: set[str] | None
    after: set[str] | None


@pytest.fixture(scope="module")
def flyte2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flyte2Runs]:
    env = own_environment("flyte2")
    before = _metadata_entries()
    cases = [*(CASES[n] for n in NAMES), SLOW_TUNE]
    batch = run_cases("flyte2", env, cases, tmp_path_factory.mktemp("flyte2"), EVIDENCE)
    yield Flyte2Runs(batch, before, _metadata_entries())


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flyte2Runs]:
    env = own_environment("flyte2")
    before = _metadata_entries()
    batch = run_cases("flyte2", env, [BROKEN], tmp_path_factory.mktemp("flyte2-broken"), EVIDENCE)
    yield Flyte2Runs(batch, before, _metadata_entries())


@pytest.mark.parametrize("name", NAMES)
def test_flyte2_computes_what_bare_computes_with_one_tune_action_per_c(name: str, flyte2: Flyte2Runs) -> None:
    case = CASES[name]
    run = flyte2.batch.runs[name]
    bare = run_bare(case)
    assert run.log.outcome(case.grid) == bare
    # The root task returned what its select_best (or, without drift, detect_drift) recorded.
    assert run.evidence == [bare.final_accuracy, bare.best_c]
    drift = case.drift != "none"
    assert sorted(s.c for s in run.log.of("tune")) == (sorted(case.grid) if drift else [])
    assert not run.log.of("select_best") if not drift else len(run.log.of("select_best")) == 1
    # Every step ran as a Flyte action of its own, not as one task doing everything.
    assert len({s.unit for s in run.log.stamps}) == len(run.log.stamps) == 3 + (len(case.grid) + 1 if drift else 0)
    assert all(s.unit.startswith("flyte2:") for s in run.log.stamps)


@pytest.mark.parametrize("name", ["tuning", "no_drift"])
def test_the_frames_travel_as_parquet_under_the_rounds_directory(name: str, flyte2: Flyte2Runs) -> None:
    case = CASES[name]
    run = flyte2.batch.runs[name]
    frames = [t for t in parquet_tables(run.workdir / "flyte2-raw") if "label" in t.column_names]
    # train_data and drifted_data, each case.rows rows, written by Flyte's pandas DataFrame type.
    assert len(frames) >= 2
    assert {t.num_rows for t in frames} == {case.rows}


def test_the_tune_bodies_run_side_by_side_in_threads(flyte2: Flyte2Runs) -> None:
    # smoke with 0.5 s of sleep in each of its two tune bodies: sync tasks awaited with .aio()
    # under asyncio.gather run in threads, so each tune starts before the other has ended. An
    # async tune (the body on the event loop) would run them one after the other.
    tunes = flyte2.batch.runs[SLOW_TUNE.key].log.of("tune")
    assert len(tunes) == 2
    assert max(s.start_ns for s in tunes) < min(s.end_ns for s in tunes)


def test_a_failed_run_raises_the_tasks_error_and_leaves_no_metadata(broken: Flyte2Runs) -> None:
    assert "unknown drift kind 'sideways'" in broken.batch.runs[BROKEN.key].evidence["error"]
    # The run's metadata directory goes also when the run fails (flyte wrote make_data's there).
    assert broken.after == broken.before


def test_no_run_leaves_metadata_in_tmp_flyte_or_anything_in_home(flyte2: Flyte2Runs) -> None:
    # flyte 2.12 writes each local run's metadata to /tmp/flyte/metadata/<run>, whatever TMPDIR says;
    # six runs here, and not one of their directories is left.
    assert flyte2.after == flyte2.before
    assert list(flyte2.batch.home.rglob("*")) == []
    # Flyte prints nothing at its default level; the output is the evidence lines alone.
    assert [line for line in flyte2.batch.output.splitlines() if not line.startswith("EVIDENCE ")] == []
