"""The Flyte workflow on a cluster: ``FlyteRunner`` speaks flyteadmin's gRPC API through ``FlyteRemote``.

Registration is image-based: the task image already holds this package, so nothing is uploaded
to the blob store (no fast registration, no pickling); only task, workflow and launch-plan specs
go over gRPC, once per session, under a version that is a hash of the workflow's code, the image,
the resources and flytekit's version (the same code re-uses the registration).

Fairness: every task gets ``requests == limits == settings.resources`` and the image through
flytekit's ``SerializationSettings.default_resources`` and ``image_config`` (our tasks declare no
resources of their own). flytekit also packs those settings into the ``@dynamic`` task's container
environment (``_F_SS_C``), so the ``tune`` and ``select_best`` nodes that ``adapt`` compiles in its
pod at run time get the same image and resources. ``REMOTE_TASK_ENV`` reaches every pod as the
execution's ``envs``; the task definitions stay as they are, so local runs keep writing the file.

``platform_timings`` (see ``timings_from_records``) is flyteadmin's own view, from records only
(never node data)::

    {"source": "flyteadmin",
     "execution": {"phase", "created_at", "started_at", "duration_s"},
     "nodes": {"<unique node id>": {"spec_node_id", "parent", "task", "phase", "started_at",
                                    "duration_s", "is_parent", "attempts",
                                    "task_started_at", "task_duration_s"}}}

Times are ISO 8601 UTC with microseconds, durations seconds as floats. Node ids are flyteadmin's
unique ids: ``n0`` … for the workflow's nodes, ``n3-0-dn0`` … for the children the dynamic node
``n3`` created (``parent`` names it; ``spec_node_id`` is ``dn0``). ``task`` and the ``task_*``
figures come from the node's last task attempt (its pod); ``None`` where flyteadmin has no
record (a node that never started, ``start-node``/``end-node``).

Cleanup archives the execution (``UpdateExecution`` with ``EXECUTION_ARCHIVED``, what the console's
"archive" does): flyteadmin has no delete, so archived executions stay in its database, hidden
from default listings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import importlib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from retrain_bench.cluster.settings import RemoteSettings, TaskResources
from retrain_bench.errors import BenchError
from retrain_bench.platforms.remote import REMOTE_TASK_ENV, Poll, Submitted
from retrain_bench.workload.cases import Case

PLATFORM = "flyte"
WORKFLOW = "bench.flyte.workflow.retrain"
#: flyteadmin's terminal workflow phases (``WorkflowExecution.Phase`` names)
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"})
#: an error message from the platform is cut to this many characters
ERROR_CAP = 500
#: the sources whose change changes what is registered (the image must hold the same code)
#: the modules whose code the registered entities run
_SOURCES = (
    "bench.flyte.workflow",
    "retrain_bench.workload.retraining",
    "retrain_bench.workload.cases",
    "retrain_bench.workload.stamps",
)
_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")
#: flyteadmin's bookkeeping nodes: no task, no pod
_NO_TASK_NODES = frozenset({"start-node", "end-node"})
_PAGE = 100

T = TypeVar("T")


def resource_spec(resources: TaskResources) -> Any:
    """flytekit's ``ResourceSpec`` with requests == limits (Guaranteed QoS for every task pod)."""
    from flytekit import Resources
    from flytekit.core.resources import ResourceSpec

    amount = Resources(cpu=resources.cpu, mem=resources.memory)
    return ResourceSpec(requests=amount, limits=amount)


def registration_version(settings: RemoteSettings) -> str:
    """A short hash of what decides the registered entities: code, image, resources, flytekit."""
    import flytekit

    digest = hashlib.sha256()
    for name in _SOURCES:
        source = Path(str(importlib.import_module(name).__file__)).read_bytes()
        digest.update(name.encode() + b"\0" + source + b"\0")
    for part in (settings.image, settings.resources.cpu, settings.resources.memory, flytekit.__version__):
        digest.update(part.encode() + b"\0")
    return "rb-" + digest.hexdigest()[:16]


def serialization_settings(settings: RemoteSettings, version: str) -> Any:
    """Image-based settings: our image for every task, our resources as every task's default, no
    fast registration (``fast_serialization_settings`` stays unset, so nothing is uploaded)."""
    from flytekit.configuration import ImageConfig, SerializationSettings

    return SerializationSettings(
        image_config=ImageConfig.auto(img_name=settings.image),
        project=settings.options.project,
        domain=settings.options.domain,
        version=version,
        default_resources=resource_spec(settings.resources),
    )


@contextlib.contextmanager
def pristine_task_resources() -> Iterator[None]:
    """flytekit writes ``default_resources`` into each task object it serializes; put the tasks
    back afterwards, so a later serialization (other resources, a test) starts from the code."""
    from bench.flyte import workflow

    tasks = [workflow.make_data, workflow.train, workflow.detect_drift, workflow.adapt, workflow.tune]
    tasks += [workflow.select_best, workflow.register]
    saved = [t._resources for t in tasks]
    try:
        yield
    finally:
        for t, resources in zip(tasks, saved, strict=True):
            t._resources = resources


def serialize(settings: RemoteSettings, version: str) -> OrderedDict[Any, Any]:
    """What registration sends: flytekit's entity -> control-plane spec map for the workflow."""
    from flytekit.tools.translator import get_serializable

    from bench.flyte.workflow import retrain

    entities: OrderedDict[Any, Any] = OrderedDict()
    with pristine_task_resources():
        get_serializable(entities, serialization_settings(settings, version), retrain)
    return entities


class FlyteRunner:
    """``RemoteRunner`` for Flyte. ``address`` is flyteadmin's gRPC HOST:PORT (``platforms.flyte.cluster.flyteadmin``),
    ``insecure`` plaintext gRPC, ``config_file`` a flytekit config for auth (its endpoint is
    replaced by ``address``)."""

    platform = PLATFORM

    def __init__(
        self,
        address: str,
        insecure: bool,
        config_file: str | None,
        settings: RemoteSettings,
        *,
        remote: Any = None,
    ) -> None:
        self.address = address
        self.insecure = insecure
        self.config_file = config_file
        self.settings = settings
        self.project = settings.options.project
        self.domain = settings.options.domain
        from retrain_bench.platforms.flyte.api import flytekit_tempdir

        with flytekit_tempdir():  # flytekit's first import leaves two directories in TMPDIR otherwise
            self.version = registration_version(settings)
        self._remote = remote
        self._launch_plan: Any = None

    # -- connection -------------------------------------------------------------------------

    def _config(self) -> Any:
        from flytekit.configuration import Config

        if not self.config_file:
            return Config.for_endpoint(self.address, insecure=self.insecure)
        config = Config.auto(config_file=self.config_file)
        platform = dataclasses.replace(
            config.platform, endpoint=self.address, insecure=self.insecure or config.platform.insecure
        )
        return config.with_params(platform=platform)

    @property
    def remote(self) -> Any:
        if self._remote is None:
            from flytekit.remote import FlyteRemote

            self._remote = FlyteRemote(
                self._config(),
                default_project=self.project,
                default_domain=self.domain,
                interactive_mode_enabled=False,
            )
        return self._remote

    def _execution_id(self, run: Submitted) -> Any:
        from flytekit.models.core.identifier import WorkflowExecutionIdentifier

        return WorkflowExecutionIdentifier(project=self.project, domain=self.domain, name=run.run_id)

    # -- RemoteRunner -----------------------------------------------------------------------

    def prepare(self) -> dict[str, Any]:
        import flytekit

        from bench.flyte.workflow import retrain

        settings = serialization_settings(self.settings, self.version)
        try:
            with pristine_task_resources():
                # Already registered (same version) is fine: flytekit skips ALREADY_EXISTS per entity.
                self.remote.register_workflow(retrain, serialization_settings=settings, version=self.version)
            self._launch_plan = self.remote.fetch_launch_plan(self.project, self.domain, WORKFLOW, self.version)
        except Exception as exc:
            raise BenchError(
                f"Flyte registration of {WORKFLOW} version {self.version} at {self.address} failed: {_detail(exc)}"
                "; check the endpoint, --flyte-config and that project/domain "
                f"{self.project}/{self.domain} exist"
            ) from exc
        requests_limits = self.settings.resources.as_dict()
        return {
            "platform": PLATFORM,
            "image": self.settings.image,
            "resources": {"requests": requests_limits, "limits": dict(requests_limits)},
            "workflow": WORKFLOW,
            "workflow_version": self.version,
            "project": self.project,
            "domain": self.domain,
            "namespace": self.settings.options.run_namespace,
            "flytekit_version": flytekit.__version__,
            "registration": "image-based, no fast registration",
        }

    def submit(self, case: Case, name: str) -> Submitted:
        if self._launch_plan is None:
            raise BenchError("FlyteRunner.submit before prepare(): register the workflow first")
        if not _NAME.fullmatch(name):
            raise BenchError(f"execution name {name!r} must be 1-20 of a-z, 0-9, '-', starting with a letter")
        try:
            execution = self.remote.execute(
                self._launch_plan,
                inputs={"case_json": case.to_json(), "grid": list(case.grid)},
                project=self.project,
                domain=self.domain,
                execution_name=name,
                type_hints={"case_json": str, "grid": list[float]},
                wait=False,
                envs=dict(REMOTE_TASK_ENV),
            )
        except Exception as exc:
            raise BenchError(f"Flyte execution {name} was not created: {_detail(exc)}") from exc
        return Submitted(
            platform=PLATFORM,
            run_id=execution.id.name,
            namespace=self.settings.options.run_namespace,
            pod_selector=f"execution-id={execution.id.name}",
            url=self._console_url(execution.id),
        )

    def _console_url(self, execution_id: Any) -> str | None:
        platform = self.remote.config.platform
        # Plaintext gRPC is flyte-binary's own port (8089), not the console's: nothing to derive.
        if platform.insecure and not platform.console_endpoint:
            return None
        return str(self.remote.generate_console_url(execution_id))

    def poll(self, run: Submitted) -> Poll:
        try:
            execution = self.remote.client.get_execution(self._execution_id(run))
        except Exception as exc:
            raise BenchError(f"flyteadmin GetExecution {run.run_id} failed: {_detail(exc)}") from exc
        return poll_from_execution(execution)

    def terminate(self, run: Submitted, reason: str) -> None:
        try:
            self.remote.client.terminate_execution(self._execution_id(run), reason[:ERROR_CAP])
        except Exception as exc:
            # flyteadmin refuses to terminate a finished execution in ways that vary by version:
            # finished is what we wanted.
            if self.poll(run).done:
                return
            raise BenchError(f"Flyte execution {run.run_id} could not be terminated: {_detail(exc)}") from exc

    def platform_timings(self, run: Submitted) -> dict[str, Any]:
        try:
            return self._platform_timings(run)
        except Exception as exc:
            raise BenchError(f"flyteadmin records of {run.run_id} could not be read: {_detail(exc)}") from exc

    def _platform_timings(self, run: Submitted) -> dict[str, Any]:
        client = self.remote.client
        execution_id = self._execution_id(run)
        execution = client.get_execution(execution_id)
        nodes_by_parent: dict[str | None, list[Any]] = {}
        tasks_by_node: dict[str, list[Any]] = {}
        pending: list[str | None] = [None]
        while pending:
            parent = pending.pop(0)
            nodes: list[Any] = _all_pages(
                functools.partial(client.list_node_executions, execution_id, _PAGE, unique_parent_id=parent)
            )
            nodes_by_parent[parent] = nodes
            for node in nodes:
                if node.metadata.is_parent_node:
                    pending.append(node.id.node_id)
                if node.id.node_id not in _NO_TASK_NODES:
                    tasks_by_node[node.id.node_id] = _all_pages(
                        functools.partial(client.list_task_executions_paginated, node.id, _PAGE)
                    )
        return timings_from_records(execution, nodes_by_parent, tasks_by_node)

    def cleanup(self, run: Submitted) -> None:
        from flyteidl.admin.execution_pb2 import EXECUTION_ARCHIVED, ExecutionUpdateRequest

        client = self.remote.client
        request = ExecutionUpdateRequest(id=self._execution_id(run).to_flyte_idl(), state=EXECUTION_ARCHIVED)
        try:
            # SynchronousFlyteClient has no update_execution; its raw stub (auth and retries
            # included) does, called the way flytekit's own methods call it.
            client._stub.UpdateExecution(request, metadata=client._metadata)
        except Exception as exc:
            raise BenchError(f"Flyte execution {run.run_id} could not be archived: {_detail(exc)}") from exc


def poll_from_execution(execution: Any) -> Poll:
    """A ``Poll`` from flyteadmin's ``Execution`` record."""
    from flyteidl.core.execution_pb2 import WorkflowExecution

    closure = execution.closure
    state = WorkflowExecution.Phase.Name(closure.phase)
    done = state in TERMINAL
    error = None
    if done and state != "SUCCEEDED":
        if closure.error is not None and closure.error.message:
            error = closure.error.message
        elif closure.abort_metadata is not None and closure.abort_metadata.cause:
            error = f"aborted: {closure.abort_metadata.cause}"
        else:
            error = state.lower()
        error = error[:ERROR_CAP]
    return Poll(done=done, ok=state == "SUCCEEDED", state=state, error=error)


def timings_from_records(
    execution: Any,
    nodes_by_parent: Mapping[str | None, Sequence[Any]],
    tasks_by_node: Mapping[str, Sequence[Any]],
) -> dict[str, Any]:
    """flyteadmin's timings of one execution, JSON-ready (layout in the module docstring).

    ``execution`` is flytekit's ``models.execution.Execution``; ``nodes_by_parent`` maps a parent's
    unique node id (``None`` for the workflow itself) to its ``models.node_execution.NodeExecution``
    children; ``tasks_by_node`` a unique node id to its ``models.admin.task_execution.TaskExecution``
    attempts.
    """
    from flyteidl.core.execution_pb2 import NodeExecution, TaskExecution, WorkflowExecution

    closure = execution.closure
    started = _instant(closure.started_at)
    nodes: dict[str, dict[str, Any]] = {}
    for parent, children in nodes_by_parent.items():
        for node in children:
            node_id = node.id.node_id
            node_started = _instant(node.closure.started_at)
            attempts = sorted(tasks_by_node.get(node_id, ()), key=lambda t: t.id.retry_attempt)
            nodes[node_id] = {
                # a workflow-level node's unique id is its spec id
                "spec_node_id": node.metadata.spec_node_id or node_id,
                "parent": parent,
                "phase": NodeExecution.Phase.Name(node.closure.phase),
                "started_at": _iso(node_started),
                "duration_s": _seconds(node.closure.duration) if node_started else None,
                "is_parent": bool(node.metadata.is_parent_node),
                "attempts": len(attempts),
                **_last_attempt(attempts[-1] if attempts else None, TaskExecution.Phase.Name),
            }
    return {
        "source": "flyteadmin",
        "execution": {
            "phase": WorkflowExecution.Phase.Name(closure.phase),
            "created_at": _iso(_instant(closure.created_at)),
            "started_at": _iso(started),
            "duration_s": _seconds(closure.duration) if started else None,
        },
        "nodes": nodes,
    }


def _last_attempt(attempt: Any, phase_name: Callable[[int], str]) -> dict[str, Any]:
    """The task fields of a node from its last attempt (its pod), all ``None`` without one."""
    if attempt is None:
        return {"task": None, "task_phase": None, "task_started_at": None, "task_duration_s": None}
    started = _instant(attempt.closure.started_at)
    return {
        "task": attempt.id.task_id.name,
        "task_phase": phase_name(attempt.closure.phase),
        "task_started_at": _iso(started),
        "task_duration_s": _seconds(attempt.closure.duration) if started else None,
    }


def _instant(value: datetime.datetime | None) -> datetime.datetime | None:
    """An unset protobuf Timestamp reads as the epoch: that is "no record", not 1970."""
    if value is None or value.timestamp() == 0:
        return None
    return value


def _iso(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).isoformat()


def _seconds(value: datetime.timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _all_pages(page: Callable[..., tuple[list[T], str]]) -> list[T]:
    """Every item of a paginated flyteadmin list (``page(token=...)`` -> items, next token)."""
    found: list[T] = []
    token: str | None = None
    while True:
        items, token = page(token=token)
        found.extend(items)
        if not token:
            return found


def _detail(exc: BaseException) -> str:
    """One line from an SDK or gRPC error; flytekit wraps gRPC errors, so look at the cause too."""
    for candidate in (exc, exc.__cause__):
        details = getattr(candidate, "details", None)
        if callable(details):
            with contextlib.suppress(Exception):
                text = details()
                if text:
                    return str(text).splitlines()[0][:ERROR_CAP]
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:ERROR_CAP]
