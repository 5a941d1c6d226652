"""What the cluster target needs from a platform: register once, submit, poll, terminate, read back.

The harness (``src/retrain_bench/harness/remote.py``) owns the clock, the poll loop, the timeout, Ctrl-C and
the pod watch; a ``RemoteRunner`` only speaks its platform's API. Each runner is created once per
session and ``prepare()``d outside the timer (Flyte registers, KFP compiles and uploads).

Stamps: every task of a remote run is started with ``$BENCH_STAMPS=stdout`` (``retrain_bench.workload.stamps``),
so its stamps are lines in its pod's log, read back through the Kubernetes API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from retrain_bench.workload.cases import Case

#: The environment every remote task runs with, whatever the platform.
REMOTE_TASK_ENV = {"BENCH_STAMPS": "stdout", "PYTHONUNBUFFERED": "1"}


@dataclasses.dataclass(frozen=True)
class Submitted:
    """One run the platform accepted."""

    platform: str
    #: Flyte execution name / KFP run id
    run_id: str
    #: where its task pods run
    namespace: str
    #: label selector of exactly this run's pods (``execution-id=<name>`` / ``pipeline/runid=<id>``)
    pod_selector: str
    #: the platform's console page of the run, when known (never carries credentials)
    url: str | None = None


@dataclasses.dataclass(frozen=True)
class Poll:
    """What one poll saw. ``done`` once the run reached a terminal state; ``ok`` only if it succeeded."""

    done: bool
    ok: bool = False
    state: str = ""
    #: the platform's error message for a failed run (scrubbed of credentials by the runner)
    error: str | None = None


class RemoteRunner(Protocol):
    platform: str

    def prepare(self) -> Mapping[str, Any]:
        """Register (Flyte) or compile and upload (KFP) once, outside the timer. Returns what the
        fairness manifest records for this platform: image, resources, versions, ids."""
        ...

    def submit(self, case: Case, name: str) -> Submitted:
        """Start one run of the case. ``name`` is short (≤ 20 characters, lowercase, starts with a
        letter): Flyte hashes pod names over 50 characters, so execution names must stay short."""
        ...

    def poll(self, run: Submitted) -> Poll:
        """One status call; never waits."""
        ...

    def terminate(self, run: Submitted, reason: str) -> None:
        """Stop an unfinished run (timeout, Ctrl-C, interrupted session). Idempotent."""
        ...

    def platform_timings(self, run: Submitted) -> dict[str, Any]:
        """The platform's own view of a finished run's timing (JSON-ready), no node data downloaded."""
        ...

    def cleanup(self, run: Submitted) -> None:
        """Archive (KFP) or otherwise retire a finished run the suite created (``--cleanup``)."""
        ...
