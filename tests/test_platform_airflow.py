"""Airflow 3 through its real ``dag.test()``: bare's answers on every case, the DAG's real shape, its session service.

The environment is the platform's own (apache-airflow 3.3.2), built or reused by
``environments.ensure``; the template metadata database comes from the platform's real session
service (``airflow db migrate``), and every run copies it, as a round's launcher does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms.airflow import service, settings
from retrain_bench.platforms.definition import ServiceContext
from retrain_bench.workload.cases import CASES
from retrain_bench.workload.retraining import run_bare
from tests.service_platforms import Session, run_round, session

pytestmark = pytest.mark.slow

#: Read in the launcher after the run: every task instance of the run as the metadata DB holds it.
EVIDENCE = """
def evidence():
    import os, sqlite3
    db = sqlite3.connect(os.path.join(os.environ["AIRFLOW_HOME"], "airflow.db"))
    return sorted(db.execute("select task_id, map_index, state from task_instance").fetchall())
"""


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with session("airflow", tmp_path_factory.mktemp("airflow-session")) as running:
        yield running


# Every DAG shape the cases make: a fan-out of one (base), two (smoke) and five (tuning), and the
# branch not taken (no_drift); scaling is base with three times the rows, the same shape.
@pytest.mark.parametrize("name", ["base", "tuning", "no_drift", "smoke"])
def test_airflow_computes_what_bare_computes_with_one_mapped_tune_per_c(
    name: str, airflow: Session, tmp_path: Path
) -> None:
    case = CASES[name]
    run = run_round(airflow, case, tmp_path / "round", EVIDENCE)
    assert run.log.outcome(case.grid) == run_bare(case)
    drift = case.drift != "none"
    assert sorted(s.c for s in run.log.of("tune")) == (sorted(case.grid) if drift else [])
    # Every step ran as a task instance of its own, not as one task doing everything.
    assert len({s.unit for s in run.log.stamps}) == len(run.log.stamps)
    states = {(task, index): state for task, index, state in run.evidence}
    if drift:
        # One mapped instance per C value (map indexes 0..n-1); the other branch skipped.
        assert {k: v for k, v in states.items() if k[0] == "tune"} == {
            ("tune", i): "success" for i in range(len(case.grid))
        }
        assert states[("select_best", -1)] == "success"
        assert states[("keep_current", -1)] == "skipped"
    else:
        # The branch skipped the mapped task before expanding it: its one unexpanded instance is skipped.
        assert states[("tune", -1)] == "skipped"
        assert states[("c_values", -1)] == "skipped"
        assert states[("select_best", -1)] == "skipped"
        assert states[("keep_current", -1)] == "success"
    for step in ("make_data", "train", "detect_drift", "adapt"):
        assert states[(step, -1)] == "success"


def test_a_round_gets_a_copy_of_the_template_and_its_home_under_the_rounds_tmpdir(
    airflow: Session, tmp_path: Path
) -> None:
    template = Path(airflow.variables[settings.TEMPLATE_DB_VARIABLE])
    before = template.read_bytes()
    evidence = """
def evidence():
    import os
    return {"home": os.environ["AIRFLOW_HOME"], "tmp": os.environ["TMPDIR"],
            "conn": os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]}
"""
    run = run_round(airflow, CASES["smoke"], tmp_path / "round", evidence)
    home = Path(run.evidence["home"])
    assert home.parent == Path(run.evidence["tmp"])
    assert run.evidence["conn"] == f"sqlite:///{home}/airflow.db"
    # The run wrote to its own copy: the session's template is as migrated, for the next round.
    assert template.read_bytes() == before
    # Quiet: Airflow's ~115 INFO lines a run are gone, and nothing of its logging says "error".
    assert run.output.count("[info") == 0
    assert "error" not in run.output.lower()


def test_the_service_fails_in_one_line_naming_its_log(tmp_path: Path) -> None:
    # This interpreter has no Airflow: the migration exits with an error.
    context = ServiceContext(python=sys.executable, home=tmp_path, progress=lambda line: None)
    with pytest.raises(BenchError) as caught:
        with service.template_database(context):
            pass
    log = tmp_path / "airflow-db-migrate.log"
    assert str(caught.value) == (
        f"airflow db migrate (the session's template metadata database) failed (exit status 1); its output: {log}"
    )
    assert "No module named airflow" in log.read_text()
