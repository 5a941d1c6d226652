"""The toy platform's ``RemoteRunner``: JSON over HTTP to its control plane."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from retrain_bench.cluster.settings import RemoteSettings
from retrain_bench.errors import BenchError
from retrain_bench.platforms.remote import REMOTE_TASK_ENV, Poll, Submitted
from retrain_bench.workload.cases import Case

#: the label the toy control plane puts on every pod of a run
RUN_LABEL = "toy.example/run"
TERMINAL = {"SUCCEEDED", "FAILED", "TERMINATED"}


class ToyRunner:
    platform = "toy"

    def __init__(self, url: str, settings: RemoteSettings) -> None:
        self.url = url.rstrip("/")
        self.settings = settings
        self.session = requests.Session()
        self.session.trust_env = False

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        answer = self.session.request(method, self.url + path, json=body, timeout=10)
        if answer.status_code != 200:
            raise BenchError(f"the toy API answered HTTP {answer.status_code} to {method} {path}")
        found: dict[str, Any] = answer.json()
        return found

    def prepare(self) -> Mapping[str, Any]:
        version = self._call("GET", "/healthz")["version"]
        return {"image": self.settings.image, "resources": self.settings.resources.as_dict(), "toy_api": version}

    def submit(self, case: Case, name: str) -> Submitted:
        body = {
            "name": name,
            "case": case.key,
            "image": self.settings.image,
            "resources": self.settings.resources.as_dict(),
            "env": REMOTE_TASK_ENV,
            "namespace": self.settings.options.namespace,
        }
        run = self._call("POST", "/runs", body)
        return Submitted(
            platform=self.platform,
            run_id=run["id"],
            namespace=self.settings.options.namespace,
            pod_selector=f"{RUN_LABEL}={run['id']}",
        )

    def poll(self, run: Submitted) -> Poll:
        state = str(self._call("GET", f"/runs/{run.run_id}")["state"])
        return Poll(done=state in TERMINAL, ok=state == "SUCCEEDED", state=state)

    def terminate(self, run: Submitted, reason: str) -> None:
        self._call("POST", f"/runs/{run.run_id}/terminate", {"reason": reason})

    def platform_timings(self, run: Submitted) -> dict[str, Any]:
        return {"source": "toy_api", "state": self._call("GET", f"/runs/{run.run_id}")["state"]}

    def cleanup(self, run: Submitted) -> None:
        self._call("POST", f"/runs/{run.run_id}/archive", {})
