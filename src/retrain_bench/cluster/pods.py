"""The pods of one remote run, as Kubernetes showed them, and the stamp lines in their logs.

``PodWatch`` starts right after submit and lists, then watches from the list's resource version,
in a thread: a run's pods can finish and be garbage-collected before the round ends (KFP's driver
pods live for seconds), and a list at the end alone would miss them. Every watch carries a server
timeout and a client read timeout; when it ends it is re-opened from the last version seen, and
when that version is too old (410 Gone) the pods are listed again. ``stop()`` lists once more, so
the final states are in, and returns every pod seen, deleted ones included.

``read_stamps`` reads the stamp lines (``retrain_bench.workload.stamps``) from the logs of the run's pods: only
their main containers — never init containers such as KFP's ``kfp-launcher`` — and only those
that started. Kubernetes errors become one-line ``ClusterError`` s (``Kube.call``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import urllib3
from kubernetes import watch as k8s_watch

from retrain_bench.cluster.errors import ApiError, ClusterError, ClusterUnreachable, Forbidden
from retrain_bench.cluster.kube import Kube
from retrain_bench.measure.quantities import requested
from retrain_bench.workload.stamps import StampLog

#: The annotation naming a pod's main container (Argo sets it to ``main``; its ``wait`` sidecar is not ours).
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
GONE = 410


@dataclasses.dataclass(frozen=True)
class ContainerSeen:
    """One container of a pod: its state (waiting/running/terminated) and times, RFC 3339 as served."""

    name: str
    init: bool
    state: str
    exit_code: int | None = None
    started: str | None = None
    finished: str | None = None

    @property
    def has_started(self) -> bool:
        return self.state in ("running", "terminated")


@dataclasses.dataclass(frozen=True)
class PodSeen:
    """A pod of the run in the last state Kubernetes showed; ``deleted`` once a watch saw it go."""

    name: str
    namespace: str
    node: str | None
    phase: str
    created: str | None
    started: str | None
    finished: str | None
    containers: tuple[ContainerSeen, ...]
    #: the containers whose logs hold the task's output: the default container if the pod names one
    log_containers: tuple[str, ...]
    deleted: bool = False
    #: what the pod's main containers request, summed (Kubernetes quantities read as cores and
    #: GiB); None when no container states a request. Init containers run before and are not held.
    cpu_request: float | None = None
    memory_request_gib: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "node": self.node,
            "phase": self.phase,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "deleted": self.deleted,
            "requests": {"cpu": self.cpu_request, "memory_gib": self.memory_request_gib},
            "containers": [dataclasses.asdict(c) for c in self.containers],
        }


def nodes_of(pods: Iterable[PodSeen]) -> tuple[str, ...]:
    """The nodes the pods ran on, sorted; unscheduled pods have none."""
    return tuple(sorted({p.node for p in pods if p.node}))


def pod_seen(pod: Any, deleted: bool = False) -> PodSeen:
    """A ``PodSeen`` from a kubernetes ``V1Pod``."""
    meta, spec, status = pod.metadata, pod.spec, pod.status
    states = {s.name: s for s in (status.container_statuses or [])} if status else {}
    init_states = {s.name: s for s in (status.init_container_statuses or [])} if status else {}
    containers = tuple(
        _container(c.name, init, (init_states if init else states).get(c.name))
        for init, group in ((True, spec.init_containers or []), (False, spec.containers or []))
        for c in group
    )
    main = [c.name for c in containers if not c.init]
    default = (meta.annotations or {}).get(DEFAULT_CONTAINER)
    finishes = [c.finished for c in containers if not c.init]
    return PodSeen(
        name=meta.name,
        namespace=meta.namespace,
        node=spec.node_name,
        phase=(status.phase if status else None) or "Unknown",
        created=_iso(meta.creation_timestamp),
        started=_iso(status.start_time) if status else None,
        # done when every main container terminated: the last of their finish times
        finished=max(finishes) if finishes and all(finishes) else None,  # type: ignore[type-var]
        containers=containers,
        log_containers=(default,) if default in main else tuple(main),
        deleted=deleted,
        cpu_request=_requested(spec.containers, "cpu", 1.0),
        memory_request_gib=_requested(spec.containers, "memory", float(1024**3)),
    )


def _requested(containers: Any, resource: str, unit: float) -> float | None:
    try:
        return requested(containers, resource, unit)
    except ValueError:
        return None  # not a quantity Kubernetes would have accepted: not counted


def _container(name: str, init: bool, status: Any) -> ContainerSeen:
    state = status.state if status is not None else None
    if state is not None and state.terminated is not None:
        t = state.terminated
        return ContainerSeen(name, init, "terminated", t.exit_code, _iso(t.started_at), _iso(t.finished_at))
    if state is not None and state.running is not None:
        return ContainerSeen(name, init, "running", started=_iso(state.running.started_at))
    return ContainerSeen(name, init, "waiting")


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class PodWatch:
    """Every pod matching ``label_selector`` in ``namespace`` from ``start()`` to ``stop()``.

    A failure is kept as a one-line message in ``errors`` (the round decides what it means);
    forbidden or unauthorised access ends the watch, anything else is retried after a pause.
    """

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        label_selector: str,
        *,
        watch_timeout_s: int = 30,
        retry_pause_s: float = 1.0,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.label_selector = label_selector
        self.watch_timeout_s = watch_timeout_s
        self.retry_pause_s = retry_pause_s
        self._pods: dict[str, PodSeen] = {}
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def what(self) -> str:
        return f"list pods {self.label_selector} in namespace {self.namespace}"

    @property
    def errors(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._errors)

    def start(self) -> PodWatch:
        self._thread = threading.Thread(target=self._run, name=f"pod-watch {self.label_selector}", daemon=True)
        self._thread.start()
        return self

    def seen(self) -> tuple[PodSeen, ...]:
        """The pods seen so far, ordered by creation then name, without stopping."""
        with self._lock:
            return tuple(sorted(self._pods.values(), key=lambda p: (p.created or "", p.name)))

    def stop(self) -> tuple[PodSeen, ...]:
        """Stop watching, list once more, and return every pod seen, ordered by creation then name."""
        self._stopped.set()
        try:
            self._list(final=True)
        except ClusterError as error:
            self._note(str(error))
        # The thread may sit in a watch read until its timeout; it records nothing after the stop.
        if self._thread is not None:
            self._thread.join(timeout=0.2)
        return self.seen()

    def _run(self) -> None:
        version: str | None = None
        while not self._stopped.is_set():
            try:
                if version is None:
                    version = self._list()
                opened = time.monotonic()
                last = self._watch(version)
                if last == version and time.monotonic() - opened < self.watch_timeout_s / 2:
                    # ended early with nothing in it: not how a server ends a watch; do not spin
                    self._stopped.wait(self.retry_pause_s)
                version = last
            except ApiError as error:
                if error.status == GONE:
                    version = None  # the history is compacted: list again
                    continue
                self._note(str(error))
                self._stopped.wait(self.retry_pause_s)
            except (Forbidden, ClusterUnreachable) as error:
                self._note(str(error))
                if isinstance(error, Forbidden):
                    return  # RBAC does not change by waiting
                self._stopped.wait(self.retry_pause_s)
            except Exception as error:  # noqa: BLE001 - the thread must not die silently
                # A line the client cannot decode (kubernetes/watch/watch.py json.loads), an object its
                # model rejects (ClusterError from Kube.call), anything else: recorded for the round,
                # then listed again, since the events after the last version seen may be lost.
                self._note(
                    str(error)
                    if isinstance(error, ClusterError)
                    else f"the pod watch failed ({type(error).__name__}) and was restarted"
                )
                version = None
                self._stopped.wait(self.retry_pause_s)

    def _list(self, final: bool = False) -> str:
        core = self.kube.core()
        listing = self.kube.call(
            self.what,
            lambda: core.list_namespaced_pod(self.namespace, label_selector=self.label_selector, **self.kube.opts()),
        )
        for pod in listing.items or []:
            self._record(pod_seen(pod))
        if final:
            # The last word: a pod seen before and not listed now is gone, whether or not its
            # DELETED event reached the watch before it stopped.
            listed = {pod.metadata.name for pod in listing.items or []}
            with self._lock:
                for name, pod in self._pods.items():
                    if name not in listed and not pod.deleted:
                        self._pods[name] = dataclasses.replace(pod, deleted=True)
        return str(listing.metadata.resource_version)

    def _watch(self, version: str) -> str:
        """Watch from ``version`` until the server ends the watch; the last version seen."""
        core = self.kube.core()
        watcher = k8s_watch.Watch()
        connect = self.kube.timeout[0]

        def consume() -> str:
            last = version
            stream = watcher.stream(
                core.list_namespaced_pod,
                self.namespace,
                label_selector=self.label_selector,
                resource_version=version,
                timeout_seconds=self.watch_timeout_s,
                # a silent connection must not hold the thread past the server's own timeout
                _request_timeout=(connect, self.watch_timeout_s + connect),
            )
            try:
                for event in stream:
                    if self._stopped.is_set():
                        watcher.stop()
                        break
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self._record(pod_seen(event["object"], deleted=event["type"] == "DELETED"))
                        last = watcher.resource_version or last
            except urllib3.exceptions.ReadTimeoutError:
                pass  # neither an event nor the server's end in time: watch again from here
            except (ValueError, TypeError, KeyError) as error:
                # kubernetes/watch/watch.py json-decodes each line and builds the model: a cut line or an
                # object the 30.x models reject ends up here, not as the apiserver's fault
                raise ClusterError(
                    f"a watch event of pods {self.label_selector} in namespace {self.namespace} could not be "
                    f"decoded ({type(error).__name__}); the pods were listed again"
                ) from None
            return last

        return str(self.kube.call(f"watch pods {self.label_selector} in namespace {self.namespace}", consume))

    def _record(self, pod: PodSeen) -> None:
        with self._lock:
            if self._stopped.is_set() and threading.current_thread() is self._thread:
                return
            before = self._pods.get(pod.name)
            if before is not None and before.deleted and not pod.deleted:
                return  # a stale listing does not bring a deleted pod back
            self._pods[pod.name] = pod

    def _note(self, message: str) -> None:
        with self._lock:
            if message not in self._errors:
                self._errors.append(message)


@dataclasses.dataclass(frozen=True)
class PodLogs:
    """The stamp lines of a run's pods, the logs' text per pod/container, and what could not be read."""

    stamps: StampLog
    texts: tuple[tuple[str, str, str], ...]
    #: pods whose logs were not read: deleted before the round ended (their logs went with them)
    unread: tuple[str, ...]


def read_stamps(kube: Kube, pods: Iterable[PodSeen], log_line: Callable[[str], None] | None = None) -> PodLogs:
    """The stamps in the main containers' logs of ``pods``; ClusterError naming the pod that failed."""
    core = kube.core()
    lines: list[str] = []
    texts: list[tuple[str, str, str]] = []
    unread: list[str] = []
    for pod in pods:
        if pod.deleted:
            unread.append(pod.name)
            continue
        started = {c.name for c in pod.containers if not c.init and c.has_started}
        for container in pod.log_containers:
            if container not in started:
                continue
            text = _read_log(kube, core, pod, container)
            texts.append((pod.name, container, text))
            lines.extend(text.splitlines())
    return PodLogs(StampLog.from_log_lines(lines), tuple(texts), tuple(unread))


def _read_log(kube: Kube, core: Any, pod: PodSeen, container: str) -> str:
    what = f"read the log of pod {pod.name} (container {container}) in namespace {pod.namespace}"
    try:
        # Not preloaded: the client would try the text as JSON first and could turn it into a repr.
        response = kube.call(
            what,
            lambda: core.read_namespaced_pod_log(
                pod.name, pod.namespace, container=container, _preload_content=False, **kube.opts()
            ),
        )
    except ApiError as error:
        raise ClusterError(f"cannot {what}: {error.detail}") from None
    return bytes(response.data).decode("utf-8", errors="replace")
