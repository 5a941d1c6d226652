"""Helpers for the tests of platforms that run in an environment of their own without services (Flyte 2, Dagster).

Their SDKs are not in the suite's environment: the platform's real environment is built (or
reused from ``RETRAIN_BENCH_TEST_ENVS``) with ``environments.ensure``, and the pipeline runs in one
child process of that environment's interpreter exactly as a launcher runs it (the pipelines
imported by location, ``local.prepare()`` once, then ``local.run(case, workdir)`` per case, each
case with its own TMPDIR and stamps file). Besides the stamps, the child hands back what the
platform itself returned, through an ``evidence(result)`` function given as source.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms.environments import Environment, EnvironmentRequest, ensure
from retrain_bench.workload.cases import Case
from retrain_bench.workload.stamps import StampLog
from tests.envs_fixtures import CONSTRAINTS, sdk_of, shared_envs_dir
from tests.helpers import REPO

#: The child: a launcher's steps for every case given on stdin, one JSON line of evidence per case.
CHILD = """
import importlib, json, os, sys, tempfile
from pathlib import Path
from retrain_bench.harness.pipelines import import_pipelines
from retrain_bench.workload.cases import Case
name, bench, evidence_source = sys.argv[1:]
namespace = {}
exec(evidence_source, namespace)
import_pipelines(Path(bench))
local = importlib.import_module(f"retrain_bench.platforms.{name}.local")
local.prepare()
for line in sys.stdin:
    job = json.loads(line)
    os.environ["TMPDIR"] = job["tmp"]
    tempfile.tempdir = None  # tempfile caches the first TMPDIR it read
    os.environ["BENCH_STAMPS"] = job["stamps"]
    try:
        result = local.run(Case.from_json(job["case"]), Path(job["workdir"]))
    except Exception as exc:
        print("EVIDENCE " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        continue
    print("EVIDENCE " + json.dumps(namespace["evidence"](result)), flush=True)
"""


def own_environment(name: str) -> Environment:
    """The platform's own environment (``Sdk.own_version``), built once and shared like ``tests.envs_fixtures``."""
    sdk = sdk_of(name)
    assert sdk.own_version is not None
    try:
        return ensure(EnvironmentRequest(sdk, sdk.own_version, CONSTRAINTS, REPO), shared_envs_dir())
    except BenchError as exc:
        if "network" in str(exc) or "Failed to fetch" in str(exc):
            pytest.skip(f"no package index reachable to build the {name} environment: {exc}")
        raise


@dataclasses.dataclass(frozen=True)
class Run:
    case: Case
    workdir: Path
    log: StampLog
    evidence: Any


@dataclasses.dataclass(frozen=True)
class Batch:
    #: by case key
    runs: dict[str, Run]
    #: the child's stdout and stderr: what the platform printed
    output: str
    #: the child's HOME, empty before the runs
    home: Path


def run_cases(name: str, env: Environment, cases: Sequence[Case], root: Path, evidence: str) -> Batch:
    """Every case run once in one child of the platform's interpreter, with a HOME of its own.

    A case whose run raises gets ``{"error": "<type>: <message>"}`` as its evidence.
    """
    home = root / "home"
    home.mkdir()
    (root / "tmp").mkdir()
    jobs = []
    for case in cases:
        workdir = root / case.key.replace(":", "-")
        (workdir / "tmp").mkdir(parents=True)
        jobs.append({"case": case.to_json(), "workdir": str(workdir), "tmp": str(workdir / "tmp")})
        jobs[-1]["stamps"] = str(workdir / "stamps.jsonl")
    done = subprocess.run(
        [str(env.python), "-c", CHILD, name, str(REPO / "bench"), evidence],
        input="".join(json.dumps(job) + "\n" for job in jobs),
        capture_output=True,
        text=True,
        cwd=root,
        env={
            **{k: v for k, v in os.environ.items() if k != "BENCH_STAMPS"},
            "HOME": str(home),
            "TMPDIR": str(root / "tmp"),
        },
        timeout=900,
        start_new_session=True,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    lines = [line.removeprefix("EVIDENCE ") for line in done.stdout.splitlines() if line.startswith("EVIDENCE ")]
    assert len(lines) == len(cases), done.stdout[-2000:]
    runs = {
        case.key: Run(case, Path(job["workdir"]), StampLog.read(Path(job["stamps"])), json.loads(line))
        for case, job, line in zip(cases, jobs, lines, strict=True)
    }
    return Batch(runs, done.stdout + done.stderr, home)


def parquet_tables(under: Path) -> list[Any]:
    """Every file under ``under`` that is a parquet file, read (the others skipped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in sorted(p for p in under.rglob("*") if p.is_file()):
        try:
            tables.append(pq.read_table(path))
        except (pa.ArrowInvalid, OSError):
            continue
    return tables
