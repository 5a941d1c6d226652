"""The server target: each orchestrator's own control plane on this machine, one run per execution.

Per platform spec, once per session and outside every round, ``ServerTarget`` starts the
platform's control plane (``Platform.server``, ``platforms/server.py``) with the interpreter of
the platform's own environment, records how long that took and what the services use while idle,
and stops every service when the session ends (or at once on a signal, through the session's
close). A control plane that does not start fails only that platform's rounds, with its one line.

A round is ``engine.run_round`` over ``ServerExecution``s: ``go`` submits a run through the
platform's public API, ``wait`` polls it on the schedule the cluster target uses
(``polled.py``), ``finish`` reads the stamps the run's tasks wrote and the
orchestrator's own account of them. Resources come from ``ControlPlaneSampler`` over the services'
process trees: ``platform`` (every service process, the database included) and ``execution`` (the
processes started for the round's run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from retrain_bench.errors import BenchError
from retrain_bench.harness.engine import (
    REAL_CLOCK,
    Clock,
    Execution,
    RoundPlan,
    execution_logs,
    from_stamps,
    not_run,
    run_round,
)
from retrain_bench.harness.polled import ExecutionNames, PolledExecution, one_line
from retrain_bench.measure.sampler import ControlPlaneSampler, TreeSampler
from retrain_bench.measure.stats import ResourceStats
from retrain_bench.platforms import registry
from retrain_bench.platforms.server import RunRequest, ServerContext, ServerPoll, ServerRun, ServerRunner
from retrain_bench.platforms.specs import platform_of
from retrain_bench.results.round import ExecutionResult, RoundResult
from retrain_bench.workload.cases import Case
from retrain_bench.workload.stamps import StampLog

#: how long the services are sampled, idle, right after they are healthy (outside every round)
IDLE_SAMPLE_S = 3.0
SERVER_MISSING = {
    "startup_s": "no launcher: the control plane was started once for the session (see the run's services block)"
}


class ServerExecution(PolledExecution[ServerRun, ServerPoll]):
    """One run of the case on a running control plane: submitted at "go" through the platform's
    public API, polled to its end; ``finish`` reads the stamps its tasks wrote to the run's own
    directory and the orchestrator's account of its task instances."""

    NOT_ACCEPTED = "before the control plane accepted the run"

    def __init__(
        self,
        runner: ServerRunner,
        case: Case,
        *,
        name: str,
        runs: Path,
        log: Path,
        poll_interval: float,
        clock: Clock,
        run_timeout: float | None = None,
    ) -> None:
        super().__init__(log, poll_interval, clock, run_timeout)
        self.runner, self.case = runner, case
        workdir = runs / name
        workdir.mkdir(parents=True)
        self.request = RunRequest(case=case, name=name, workdir=workdir)

    def submit(self) -> ServerRun:
        return self.runner.submit(self.request)

    def status(self, run: ServerRun) -> ServerPoll:
        return self.runner.poll(run)

    def terminate_run(self, run: ServerRun, reason: str) -> None:
        self.runner.terminate(run, reason)

    def submitted(self, run: ServerRun) -> None:
        self.out.line(f"submitted {run.platform} run {run.run_id} as {self.request.name} ({run.url or 'no UI URL'})")

    def finish(self, go_ns: int, total_s: float | None, error: str | None) -> ExecutionResult:
        missing = dict(SERVER_MISSING)
        stamps = StampLog.read(self.request.stamps)
        if self.run is None or self.stopped:
            result = ExecutionResult(ok=False, error=error, total_s=total_s)
        else:
            timings = self._timings(go_ns, missing)
            if error is not None:
                result = ExecutionResult(
                    ok=False,
                    error=error,
                    total_s=total_s,
                    task_counts=stamps.task_counts(),
                    units=stamps.units(),
                    platform_timings=timings,
                )
            else:
                result = dataclasses.replace(from_stamps(stamps, self.case, go_ns, total_s), platform_timings=timings)
        return dataclasses.replace(result, run=self.run, missing={**missing, **result.missing}, notes=tuple(self.notes))

    def _timings(self, go_ns: int, missing: dict[str, str]) -> dict[str, Any]:
        assert self.run is not None
        try:
            timings = dict(self.runner.platform_timings(self.run))
        except Exception as exc:  # noqa: BLE001 - a finished run stays ok without the platform's view
            missing["platform_timings"] = f"the platform's timings could not be read: {one_line(exc)}"
            return {}
        return {**timings, "derived": control_plane_phases(timings, go_ns / 1e9)}

    def close(self) -> None:
        shutil.rmtree(self.request.workdir, ignore_errors=True)


def control_plane_phases(timings: Mapping[str, Any], submitted: float) -> dict[str, float | None]:
    """What the orchestrator's own task records say about its overhead (``docs/metrics.md``):

    - ``run_queue_s``: submit -> the orchestrator started the run (its own ``started``);
    - ``task_queue_median_s``: the median over task instances of queued -> started;
    - ``between_tasks_s``: first task start -> last task end, less the time some task was running:
      the scheduler's gaps between tasks (a dependent task waiting for its turn);
    - ``tasks_span_s``: first task start -> last task end.
    """
    tasks = [t for t in timings.get("tasks", ()) if isinstance(t, Mapping)]
    started = timings.get("started")
    waits = [
        t["started"] - t["queued"]
        for t in tasks
        if isinstance(t.get("queued"), int | float) and isinstance(t.get("started"), int | float)
    ]
    spans = sorted(
        (float(t["started"]), float(t["ended"]))
        for t in tasks
        if isinstance(t.get("started"), int | float) and isinstance(t.get("ended"), int | float)
    )
    busy = 0.0
    reach: float | None = None
    for begin, end in spans:
        if reach is None or begin > reach:
            busy += end - begin
            reach = end
        elif end > reach:
            busy += end - reach
            reach = end
    span = max(end for _, end in spans) - spans[0][0] if spans else None
    return {
        "run_queue_s": float(started) - submitted if isinstance(started, int | float) else None,
        "task_queue_median_s": statistics.median(waits) if waits else None,
        "between_tasks_s": span - busy if span is not None else None,
        "tasks_span_s": span,
    }


@dataclasses.dataclass
class _Plane:
    """One spec's control plane for the session: its runner and where its runs' directories go."""

    runner: ServerRunner
    runs: Path


class ServerTarget:
    """Runs rounds on control planes started here; owns every one it starts (``close()``)."""

    def __init__(
        self,
        *,
        run_timeout: float,
        poll_interval_s: float,
        sample_hz: float | None,
        log_dir: Path,
        pipelines: Path | None,
        python_of: Callable[[str], str],
        progress: Callable[[str], None],
        warn: Callable[[str], None],
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.run_timeout = run_timeout
        self.poll_interval_s = poll_interval_s
        self.sample_hz = sample_hz
        self.log_dir = log_dir
        self.pipelines = pipelines
        self.python_of = python_of
        self.progress = progress
        self.warn = warn
        self.clock = clock
        self.names = ExecutionNames()
        self._stack = contextlib.ExitStack()
        self._planes: dict[str, _Plane | str] = {}
        #: by spec: start-up seconds, idle footprint, the control plane's own facts, or its error
        self.services: dict[str, dict[str, Any]] = {}

    def plane(self, spec: str) -> _Plane | str:
        """The spec's running control plane, started on first use; its one-line failure instead."""
        if spec not in self._planes:
            self._planes[spec] = self._start(spec)
        return self._planes[spec]

    def _start(self, spec: str) -> _Plane | str:
        platform = registry.platform(platform_of(spec))
        side = platform.server
        if side is None:  # options refuse it before any round; here for a spec given directly
            return f"{spec} has no control plane that runs on this machine (--target=server)"
        base = Path(tempfile.mkdtemp(prefix=f"retrain-bench-server-{platform.name}-"))
        self._stack.callback(shutil.rmtree, base, ignore_errors=True)
        (base / "home").mkdir()
        self.progress(f"[retrain-bench] {spec}: starting its control plane ({side.parts})")
        started = time.perf_counter()
        context = ServerContext(
            python=self.python_of(spec), home=base / "home", pipelines=self.pipelines, progress=self.progress
        )
        try:
            runner = self._stack.enter_context(side.control_plane(context))
        except BenchError as exc:
            return self._failed(spec, str(exc))
        except Exception as exc:  # noqa: BLE001 - a platform's start-up error, whatever its type
            return self._failed(spec, f"{type(exc).__name__}: {one_line(exc)}")
        seconds = time.perf_counter() - started
        self.progress(f"[retrain-bench] {spec}: control plane ready in {seconds:.1f} s; sampling it idle")
        idle = self._idle(runner)
        self.services[spec] = {
            "start_s": seconds,
            "error": None,
            "parts": side.parts,
            "poll_interval_s": self.poll_interval_s,
            "idle": idle.as_dict() if idle is not None else None,
            "facts": dict(runner.facts()),
        }
        return _Plane(runner, base / "runs")

    def _failed(self, spec: str, error: str) -> str:
        self.services[spec] = {"start_s": None, "error": error}
        self.warn(f"{spec}: its control plane did not start, so its rounds fail: {error}")
        return f"the control plane of {spec} did not start: {error}"

    def _idle(self, runner: ServerRunner) -> ResourceStats | None:
        """What the services use with nothing to do, over ``IDLE_SAMPLE_S`` (the study's idle cost)."""
        roots = runner.processes()
        if not roots or not self.sample_hz:
            return None
        sampler = TreeSampler(roots, self.sample_hz)
        sampler.start()
        try:
            time.sleep(IDLE_SAMPLE_S)
            return dataclasses.replace(sampler.stop(), scope="platform")
        finally:
            sampler.halt()  # a signal during the sleep: the sampling thread stops all the same

    def run_round(self, spec: str, case: Case, index: int, *, warmup: bool, concurrency: int = 1) -> RoundResult:
        names = [self.names.next() for _ in range(concurrency)]
        log = self.log_dir / f"{spec}-{case.key}-{index}-{names[0]}.log"
        plan = RoundPlan(
            platform_of(spec),
            case,
            index,
            warmup,
            "server",
            execution_logs(log, concurrency),
            self.run_timeout,
            self.clock,
        )
        plane = self.plane(spec)
        if isinstance(plane, str):
            return not_run(plan, plane, SERVER_MISSING)

        def make(k: int, log: Path) -> Execution:
            return ServerExecution(
                plane.runner,
                case,
                name=names[k],
                runs=plane.runs,
                log=log,
                poll_interval=self.poll_interval_s,
                clock=self.clock,
                run_timeout=self.run_timeout,
            )

        def sampler(executions: Sequence[Execution]) -> _Scopes | None:
            roots = plane.runner.processes()
            return _Scopes(ControlPlaneSampler(roots, self.sample_hz)) if self.sample_hz and roots else None

        return run_round(plan, make, sampler)

    def run_level(self) -> dict[str, Any]:
        return {spec: dict(found) for spec, found in self.services.items()}

    def close(self) -> None:
        """Stop every control plane (each its process groups, the database included) and remove its files."""
        self._stack.close()
        self._planes.clear()


class _Scopes:
    """``engine.RoundSampler`` over a control plane: its ``platform`` and ``execution`` scopes."""

    def __init__(self, sampler: ControlPlaneSampler) -> None:
        self.sampler = sampler

    def start(self) -> None:
        self.sampler.start()

    def stop(self) -> dict[str, ResourceStats]:
        self.sampler.halt()
        self.sampler.sample()
        return self.sampler.scopes()

    def halt(self) -> None:
        self.sampler.halt()
