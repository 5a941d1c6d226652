"""One execution on a cluster, for the round engine: submit, watch the pods, poll to the end, read the stamps.

The engine (``harness/engine.py``) owns the clock, the timeout and Ctrl-C; ``harness/polled.py`` the
submit, the poll schedule and terminating, shared with the server target; a ``RemoteRunner``
(``src/retrain_bench/platforms/remote.py``) only speaks its platform's API. The phases are those of a local round
(``docs/metrics.md``): ``total_s`` is submit → terminal state seen by this poll loop (monotonic clock),
``queue_s`` and ``retrain_tune_s`` come from the stamp lines the tasks wrote to their pods' logs,
read back through the Kubernetes API once the run has finished. A failing run, a timeout or a
record with missing stamps is a failed round, not an exception; Ctrl-C terminates the run and
raises ``RoundInterrupted`` carrying the round.

The pod watch starts right after submit, on the namespace and label selector the runner
returned: pods that finish and are garbage-collected during the run are still recorded, and the
cluster resource scopes are built from them (``src/retrain_bench/harness/scopes.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retrain_bench.cluster.errors import ClusterError
from retrain_bench.cluster.kube import Kube
from retrain_bench.cluster.pods import PodLogs, PodSeen, PodWatch, read_stamps
from retrain_bench.harness.engine import Clock, from_stamps, with_tail
from retrain_bench.harness.polled import PolledExecution, RoundLog, one_line
from retrain_bench.platforms.remote import Poll, RemoteRunner, Submitted
from retrain_bench.results.round import ExecutionResult
from retrain_bench.workload.cases import Case

CLUSTER_MISSING = {"startup_s": "local only: no launcher process on the cluster target"}


def pod_texts(out: RoundLog, logs: PodLogs) -> None:
    """The pods' own logs, after what the harness saw, in the execution's log."""
    with out.path.open("a") as log:
        for pod, container, text in logs.texts:
            log.write(f"--- pod {pod} container {container} ---\n{text}")
            if text and not text.endswith("\n"):
                log.write("\n")


class RemoteExecution(PolledExecution[Submitted, Poll]):
    """One run of the case on a cluster through the platform's ``RemoteRunner``.

    ``go`` submits it and starts the pod watch on the namespace and selector the runner returned;
    ``wait`` polls on the engine's clock; ``finish`` stops the watch, copies the pods' logs into the
    execution's log, reads the stamps and the platform's timings, and retires the run
    (``cleanup``) whatever its end. ``stop`` (Ctrl-C) terminates the run.
    """

    def __init__(
        self,
        runner: RemoteRunner,
        case: Case,
        *,
        name: str,
        kube: Kube,
        cleanup: bool,
        log: Path,
        poll_interval: float,
        clock: Clock,
        run_timeout: float | None = None,
        pod_watch: Callable[[Kube, str, str], PodWatch] = PodWatch,
    ) -> None:
        super().__init__(log, poll_interval, clock, run_timeout)
        self.runner, self.case, self.name, self.kube, self.cleanup = runner, case, name, kube, cleanup
        self.pod_watch = pod_watch
        self.watch: PodWatch | None = None
        self.pods: tuple[PodSeen, ...] = ()

    def submit(self) -> Submitted:
        return self.runner.submit(self.case, self.name)

    def status(self, run: Submitted) -> Poll:
        return self.runner.poll(run)

    def terminate_run(self, run: Submitted, reason: str) -> None:
        self.runner.terminate(run, reason)

    def submitted(self, run: Submitted) -> None:
        self.out.line(f"submitted {run.platform} run {run.run_id} as {self.name} ({run.url or 'no console URL'})")
        self.watch = self.pod_watch(self.kube, run.namespace, run.pod_selector).start()

    def finish(self, go_ns: int, total_s: float | None, error: str | None) -> ExecutionResult:
        missing = dict(CLUSTER_MISSING)
        self._stop_watch()
        if self.run is None or self.stopped:
            result = ExecutionResult(ok=False, error=error, total_s=total_s)
        else:
            result = self._read_back(go_ns, total_s, error, missing)
        if self.cleanup and self.run is not None:
            try:
                self.runner.cleanup(self.run)
            except Exception as exc:  # noqa: BLE001 - cleanup is a courtesy: noted, never fatal
                self.notes.append(f"cleanup failed: {one_line(exc)}")
        return dataclasses.replace(
            result, run=self.run, pods=self.pods, missing={**missing, **result.missing}, notes=tuple(self.notes)
        )

    def _read_back(
        self, go_ns: int, total_s: float | None, error: str | None, missing: dict[str, str]
    ) -> ExecutionResult:
        assert self.run is not None
        if self.poll is None:  # timed out, or the status calls kept failing
            return ExecutionResult(ok=False, error=error, total_s=total_s)
        logs = _read_logs(self.kube, self.pods, self.out)
        if error is not None:
            return ExecutionResult(ok=False, error=with_tail(error, self.log), total_s=total_s)
        timings = _platform_timings(self.runner, self.run, missing)
        if isinstance(logs, str):
            error = f"pipeline finished but its stamps could not be read: {logs}"
            return ExecutionResult(ok=False, error=error, total_s=total_s, platform_timings=timings)
        done = from_stamps(logs.stamps, self.case, go_ns, total_s)
        if not done.ok and logs.unread:
            done = dataclasses.replace(
                done, error=f"{done.error} (logs of deleted pods not read: {', '.join(logs.unread)})"
            )
        return dataclasses.replace(done, platform_timings=timings)

    def close(self) -> None:
        self._stop_watch()

    def _stop_watch(self) -> None:
        if self.watch is not None:
            self.pods = self.watch.stop()
            self.notes.extend(f"pod watch: {e}" for e in self.watch.errors)
            self.watch = None


def _read_logs(kube: Kube, pods: tuple[PodSeen, ...], out: RoundLog) -> PodLogs | str:
    """The pods' stamps (their logs copied into the round's log), or why they could not be read."""
    try:
        logs = read_stamps(kube, pods)
    except ClusterError as exc:
        out.line(f"reading the pods' logs failed: {exc}")
        return str(exc)
    if not pods:
        out.line("no pod of the run was seen")
    pod_texts(out, logs)
    return logs


def _platform_timings(runner: RemoteRunner, run: Submitted, missing: dict[str, str]) -> dict[str, Any]:
    try:
        return dict(runner.platform_timings(run))
    except Exception as exc:  # noqa: BLE001 - a finished run stays ok without the platform's view
        missing["platform_timings"] = f"the platform's timings could not be read: {one_line(exc)}"
        return {}
