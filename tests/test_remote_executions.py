"""harness.remote: one cluster round against a SCRIPTED control plane and the Kubernetes API STAND-IN.

``ScriptedRunner`` stands in for a platform's control plane (flyteadmin / the KFP API server, which
cannot run here): it implements ``RemoteRunner``, answers polls from a script, and on submit creates
the run's pods in the kube-apiserver stand-in (tests/k8s_standin.py) as the platform's controller
would, their logs carrying stamp lines written by hand below. The pod watch and the log reads are
the real code over real HTTP. Clocks are injected: the poll loop's monotonic clock advances only
when it sleeps (or when a scripted call takes time), so every count and duration is exact.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from retrain_bench.cluster.kube import Kube
from retrain_bench.errors import BenchError
from retrain_bench.harness.engine import Clock, RoundInterrupted, RoundPlan, run_round
from retrain_bench.harness.polled import ExecutionNames, execution_name
from retrain_bench.harness.remote import RemoteExecution
from retrain_bench.platforms.remote import Poll, Submitted
from retrain_bench.results.contract import schema
from retrain_bench.results.records import round_record
from retrain_bench.results.round import RoundResult
from retrain_bench.workload.cases import CASES, Case
from retrain_bench.workload.stamps import LINE_PREFIX
from tests.k8s_standin import KubeStandin, pod_object

NS = "flytesnacks-development"
SMOKE: Case = CASES["smoke"]  # grid (0.1, 1.0)
#: the wall clock at submit: 2024-01-01T00:00:00Z in ns; stamps are offsets from it
SUBMIT_NS = 1_704_067_200_000_000_000
SECOND = 1_000_000_000


def stamp(task: str, start_s: float, end_s: float, c: float | None = None, **out: Any) -> str:
    body = {
        "task": task,
        "start_ns": SUBMIT_NS + round(start_s * SECOND),
        "end_ns": SUBMIT_NS + round(end_s * SECOND),
        "pid": 1,
        "unit": f"{task}-{c}:pid:1",
        "c": c,
        "out": out,
    }
    return LINE_PREFIX + json.dumps(body)


# One drifted smoke run, by node, as Flyte names its pods (<execution>-<node>-<attempt>).
#   queue_s        = first body start − submit            = 2.0 − 0       = 2.0
#   retrain_tune_s = select_best end − detect_drift end    = 13.5 − 7.0    = 6.5
STAMPED_PODS = {
    "n0-0": stamp("make_data", 2.0, 3.0),
    "n1-0": stamp("train", 4.0, 5.0, accuracy=0.9),
    "n2-0": stamp("detect_drift", 6.0, 7.0, accuracy=0.6, drift=True),
    "n3-0-dn0-0": stamp("tune", 9.0, 10.0, c=0.1, accuracy=0.8),
    "n3-0-dn1-0": stamp("tune", 9.5, 11.0, c=1.0, accuracy=0.85),
    "n3-0-dn2-0": stamp("select_best", 12.0, 13.5, accuracy=0.85, best_c=1.0),
}


class ScriptedRunner:
    """A SCRIPTED stand-in for a platform's control plane; see the module docstring.

    ``script`` is what successive polls return (the last entry repeats); an exception in it is
    raised by that poll. ``poll_cost`` is how long each status call takes on the fake clock.
    """

    platform = "flyte"

    def __init__(
        self,
        standin: KubeStandin,
        clock: FakeClock,
        script: list[Poll | BaseException],
        *,
        pods: Mapping[str, str] = STAMPED_PODS,
        timings: dict[str, Any] | Exception | None = None,
        poll_cost: float = 0.0,
        cleanup_error: Exception | None = None,
    ) -> None:
        self.standin, self.clock, self.script = standin, clock, script
        self.pods, self.timings, self.poll_cost, self.cleanup_error = pods, timings, poll_cost, cleanup_error
        self.poll_times: list[float] = []
        self.terminated: list[str] = []
        self.cleaned: list[str] = []
        self.name = ""

    def prepare(self) -> Mapping[str, Any]:
        return {}

    def submit(self, case: Case, name: str) -> Submitted:
        self.name = name
        feed = self.standin.pod_feed
        labels = {"execution-id": name, "workflow-name": "bench-flyte-workflow-retrain"}
        for node, text in {**self.pods, "n3-0": ""}.items():  # n3-0: the dynamic node's own pod, no stamps
            feed.put_pod(pod_object(NS, f"{name}-{node}", labels=labels, node="node-a", containers=(f"{name}-{node}",)))
            feed.set_log(NS, f"{name}-{node}", f"{name}-{node}", f"flytekit noise\n{text}\n")
        return Submitted("flyte", name, NS, f"execution-id={name}", url=f"http://console/{name}")

    def poll(self, run: Submitted) -> Poll:
        self.poll_times.append(self.clock.now)
        self.clock.now += self.poll_cost
        step = self.script[min(len(self.poll_times) - 1, len(self.script) - 1)]
        if len(self.poll_times) == 2 and not isinstance(step, BaseException):
            # The dynamic node's pod is garbage-collected mid-run, once the watch has listed it.
            feed = self.standin.pod_feed
            deadline = self.clock.real() + 5
            while feed.watches < 1 and self.clock.real() < deadline:
                self.clock.real_sleep(0.01)
            feed.delete_pod(NS, f"{self.name}-n3-0")
        if isinstance(step, BaseException):
            raise step
        return step

    def terminate(self, run: Submitted, reason: str) -> None:
        self.terminated.append(reason)

    def platform_timings(self, run: Submitted) -> dict[str, Any]:
        if isinstance(self.timings, Exception):
            raise self.timings
        return self.timings if self.timings is not None else {"duration_s": 14.25}

    def cleanup(self, run: Submitted) -> None:
        self.cleaned.append(run.run_id)
        if self.cleanup_error is not None:
            raise self.cleanup_error


class FakeClock:
    """The poll loop's monotonic clock: it moves when the loop sleeps (or a scripted call costs time)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.real = time.monotonic
        self.real_sleep = time.sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float, stopping: threading.Event | None = None) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


RUNNING = Poll(done=False, state="RUNNING")
SUCCEEDED = Poll(done=True, ok=True, state="SUCCEEDED")


def play(
    runner: ScriptedRunner, kube: Kube, tmp_path: Path, *, interval: float = 2.0, timeout: float = 60.0, **kw: Any
) -> RoundResult:
    walls = iter([SUBMIT_NS] + [SUBMIT_NS + 8 * SECOND] * 50)
    clock = Clock(now=runner.clock, wall_ns=lambda: next(walls), sleep=runner.clock.sleep)
    log = tmp_path / "logs" / "flyte-smoke-0.log"
    plan = RoundPlan("flyte", SMOKE, 0, False, "cluster", (log,), timeout, clock)
    cleanup = kw.pop("cleanup", False)

    def make(k: int, log: Path) -> RemoteExecution:
        return RemoteExecution(
            runner,
            SMOKE,
            name="rbt0",
            kube=kube,
            cleanup=cleanup,
            log=log,
            poll_interval=interval,
            clock=clock,
            run_timeout=timeout,
            **kw,
        )

    return run_round(plan, make)


def check_record(result: RoundResult) -> dict[str, Any]:
    record = round_record(result)
    jsonschema.validate(
        json.loads(json.dumps(record, allow_nan=False)), {"$defs": schema()["$defs"], "$ref": "#/$defs/round"}
    )
    return record


def test_an_ok_round_has_the_phases_and_outcome_of_its_stamps(standin: KubeStandin, kube: Kube, tmp_path: Path) -> None:
    clock = FakeClock()
    runner = ScriptedRunner(standin, clock, [RUNNING, RUNNING, RUNNING, SUCCEEDED])
    result = play(runner, kube, tmp_path)

    assert result.ok, result.error
    assert (result.queue_s, result.retrain_tune_s) == (2.0, 6.5)
    assert result.outcome is not None
    assert result.outcome.as_dict() == {
        "accuracy": {"initial": 0.9, "drifted": 0.6, "final": 0.85},
        "drift_detected": True,
        "best_c": 1.0,
    }
    assert result.task_counts == {"make_data": 1, "train": 1, "detect_drift": 1, "tune": 2, "select_best": 1}
    assert result.units == 6
    # polls at 0, 2, 4 and 6 s after submit; the 4th sees the end: total 3 intervals
    assert result.total_s == 6.0
    # the window is the round's own clock: submit (wall) + the makespan, as on every target
    assert result.window == (SUBMIT_NS / 1e9, SUBMIT_NS / 1e9 + 6)
    assert result.run_id == "rbt0" and result.target == "cluster"
    names = [p.name for p in result.pods]
    assert sorted(names) == sorted(["rbt0-n3-0", *(f"rbt0-{n}" for n in STAMPED_PODS)])
    assert [p.name for p in result.pods if p.deleted] == ["rbt0-n3-0"]  # gone mid-run, still reported
    assert result.platform_timings == {"duration_s": 14.25}
    assert runner.terminated == [] and runner.cleaned == []
    record = check_record(result)
    assert record["missing"] == {
        "startup_s": "local only: no launcher process on the cluster target",
        "resources": "not measured: cluster resources come from Prometheus (--prometheus-url)",
        # the scripted pods state no requests: nothing to price
        "cost.allocation_usd": "no pod of this round stated requests and ran to the end (tasks.allocated)",
    }
    assert record["run_id"] == "rbt0" and record["run_url"] == "http://console/rbt0"
    assert len(record["pods"]) == 7 and record["platform_timings"] == {"duration_s": 14.25}
    log = (tmp_path / "logs" / "flyte-smoke-0.log").read_text()
    assert "submitted flyte run rbt0" in log and "--- pod rbt0-n1-0 container rbt0-n1-0 ---" in log


def test_a_failing_run_is_a_failed_round_with_the_platforms_message(
    standin: KubeStandin, kube: Kube, tmp_path: Path
) -> None:
    clock = FakeClock()
    failed = Poll(done=True, ok=False, state="FAILED", error="node n1 failed: OOMKilled (exit 137)")
    runner = ScriptedRunner(standin, clock, [RUNNING, failed], timings=RuntimeError("must not be asked"))
    result = play(runner, kube, tmp_path)

    assert not result.ok
    assert result.error is not None and result.error.splitlines()[0] == "node n1 failed: OOMKilled (exit 137)"
    assert result.outcome is None and result.queue_s is None
    assert result.total_s == 2.0  # the second poll, one interval after submit
    assert runner.terminated == []  # a finished run needs no terminating
    record = check_record(result)
    assert record["missing"]["queue_s"] == "round failed before this was measured"
    assert "platform_timings" not in record["missing"]


def test_a_run_that_never_ends_is_terminated_once_at_the_timeout(
    standin: KubeStandin, kube: Kube, tmp_path: Path
) -> None:
    clock = FakeClock()
    runner = ScriptedRunner(standin, clock, [RUNNING])
    result = play(runner, kube, tmp_path, interval=1.0, timeout=10.0)

    assert not result.ok
    assert result.error == "timed out after 10s (--run-timeout); execution terminated"
    # polls at 0, 1, …, 10 s: the one at 10 s finds the run still going and the time used up
    assert runner.poll_times == [1000.0 + k for k in range(11)]
    assert runner.terminated == ["timed out after 10s (--run-timeout)"]
    check_record(result)


def test_ctrl_c_in_a_poll_terminates_the_run_and_raises_with_the_round(
    standin: KubeStandin, kube: Kube, tmp_path: Path
) -> None:
    clock = FakeClock()
    runner = ScriptedRunner(standin, clock, [RUNNING, RUNNING, KeyboardInterrupt()])
    with pytest.raises(RoundInterrupted) as caught:
        play(runner, kube, tmp_path)
    interrupted = caught.value.result
    assert (interrupted.ok, interrupted.error) == (False, "interrupted (Ctrl-C); execution terminated")
    assert runner.terminated == ["interrupted (Ctrl-C)"]
    assert len(runner.poll_times) == 3
    assert interrupted.run_id == "rbt0"
    check_record(interrupted)


@pytest.mark.parametrize("cleanup", [True, False])
def test_cleanup_only_when_asked(standin: KubeStandin, kube: Kube, tmp_path: Path, cleanup: bool) -> None:
    runner = ScriptedRunner(standin, FakeClock(), [SUCCEEDED])
    result = play(runner, kube, tmp_path, cleanup=cleanup)
    assert result.ok
    assert runner.cleaned == (["rbt0"] if cleanup else [])


def test_a_failing_cleanup_or_timing_read_is_noted_and_the_round_stays_ok(
    standin: KubeStandin, kube: Kube, tmp_path: Path
) -> None:
    runner = ScriptedRunner(
        standin,
        FakeClock(),
        [SUCCEEDED],
        timings=ConnectionError("admin unavailable"),
        cleanup_error=RuntimeError("archive refused:\n  permission denied"),
    )
    result = play(runner, kube, tmp_path, cleanup=True)
    assert result.ok
    assert result.notes == ("cleanup failed: archive refused: permission denied",)
    record = check_record(result)
    assert record["platform_timings"] == {}
    assert record["missing"]["platform_timings"] == "the platform's timings could not be read: admin unavailable"


def test_the_poll_interval_is_a_schedule_that_slow_polls_do_not_stretch(
    standin: KubeStandin, kube: Kube, tmp_path: Path
) -> None:
    clock = FakeClock()
    # each status call takes 0.5 s: the loop sleeps 1.5 s, not 2, between them
    runner = ScriptedRunner(standin, clock, [RUNNING, RUNNING, RUNNING, SUCCEEDED], poll_cost=0.5)
    result = play(runner, kube, tmp_path, interval=2.0)
    assert runner.poll_times == [1000.0, 1002.0, 1004.0, 1006.0]
    assert clock.sleeps == [1.5, 1.5, 1.5]
    assert result.total_s == 6.5  # the 4th answer arrives 0.5 s after the 4th poll starts


def test_missing_stamps_fail_the_round_as_locally(standin: KubeStandin, kube: Kube, tmp_path: Path) -> None:
    pods = {k: v for k, v in STAMPED_PODS.items() if k != "n3-0-dn2-0"}  # no select_best
    runner = ScriptedRunner(standin, FakeClock(), [SUCCEEDED], pods=pods)
    result = play(runner, kube, tmp_path)
    assert not result.ok
    assert result.error == "pipeline finished but its record is incomplete: expected one 'select_best' stamp, found 0"
    assert result.task_counts["tune"] == 2


def test_a_submit_the_platform_refuses_is_a_failed_round(standin: KubeStandin, kube: Kube, tmp_path: Path) -> None:
    class Refusing(ScriptedRunner):
        def submit(self, case: Case, name: str) -> Submitted:
            raise PermissionError("project flytesnacks: not authorised")

    runner = Refusing(standin, FakeClock(), [SUCCEEDED])
    result = play(runner, kube, tmp_path, cleanup=True)
    assert (result.ok, result.error) == (False, "submit failed: project flytesnacks: not authorised")
    assert runner.poll_times == [] and runner.cleaned == []
    assert round_record(result)["run_id"] is None


def test_execution_names_are_short_lowercase_and_unique() -> None:
    names = ExecutionNames("k3x9q2")
    made = [names.next() for _ in range(1000)]
    assert made[:3] == ["rbk3x9q20", "rbk3x9q21", "rbk3x9q22"]
    assert len(set(made)) == 1000
    assert all(len(n) <= 20 and n[0].isalpha() and n == n.lower() for n in made)
    random = ExecutionNames()
    assert len(random.token) == 6 and random.token != ExecutionNames().token
    with pytest.raises(BenchError, match="1 to 10 lowercase letters or digits"):
        ExecutionNames("Bad_Token")
    with pytest.raises(BenchError, match="at most 20"):
        execution_name("abcdefghij", 10**9)  # rb + 10 + 10 digits = 22 characters
