"""The Flyte remote runner: what it registers (flytekit's real serialization), what the dynamic task
compiles in its pod (flytekit's real TASK_EXECUTION path), and its readings of flyteadmin records.

The records in the ``..._synthetic_...`` tests are built as flyteidl messages from values chosen
here and turned into flytekit models exactly as ``SynchronousFlyteClient`` does; no flyteadmin ran.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import pytest
from flyteidl.admin import execution_pb2, node_execution_pb2, task_execution_pb2
from flyteidl.core import execution_pb2 as core_execution_pb2
from flyteidl.core import identifier_pb2
from google.protobuf import duration_pb2, timestamp_pb2

from retrain_bench.cluster.portforward import ServiceRef
from retrain_bench.cluster.settings import RemoteSettings, TaskResources
from retrain_bench.errors import BenchError
from retrain_bench.platforms.flyte.cluster import DEFAULT_SERVICE, FlyteOptions
from retrain_bench.platforms.flyte.remote import (
    ERROR_CAP,
    FlyteRunner,
    poll_from_execution,
    registration_version,
    serialize,
    timings_from_records,
)
from retrain_bench.platforms.remote import REMOTE_TASK_ENV, Poll
from retrain_bench.workload.cases import CASES
from tests import platform_standins

# flytekit (and bench.flyte.workflow, which imports it) takes ~10 s to import, scikit-learn (the workload's
# retraining) ~2 s: imported by the tests that use them, not when the file is collected.
if TYPE_CHECKING:
    from flytekit.models.admin.task_execution import TaskExecution
    from flytekit.models.admin.workflow import WorkflowSpec
    from flytekit.models.dynamic_job import DynamicJobSpec
    from flytekit.models.execution import Execution
    from flytekit.models.node_execution import NodeExecution
    from flytekit.models.task import TaskSpec

IMAGE = "ghcr.io/example/retrain-bench-task:test"
#: Flyte's own options as its cluster side parses them by default (project flytesnacks, domain development)
OPTIONS = FlyteOptions(endpoint=None, service=ServiceRef.parse(DEFAULT_SERVICE), insecure=False, config=None)
SETTINGS = RemoteSettings(image=IMAGE, resources=TaskResources(cpu="500m", memory="1Gi"), options=OPTIONS)
PREFIX = "bench.flyte.workflow."
#: register (the --registry step) is registered with the rest: adapt's hints name it (it runs only locally)
TASKS = {PREFIX + n for n in ("make_data", "train", "detect_drift", "adapt", "tune", "select_best", "register")}
#: flyteidl Resources.ResourceName: CPU = 1, MEMORY = 3
CPU, MEMORY = 1, 3


def _workflow_spec(entities: OrderedDict[Any, Any]) -> WorkflowSpec:
    from flytekit.models.admin.workflow import WorkflowSpec

    (spec,) = [v for v in entities.values() if isinstance(v, WorkflowSpec)]
    return spec


def _task_specs(entities: OrderedDict[Any, Any]) -> dict[str, TaskSpec]:
    from flytekit.models.task import TaskSpec

    return {v.template.id.name: v for v in entities.values() if isinstance(v, TaskSpec)}


def _resources(container: Any) -> tuple[dict[int, str], dict[int, str]]:
    return (
        {r.name: r.value for r in container.resources.requests},
        {r.name: r.value for r in container.resources.limits},
    )


# -- what registration sends -------------------------------------------------------------------


def test_registration_wires_the_four_workflow_nodes() -> None:
    spec = _workflow_spec(serialize(SETTINGS, "v1"))
    assert spec.template.id.name == PREFIX + "retrain"
    task_of = {n.id: n.task_node.reference_id.name for n in spec.template.nodes}
    assert task_of == {
        "n0": PREFIX + "make_data",
        "n1": PREFIX + "train",
        "n2": PREFIX + "detect_drift",
        "n3": PREFIX + "adapt",
    }
    # input var -> (node it comes from, that node's output); "" = the workflow's own input
    sources = {
        n.id: {b.var: (b.binding.promise.node_id, b.binding.promise.var) for b in n.inputs} for n in spec.template.nodes
    }
    assert sources["n1"] == {"case_json": ("", "case_json"), "train_data": ("n0", "train_data")}
    assert sources["n2"] == {
        "case_json": ("", "case_json"),
        "model": ("n1", "model"),
        "drifted_data": ("n0", "drifted_data"),
        "initial_accuracy": ("n1", "accuracy"),
        # the data_drift trigger compares drifted_data's features with the training data's
        "train_data": ("n0", "train_data"),
    }
    assert sources["n3"] == {
        "case_json": ("", "case_json"),
        "drift": ("n2", "drift"),
        "drifted_data": ("n0", "drifted_data"),
        "current_accuracy": ("n2", "accuracy"),
        "grid": ("", "grid"),
    }
    # the workflow's result is adapt's
    assert {b.var: b.binding.promise.node_id for b in spec.template.outputs} == {"accuracy": "n3", "best_c": "n3"}


def test_every_registered_task_has_the_image_and_requests_equal_limits() -> None:
    tasks = _task_specs(serialize(SETTINGS, "v1"))
    assert set(tasks) == TASKS
    for name, spec in tasks.items():
        container = spec.template.container
        assert container.image == IMAGE, name
        assert _resources(container) == ({CPU: "500m", MEMORY: "1Gi"}, {CPU: "500m", MEMORY: "1Gi"}), name
        # image-based: the plain entrypoint, no fast-registration wrapper that downloads code at start
        assert container.args[0] == "pyflyte-execute", name
        assert "pyflyte-fast-execute" not in container.args, name
        assert "--additional-distribution" not in container.args, name
        assert spec.template.id.version == "v1", name
        assert not spec.template.metadata.discoverable, name  # cache off: every round really runs


def test_serialization_leaves_the_task_definitions_as_the_code_has_them() -> None:
    from bench.flyte import workflow

    serialize(SETTINGS, "v1")
    other = RemoteSettings(
        image="registry.example/other:2", resources=TaskResources(cpu="2", memory="4Gi"), options=OPTIONS
    )
    tasks = _task_specs(serialize(other, "v2"))
    # had the first serialization stuck to the task objects, 500m/1Gi would show up here
    for name, spec in tasks.items():
        assert _resources(spec.template.container) == ({CPU: "2", MEMORY: "4Gi"}, {CPU: "2", MEMORY: "4Gi"}), name
    assert {t.template.container.image for t in tasks.values()} == {"registry.example/other:2"}
    assert not workflow.tune.resources.requests.cpu and not workflow.tune.resources.limits.mem


def test_the_dynamic_task_carries_the_registration_settings_to_its_pod() -> None:
    from flytekit.configuration import SERIALIZED_CONTEXT_ENV_VAR, SerializationSettings

    tasks = _task_specs(serialize(SETTINGS, "v1"))
    for name in ("make_data", "train", "detect_drift"):
        assert SERIALIZED_CONTEXT_ENV_VAR not in tasks[PREFIX + name].template.container.env, name
    carried = SerializationSettings.from_transport(
        tasks[PREFIX + "adapt"].template.container.env[SERIALIZED_CONTEXT_ENV_VAR]
    )
    assert carried.image_config.default_image.full == IMAGE
    assert (carried.default_resources.requests.cpu, carried.default_resources.requests.mem) == ("500m", "1Gi")
    assert (carried.default_resources.limits.cpu, carried.default_resources.limits.mem) == ("500m", "1Gi")
    assert (carried.project, carried.domain, carried.version) == ("flytesnacks", "development", "v1")
    assert not carried.should_fast_serialize()


# -- what the dynamic task compiles in its pod --------------------------------------------------


def _compile_in_pod(case_name: str, drift: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``adapt`` as ``pyflyte-execute`` does in its pod: settings restored from the container
    env flytekit registered, TASK_EXECUTION mode, inputs as a literal map."""
    from flytekit.configuration import SERIALIZED_CONTEXT_ENV_VAR, SerializationSettings
    from flytekit.core.context_manager import ExecutionState, FlyteContextManager
    from flytekit.core.type_engine import TypeEngine

    from bench.flyte import workflow
    from retrain_bench.workload import retraining

    # flytekit compiles a dynamic task's body once per process and keeps it; a pod is a fresh
    # process, so each compile here starts without the previous test's.
    monkeypatch.setattr(workflow.adapt, "_wf", None)
    adapt = _task_specs(serialize(SETTINGS, "v1"))[PREFIX + "adapt"]
    pod_settings = SerializationSettings.from_transport(adapt.template.container.env[SERIALIZED_CONTEXT_ENV_VAR])
    case = CASES[case_name]
    _, drifted = retraining.make_data(case)
    inputs = {
        "case_json": case.to_json(),
        "drift": drift,
        "drifted_data": drifted,
        "current_accuracy": 0.625,
        "grid": list(case.grid),
    }
    outer = FlyteContextManager.current_context().with_serialization_settings(pod_settings)
    with FlyteContextManager.with_context(outer) as ctx:
        state = ctx.execution_state.with_params(mode=ExecutionState.Mode.TASK_EXECUTION)
        with FlyteContextManager.with_context(ctx.with_execution_state(state)) as ctx:
            literals = TypeEngine.dict_to_literal_map(ctx, inputs, type_hints=workflow.adapt.python_interface.inputs)
            return workflow.adapt.dispatch_execute(ctx, literals)


def _tune_cs(spec: DynamicJobSpec) -> list[float]:
    cs = []
    for node in spec.nodes:
        if node.task_node.reference_id.name == PREFIX + "tune":
            (c,) = [b.binding.scalar.primitive.float_value for b in node.inputs if b.var == "c"]
            cs.append(c)
    return cs


def test_dynamic_tuning_compiles_five_tune_nodes_and_select_best_with_the_same_image_and_resources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flytekit.models.dynamic_job import DynamicJobSpec

    spec = _compile_in_pod("tuning", drift=True, monkeypatch=monkeypatch)
    assert isinstance(spec, DynamicJobSpec)
    assert _tune_cs(spec) == [0.01, 0.1, 1.0, 10.0, 100.0]
    assert [n.task_node.reference_id.name for n in spec.nodes].count(PREFIX + "select_best") == 1
    assert len(spec.nodes) == 6  # 5 tune + 1 select_best
    # propeller names these dn0..dn5 under the dynamic node (n3-0-dn0, ...)
    assert [n.id for n in spec.nodes] == [f"dn{i}" for i in range(6)]
    assert {t.id.name for t in spec.tasks} == {PREFIX + "tune", PREFIX + "select_best"}
    for task in spec.tasks:
        assert task.container.image == IMAGE, task.id.name
        assert _resources(task.container) == ({CPU: "500m", MEMORY: "1Gi"}, {CPU: "500m", MEMORY: "1Gi"})


def test_dynamic_base_compiles_one_tune_node_at_c_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from flytekit.models.dynamic_job import DynamicJobSpec

    spec = _compile_in_pod("base", drift=True, monkeypatch=monkeypatch)
    assert isinstance(spec, DynamicJobSpec)
    assert _tune_cs(spec) == [1.0]
    assert len(spec.nodes) == 2


def test_dynamic_without_drift_compiles_no_node_and_returns_the_current_accuracy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flytekit.models import literals as literal_models

    out = _compile_in_pod("no_drift", drift=False, monkeypatch=monkeypatch)
    # no DynamicJobSpec: nothing for propeller to launch, the outputs come back directly
    assert isinstance(out, literal_models.LiteralMap)
    assert out.literals["accuracy"].scalar.primitive.float_value == 0.625
    # best_c is Optional[float]: a union literal holding None
    assert out.literals["best_c"].scalar.union.value.scalar.none_type is not None


# -- versions and runner input ---------------------------------------------------------------


def test_registration_version_follows_image_and_resources_only() -> None:
    staging = dataclasses.replace(OPTIONS, domain="staging")
    same = RemoteSettings(image=IMAGE, resources=TaskResources(cpu="500m", memory="1Gi"), options=staging)
    version = registration_version(SETTINGS)
    assert version.startswith("rb-") and len(version) == 3 + 16
    assert registration_version(same) == version  # project/domain are not part of what is registered
    assert registration_version(dataclasses.replace(SETTINGS, resources=TaskResources("500m", "2Gi"))) != version
    assert registration_version(dataclasses.replace(SETTINGS, image=IMAGE + "2")) != version


def test_submit_needs_prepare_and_a_short_name() -> None:
    runner = FlyteRunner("127.0.0.1:1", True, None, SETTINGS)
    with pytest.raises(BenchError, match="prepare"):
        runner.submit(CASES["base"], "rb-a")
    runner._launch_plan = object()
    for bad in ("Rb-upper", "9starts-with-digit", "a" * 21, "has_underscore"):
        with pytest.raises(BenchError, match="execution name"):
            runner.submit(CASES["base"], bad)


def test_console_url_only_where_the_console_is_derivable(tmp_path: Any) -> None:
    from flytekit.models.core.identifier import WorkflowExecutionIdentifier

    execution = WorkflowExecutionIdentifier("flytesnacks", "development", "rb-x")
    # TLS: ingress serves gRPC and the console on one host
    secure = FlyteRunner("flyte.example:443", False, None, SETTINGS)
    assert secure._console_url(execution) == (
        "https://flyte.example:443/console/projects/flytesnacks/domains/development/executions/rb-x"
    )
    config = tmp_path / "config.yaml"
    config.write_text("admin:\n  endpoint: dns:///x:1\n  insecure: true\nconsole:\n  endpoint: http://localhost:8088\n")
    console = FlyteRunner("127.0.0.1:8089", True, str(config), SETTINGS)
    assert console._console_url(execution) == (
        "http://localhost:8088/console/projects/flytesnacks/domains/development/executions/rb-x"
    )


def test_a_config_file_keeps_its_auth_but_takes_our_address(tmp_path: Any) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("admin:\n  endpoint: dns:///flyte.example:443\n  authType: ClientSecret\n  clientId: bench\n")
    runner = FlyteRunner("127.0.0.1:30080", False, str(config), SETTINGS)
    platform = runner._config().platform
    assert (platform.endpoint, platform.insecure, platform.auth_mode, platform.client_id) == (
        "127.0.0.1:30080",
        False,
        "ClientSecret",
        "bench",
    )


# -- flyteadmin records (synthetic) ----------------------------------------------------------

T0 = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
EXEC_ID = identifier_pb2.WorkflowExecutionIdentifier(project="flytesnacks", domain="development", name="rb-x1")


def _ts(offset_s: float | None) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    if offset_s is not None:
        ts.FromDatetime((T0 + datetime.timedelta(seconds=offset_s)).replace(tzinfo=None))
    return ts


def _dur(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(datetime.timedelta(seconds=seconds))
    return d


def _execution(phase: int, started: float | None, duration: float, **closure: Any) -> Execution:
    from flytekit.models.execution import Execution

    message = execution_pb2.Execution(
        id=EXEC_ID,
        closure=execution_pb2.ExecutionClosure(
            phase=phase, created_at=_ts(0.0), started_at=_ts(started), duration=_dur(duration), **closure
        ),
    )
    return Execution.from_flyte_idl(message)


def _node(
    node_id: str, phase: int, started: float | None, duration: float, spec: str = "", parent: bool = False
) -> NodeExecution:
    from flytekit.models.node_execution import NodeExecution

    message = node_execution_pb2.NodeExecution(
        id=identifier_pb2.NodeExecutionIdentifier(node_id=node_id, execution_id=EXEC_ID),
        closure=node_execution_pb2.NodeExecutionClosure(phase=phase, started_at=_ts(started), duration=_dur(duration)),
        metadata=node_execution_pb2.NodeExecutionMetaData(spec_node_id=spec, is_parent_node=parent, is_dynamic=parent),
    )
    return NodeExecution.from_flyte_idl(message)


def _attempt(node_id: str, task: str, attempt: int, phase: int, started: float, duration: float) -> TaskExecution:
    from flytekit.models.admin.task_execution import TaskExecution

    message = task_execution_pb2.TaskExecution(
        id=identifier_pb2.TaskExecutionIdentifier(
            task_id=identifier_pb2.Identifier(
                resource_type=identifier_pb2.TASK, project="flytesnacks", domain="development", name=PREFIX + task
            ),
            node_execution_id=identifier_pb2.NodeExecutionIdentifier(node_id=node_id, execution_id=EXEC_ID),
            retry_attempt=attempt,
        ),
        closure=task_execution_pb2.TaskExecutionClosure(phase=phase, started_at=_ts(started), duration=_dur(duration)),
    )
    return TaskExecution.from_flyte_idl(message)


NODE_OK = core_execution_pb2.NodeExecution.SUCCEEDED
TASK_OK = core_execution_pb2.TaskExecution.SUCCEEDED


def _synthetic_run() -> tuple[Execution, dict[str | None, list[NodeExecution]], dict[str, list[TaskExecution]]]:
    execution = _execution(core_execution_pb2.WorkflowExecution.SUCCEEDED, 1.25, 20.5)
    top = [
        _node("start-node", NODE_OK, 1.5, 0.0),
        _node("n0", NODE_OK, 2.0, 3.25, "n0"),
        _node("n1", NODE_OK, 5.5, 3.5, "n1"),
        _node("n2", NODE_OK, 9.125, 2.375),  # no spec id recorded: a top-level id is its spec id
        _node("n3", NODE_OK, 12.0, 8.75, "n3", parent=True),
        _node("end-node", NODE_OK, 20.875, 0.0),
    ]
    children = [
        _node("n3-0-dn0", NODE_OK, 14.5, 2.125, "dn0"),
        _node("n3-0-dn1", NODE_OK, 17.0, 1.5, "dn1"),
    ]
    tasks = {
        "n0": [_attempt("n0", "make_data", 0, TASK_OK, 2.5, 2.75)],
        # train failed once and succeeded on its second attempt
        "n1": [
            _attempt("n1", "train", 1, TASK_OK, 7.0, 1.875),
            _attempt("n1", "train", 0, core_execution_pb2.TaskExecution.FAILED, 5.75, 1.0),
        ],
        "n2": [_attempt("n2", "detect_drift", 0, TASK_OK, 9.5, 1.5)],
        "n3": [_attempt("n3", "adapt", 0, TASK_OK, 12.25, 1.75)],
        "n3-0-dn0": [_attempt("n3-0-dn0", "tune", 0, TASK_OK, 14.75, 1.625)],
        "n3-0-dn1": [_attempt("n3-0-dn1", "select_best", 0, TASK_OK, 17.25, 1.0)],
    }
    return execution, {None: top, "n3": children}, tasks


def test_timings_synthetic_records_give_execution_and_every_node_including_dynamic_children() -> None:
    timings = timings_from_records(*_synthetic_run())
    assert timings["source"] == "flyteadmin"
    assert timings["execution"] == {
        "phase": "SUCCEEDED",
        "created_at": "2026-03-01T12:00:00+00:00",
        "started_at": "2026-03-01T12:00:01.250000+00:00",  # T0 + 1.25 s
        "duration_s": 20.5,
    }
    nodes = timings["nodes"]
    assert list(nodes) == ["start-node", "n0", "n1", "n2", "n3", "end-node", "n3-0-dn0", "n3-0-dn1"]
    assert nodes["n0"] == {
        "spec_node_id": "n0",
        "parent": None,
        "phase": "SUCCEEDED",
        "started_at": "2026-03-01T12:00:02+00:00",
        "duration_s": 3.25,
        "is_parent": False,
        "attempts": 1,
        "task": PREFIX + "make_data",
        "task_phase": "SUCCEEDED",
        "task_started_at": "2026-03-01T12:00:02.500000+00:00",
        "task_duration_s": 2.75,
    }
    # the dynamic node and its children: tune (dn0) and select_best (dn1) under n3
    assert (nodes["n3"]["is_parent"], nodes["n3"]["task"], nodes["n3"]["duration_s"]) == (True, PREFIX + "adapt", 8.75)
    assert nodes["n3-0-dn0"]["parent"] == "n3" and nodes["n3-0-dn0"]["spec_node_id"] == "dn0"
    assert (nodes["n3-0-dn0"]["task"], nodes["n3-0-dn0"]["duration_s"]) == (PREFIX + "tune", 2.125)
    assert nodes["n3-0-dn0"]["started_at"] == "2026-03-01T12:00:14.500000+00:00"
    assert (nodes["n3-0-dn1"]["task"], nodes["n3-0-dn1"]["task_duration_s"]) == (PREFIX + "select_best", 1.0)
    assert nodes["n2"]["spec_node_id"] == "n2"
    # two attempts: the node's task figures are the last (attempt 1, started T0 + 7 s), whatever the order listed
    assert (nodes["n1"]["attempts"], nodes["n1"]["task_started_at"], nodes["n1"]["task_duration_s"]) == (
        2,
        "2026-03-01T12:00:07+00:00",
        1.875,
    )
    # bookkeeping nodes have no task
    assert nodes["end-node"]["task"] is None and nodes["end-node"]["attempts"] == 0
    # what the dynamic branch took by flyteadmin's clock: dn1 ends at 17.0 + 1.5 = 18.5 s, dn0 starts
    # at 14.5 s, so the fan-out ran 4.0 s of the dynamic node's 8.75 s
    child_end = max(
        datetime.datetime.fromisoformat(n["started_at"]) + datetime.timedelta(seconds=n["duration_s"])
        for n in nodes.values()
        if n["parent"] == "n3"
    )
    assert (child_end - datetime.datetime.fromisoformat(nodes["n3-0-dn0"]["started_at"])).total_seconds() == 4.0


def test_timings_synthetic_unstarted_node_is_null_not_zero() -> None:
    execution = _execution(core_execution_pb2.WorkflowExecution.ABORTED, None, 0.0)
    queued = _node("n0", core_execution_pb2.NodeExecution.QUEUED, None, 0.0, "n0")
    timings = timings_from_records(execution, {None: [queued]}, {"n0": []})
    assert timings["execution"]["started_at"] is None and timings["execution"]["duration_s"] is None
    node = timings["nodes"]["n0"]
    assert (node["phase"], node["started_at"], node["duration_s"], node["task"]) == ("QUEUED", None, None, None)


def test_poll_synthetic_phases() -> None:
    running = poll_from_execution(_execution(core_execution_pb2.WorkflowExecution.RUNNING, 1.0, 2.0))
    assert (running.done, running.ok, running.state, running.error) == (False, False, "RUNNING", None)
    done = poll_from_execution(_execution(core_execution_pb2.WorkflowExecution.SUCCEEDED, 1.0, 2.0))
    assert (done.done, done.ok, done.state, done.error) == (True, True, "SUCCEEDED", None)
    error = core_execution_pb2.ExecutionError(code="USER:Error", message="x" * (ERROR_CAP + 100))
    failed = poll_from_execution(_execution(core_execution_pb2.WorkflowExecution.FAILED, 1.0, 2.0, error=error))
    assert (failed.done, failed.ok, failed.state, failed.error) == (True, False, "FAILED", "x" * ERROR_CAP)
    abort = execution_pb2.AbortMetadata(cause="round timed out", principal="bench")
    aborted = poll_from_execution(
        _execution(core_execution_pb2.WorkflowExecution.ABORTED, 1.0, 2.0, abort_metadata=abort)
    )
    assert (aborted.done, aborted.ok, aborted.error) == (True, False, "aborted: round timed out")
    timed_out = poll_from_execution(_execution(core_execution_pb2.WorkflowExecution.TIMED_OUT, 1.0, 2.0))
    assert (timed_out.done, timed_out.ok, timed_out.error) == (True, False, "timed_out")


# -- the runner over the wire (flyteadmin stand-in) ------------------------------------------


def _pb_node(
    node_id: str, started: float, duration: float, spec: str = "", parent: bool = False
) -> node_execution_pb2.NodeExecution:
    return node_execution_pb2.NodeExecution(
        id=identifier_pb2.NodeExecutionIdentifier(node_id=node_id, execution_id=EXEC_ID),
        closure=node_execution_pb2.NodeExecutionClosure(
            phase=NODE_OK, started_at=_ts(started), duration=_dur(duration)
        ),
        metadata=node_execution_pb2.NodeExecutionMetaData(spec_node_id=spec, is_parent_node=parent),
    )


def test_standin_flyteadmin_registers_once_submits_polls_times_terminates_and_archives() -> None:
    with platform_standins.flyteadmin_standin() as (address, admin):
        runner = FlyteRunner(address, True, None, SETTINGS)
        manifest = runner.prepare()
        assert manifest["workflow_version"] == runner.version
        assert manifest["resources"] == {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "500m", "memory": "1Gi"},
        }
        assert (manifest["image"], manifest["namespace"]) == (IMAGE, "flytesnacks-development")
        assert {key[2] for key in admin.tasks} == TASKS
        assert {key[3] for key in [*admin.tasks, *admin.workflows, *admin.launch_plans]} == {runner.version}
        # a second session with the same code registers nothing new and still works
        FlyteRunner(address, True, None, SETTINGS).prepare()
        assert len(admin.tasks) == len(TASKS) and len(admin.workflows) == 1 and len(admin.launch_plans) == 1

        run = runner.submit(CASES["tuning"], "rb-t1")
        assert (run.run_id, run.namespace, run.pod_selector, run.url) == (
            "rb-t1",
            "flytesnacks-development",
            "execution-id=rb-t1",
            None,  # plaintext gRPC port: the console is elsewhere
        )
        request = admin.created["rb-t1"]
        assert dict((kv.key, kv.value) for kv in request.spec.envs.values) == REMOTE_TASK_ENV
        assert request.spec.launch_plan.name == PREFIX + "retrain"
        assert request.spec.launch_plan.version == runner.version
        assert request.inputs.literals["case_json"].scalar.primitive.string_value == CASES["tuning"].to_json()
        grid = [lit.scalar.primitive.float_value for lit in request.inputs.literals["grid"].collection.literals]
        assert grid == [0.01, 0.1, 1.0, 10.0, 100.0]

        assert runner.poll(run) == Poll(done=False, ok=False, state="QUEUED")
        execution = admin.executions["rb-t1"]
        execution.closure.phase = core_execution_pb2.WorkflowExecution.SUCCEEDED
        execution.closure.started_at.CopyFrom(_ts(1.0))
        execution.closure.duration.CopyFrom(_dur(30.0))
        assert runner.poll(run) == Poll(done=True, ok=True, state="SUCCEEDED")

        admin.node_executions["rb-t1"] = {
            "": [_pb_node("n0", 2.0, 3.0, "n0"), _pb_node("n3", 12.0, 9.0, "n3", parent=True)],
            # more children than one page of 100: 101 tune nodes and select_best
            "n3": [_pb_node(f"n3-0-dn{i}", 14.0, 1.25, f"dn{i}") for i in range(102)],
        }
        timings = runner.platform_timings(run)
        assert timings["execution"]["duration_s"] == 30.0
        assert len(timings["nodes"]) == 2 + 102
        assert timings["nodes"]["n3-0-dn101"]["parent"] == "n3"
        assert timings["nodes"]["n3-0-dn101"]["duration_s"] == 1.25
        listed = [detail for method, detail in admin.calls if method == "ListNodeExecutions"]
        assert listed == ["rb-t1/", "rb-t1/n3", "rb-t1/n3"]  # top level, then the dynamic node's two pages
        assert not [m for m, _ in admin.calls if "Data" in m]  # no node or execution data fetched

        runner.terminate(run, "round timed out")  # already finished: nothing to do, no error
        assert execution.closure.phase == core_execution_pb2.WorkflowExecution.SUCCEEDED
        runner.cleanup(run)
        assert execution.closure.state_change_details.state == execution_pb2.EXECUTION_ARCHIVED


def test_standin_flyteadmin_terminates_a_running_execution() -> None:
    with platform_standins.flyteadmin_standin() as (address, admin):
        runner = FlyteRunner(address, True, None, SETTINGS)
        runner.prepare()
        run = runner.submit(CASES["base"], "rb-b1")
        admin.executions["rb-b1"].closure.phase = core_execution_pb2.WorkflowExecution.RUNNING
        runner.terminate(run, "ctrl-c")
        assert runner.poll(run) == Poll(done=True, ok=False, state="ABORTED", error="aborted: ctrl-c")
