"""The server target's one-off set-up, run once per session in the platform's own interpreter.

``python -m retrain_bench.platforms.prefect.deploy POOL SOURCE ENTRYPOINT NAME OUT`` against the
server named by ``PREFECT_API_URL``: creates the process work pool ``POOL`` with the process
worker's own default job template (unless the worker, started at the same time, did first), then
deploys the flow at ``ENTRYPOINT`` inside the directory ``SOURCE`` to it as ``NAME`` (no image,
no remote storage: the deployment's only pull step sets the working directory to ``SOURCE``), and
writes ``{"deployment": id, "flow": id}`` to ``OUT``. It runs here, not in the harness, because
Prefect's SDK is installed only in the platform's environment.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path


def deploy(pool: str, source: str, entrypoint: str, name: str) -> dict[str, str]:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        # The worker, started meanwhile, creates the same pool (same template) if it asks first.
        client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template))
    loaded = flow.from_source(source=source, entrypoint=entrypoint)
    deployment = loaded.deploy(name=name, work_pool_name=pool, build=False, push=False, print_next_steps=False)
    with get_client(sync_client=True) as client:
        flow_id = client.read_deployment(deployment).flow_id
    return {"deployment": str(deployment), "flow": str(flow_id)}


def main(argv: list[str]) -> None:
    pool, source, entrypoint, name, out = argv
    Path(out).write_text(json.dumps(deploy(pool, source, entrypoint, name)))


if __name__ == "__main__":
    main(sys.argv[1:])
