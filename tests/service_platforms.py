"""Helpers for the tests of platforms that run in their own environment with session services (Airflow, Prefect).

Their SDKs are not in the suite's environment: each test builds (or reuses, from
``RETRAIN_BENCH_TEST_ENVS``) the platform's real environment with ``environments.ensure``, starts
the platform's real session services from this process, and runs the pipeline in a child process
of that environment's interpreter exactly as a launcher does (pipelines imported by location,
``prepare()``, ``run(case, workdir)``), reading the outcome back from the task stamps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil

from retrain_bench.platforms import registry
from retrain_bench.platforms.definition import ServiceContext
from retrain_bench.platforms.environments import Environment
from retrain_bench.workload.cases import Case
from retrain_bench.workload.stamps import ENV, StampLog
from tests.helpers import REPO
from tests.own_env_platforms import own_environment

#: The child: a launcher's steps, then what the platform itself recorded (``EVIDENCE``) as JSON on stdout.
CHILD = """
import json, sys
from pathlib import Path
from retrain_bench.harness.pipelines import import_pipelines
from retrain_bench.platforms import registry
from retrain_bench.workload.cases import Case
name, case_json, workdir, evidence = sys.argv[1:]
import_pipelines(Path({bench!r}))
platform = registry.platform(name)
platform.prepare()
platform.run(Case.from_json(case_json), Path(workdir))
namespace = {{}}
exec(evidence, namespace)
print("EVIDENCE " + json.dumps(namespace["evidence"]()))
"""


@dataclasses.dataclass(frozen=True)
class Session:
    """A platform's environment with its session services running."""

    name: str
    env: Environment
    variables: Mapping[str, str]
    home: Path


@contextlib.contextmanager
def session(name: str, home: Path) -> Iterator[Session]:
    env = own_environment(name)
    services = registry.platform(name).services
    assert services is not None
    home.mkdir(parents=True, exist_ok=True)
    with services(ServiceContext(python=str(env.python), home=home, progress=lambda line: None)) as variables:
        yield Session(name, env, dict(variables), home)


@dataclasses.dataclass(frozen=True)
class Run:
    log: StampLog
    evidence: Any
    output: str


def run_round(session: Session, case: Case, workdir: Path, evidence: str) -> Run:
    """One run of the pipeline in a child of the platform's interpreter, as a round's launcher runs it."""
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True)
    stamps = workdir / "stamps.jsonl"
    env = {**os.environ, **session.variables, "TMPDIR": str(tmp), ENV: str(stamps)}
    done = subprocess.run(
        [
            str(session.env.python),
            "-c",
            CHILD.format(bench=str(REPO / "bench")),
            session.name,
            case.to_json(),
            str(workdir),
            evidence,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=600,
        start_new_session=True,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("EVIDENCE "))
    return Run(StampLog.read(stamps), json.loads(line.removeprefix("EVIDENCE ")), output)


def live_processes_with(variable: str, under: Path) -> list[psutil.Process]:
    """Live processes whose environment has ``variable`` pointing under ``under`` (this test's own)."""
    found = []
    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            value = process.environ().get(variable, "")
            if value and Path(value).is_relative_to(under):
                found.append(process)
    return found
