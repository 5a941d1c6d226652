"""Prefect 3 through a real flow run against a real ``prefect server``: bare's answers on every case, its shape.

The environment is the platform's own (prefect 3.9.1), built or reused by ``environments.ensure``;
the server is the platform's real session service, started once for the module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups
from retrain_bench.platforms.definition import ServiceContext
from retrain_bench.platforms.prefect import service
from retrain_bench.workload.cases import CASES
from retrain_bench.workload.retraining import run_bare
from tests.service_platforms import Session, live_processes_with, own_environment, run_round, session

pytestmark = pytest.mark.slow

#: Read in the launcher after the run, from the server: the latest flow run's state and its task runs.
EVIDENCE = """
def evidence():
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort
    with get_client(sync_client=True) as client:
        run = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)[0]
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    return {"flow": run.state_type.value,
            "tasks": sorted([t.task_key.rsplit("-", 1)[0], t.state_type.value] for t in tasks)}
"""


@pytest.fixture(scope="module")
def prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with session("prefect", tmp_path_factory.mktemp("prefect-session")) as running:
        yield running


# Every DAG shape the cases make: a fan-out of one (base), two (smoke) and five (tuning), and the
# branch not taken (no_drift); scaling is base with three times the rows, the same shape.
@pytest.mark.parametrize("name", ["base", "tuning", "no_drift", "smoke"])
def test_prefect_computes_what_bare_computes_with_one_mapped_tune_per_c(
    name: str, prefect: Session, tmp_path: Path
) -> None:
    case = CASES[name]
    run = run_round(prefect, case, tmp_path / "round", EVIDENCE)
    assert run.log.outcome(case.grid) == run_bare(case)
    drift = case.drift != "none"
    assert sorted(s.c for s in run.log.of("tune")) == (sorted(case.grid) if drift else [])
    # Every step ran as a task run of its own, not as one task doing everything.
    assert len({s.unit for s in run.log.stamps}) == len(run.log.stamps)
    # The server saw the run: completed, with one task run per step and per C value.
    steps = ["detect_drift", "make_data", "train"]
    if drift:
        steps += ["select_best", *["tune"] * len(case.grid)]
    assert run.evidence == {"flow": "COMPLETED", "tasks": sorted([s, "COMPLETED"] for s in steps)}


def test_flows_report_to_the_sessions_server_quietly(prefect: Session, tmp_path: Path) -> None:
    evidence = """
def evidence():
    import os
    return {"api": os.environ["PREFECT_API_URL"], "home": os.environ["PREFECT_HOME"]}
"""
    run = run_round(prefect, CASES["smoke"], tmp_path / "round", evidence)
    assert run.evidence == {"api": prefect.variables["PREFECT_API_URL"], "home": prefect.variables["PREFECT_HOME"]}
    assert Path(run.evidence["home"]).is_relative_to(prefect.home)
    # No temporary server of its own, and none of the flow's INFO lines.
    assert "temporary server" not in run.output
    assert "INFO" not in run.output
    with urllib.request.urlopen(prefect.variables["PREFECT_API_URL"] + "/health", timeout=10) as answer:
        assert json.loads(answer.read()) is True


def test_prepare_refuses_to_run_without_a_server(tmp_path: Path) -> None:
    env = own_environment("prefect")
    script = "from retrain_bench.platforms.prefect import local; local.prepare()"
    done = subprocess.run(
        [str(env.python), "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "retrain_bench.errors.BenchError: PREFECT_API_URL is not set: run prefect rounds through the harness,"
        " which starts a server"
    )


def test_the_servers_process_group_is_gone_when_the_session_ends(tmp_path: Path) -> None:
    with session("prefect", tmp_path / "session") as running:
        server = live_processes_with("PREFECT_HOME", tmp_path / "session" / "server")
        leaders = [p for p in server if p.cmdline()[-6:-4] == ["server", "start"]]
        assert len(leaders) == 1
        leader = leaders[0].pid
        # In a group of its own (not the harness's), which holds every process of the server.
        assert os.getpgid(leader) == leader != os.getpgid(0)
        assert {p.pid for p in server} == {p.pid for p in groups.members(leader)}
        url = running.variables["PREFECT_API_URL"]
    assert groups.members(leader) == []
    assert live_processes_with("PREFECT_HOME", tmp_path / "session" / "server") == []
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/health", timeout=5)


def test_a_server_that_cannot_start_fails_in_one_line_naming_its_log(tmp_path: Path) -> None:
    # This interpreter has no Prefect: the server exits at once.
    context = ServiceContext(python=sys.executable, home=tmp_path, progress=lambda line: None)
    with pytest.raises(BenchError) as caught:
        with service.server(context):
            pass
    log = tmp_path / "prefect-server.log"
    assert str(caught.value) == f"the Prefect server exited with status 1 before it was healthy; its log: {log}"
    assert "No module named prefect" in log.read_text()
