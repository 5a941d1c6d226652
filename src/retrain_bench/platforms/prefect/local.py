"""Run the Prefect flow in the launcher, against the session's server (``PREFECT_API_URL``).

Start-up (``prepare``, outside the timer): importing Prefect and the flow. The timed part is one
flow call: Prefect creates the flow run and each task run on the server, runs the first steps in
the flow's thread and the mapped ``tune`` runs in its thread pool, and reports every state change.
"""

from __future__ import annotations

import os
from pathlib import Path

from retrain_bench.errors import BenchError
from retrain_bench.workload.cases import Case


def prepare() -> None:
    """Import Prefect and the flow: start-up, outside the timer."""
    if not os.environ.get("PREFECT_API_URL"):
        # Prefect would start a temporary server inside the timed run (6-12 s) and write to ~/.prefect.
        raise BenchError("PREFECT_API_URL is not set: run prefect rounds through the harness, which starts a server")
    import bench.prefect.flow  # noqa: F401


def run(case: Case, workdir: Path) -> None:
    from bench.prefect.flow import retrain

    # A failed task fails the flow, which raises here.
    retrain(case_json=case.to_json(), grid=list(case.grid), outdir=str(workdir / "prefect-data"))
