"""KFP on a cluster: compile the pipeline once, start runs through ``kfp.Client``, read the run's
own timings back from the API.

Each run carries the compiled pipeline spec inline (``run_pipeline`` with the package), so the
server keeps no pipeline or version of ours, only the experiment and the runs. Caching is off
twice over: on every task at compile time and on the run (``enable_caching=False``).

The bearer token goes to the SDK's API client and nowhere else: never into the manifest, the
timings, an error message or a log line; errors are scrubbed of it in case a server echoes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain_bench.cluster.settings import RemoteSettings
from retrain_bench.errors import BenchError
from retrain_bench.measure.promapi import redact_url
from retrain_bench.platforms.remote import REMOTE_TASK_ENV, Poll, Submitted
from retrain_bench.workload.cases import Case

if TYPE_CHECKING:
    import kfp
    from kfp_server_api import V2beta1Run

PLATFORM = "kfp"
#: Run states after which nothing changes any more (CANCELING is on its way, not there).
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"})
#: The KFP API reports task and run times in whole seconds (Argo node times as Unix seconds).
RESOLUTION_S = 1
#: How long the first contact with the API may take
CONNECT_TIMEOUT_S = 10.0


@dataclasses.dataclass(frozen=True)
class Package:
    """A compiled pipeline package on disk and the sha256 of its bytes."""

    path: Path
    sha256: str


def compile_package(settings: RemoteSettings, directory: Path) -> Package:
    """Compile the cluster pipeline (``settings.image`` for every task, requests == limits ==
    ``settings.resources``, ``REMOTE_TASK_ENV``, caching off) into ``directory/retrain-bench.yaml``."""
    from kfp import compiler

    from bench.kfp.pipeline import build_pipeline

    pipeline = build_pipeline(image=settings.image, resources=settings.resources.as_dict(), env=REMOTE_TASK_ENV)
    path = directory / "retrain-bench.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return Package(path, hashlib.sha256(path.read_bytes()).hexdigest())


def run_parameters(case: Case) -> dict[str, Any]:
    """The pipeline's run-time parameters for one case."""
    return {"case_json": case.to_json(), "grid": [float(c) for c in case.grid]}


def _iso(when: dt.datetime | None) -> str | None:
    # Unset times come back as the Unix epoch (a run's unfinished finished_at) or as Go's zero
    # time, year 1 (an Argo node that has not finished): both mean "not yet", not a date.
    if when is None or when.year < 1971:
        return None
    return when.astimezone(dt.UTC).isoformat()


def _whole_seconds(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    if _iso(start) is None or _iso(end) is None:
        return None
    assert start is not None and end is not None
    seconds = (end - start).total_seconds()
    return int(round(seconds)) if seconds >= 0 else None


def timings_from_run(run: V2beta1Run) -> dict[str, Any]:
    """KFP's own view of a run's timing, JSON-ready: the run's created/finished times and, for each
    of the pipeline's own tasks (one ``tune`` per loop iteration), its state, start, end and whole
    seconds. Durations are whole seconds because the API keeps Unix seconds.

    Every Argo node is a task detail (kubeflow/pipelines backend/src/apiserver/server/api_converter.go,
    ``toModelTasks``), and the ones named after our tasks (``make-data``...) are DAG nodes of the
    ``system-container-executor`` template, whose one child ``executor`` runs the pod
    (backend/src/v2/compiler/argocompiler/container.go). A detail carries no pod name and no node id
    of its own (``toApiPipelineTaskDetail`` never fills ``pod_name``), only its children's node ids, so
    an ``executor`` detail cannot be told apart from another: the times are the DAG node's
    (``task_times``), which span the executor pod's run and Argo's step to it; each task names its
    executor's Argo node id. Drivers, the root DAG, condition and loop DAGs are left out."""
    from bench.kfp.pipeline import TASK_NAMES

    details = (run.run_details.task_details if run.run_details else None) or []
    tasks = []
    for detail in details:
        step = TASK_NAMES.get(detail.display_name or "")
        if step is None:
            continue
        children = [c.pod_name for c in detail.child_tasks or [] if c.pod_name]
        tasks.append(
            {
                "name": step,
                "state": detail.state,
                "start": _iso(detail.start_time),
                "end": _iso(detail.end_time),
                "duration_s": _whole_seconds(detail.start_time, detail.end_time),
                "executor_node": children[0] if len(children) == 1 else None,
            }
        )
    order = {step: i for i, step in enumerate(TASK_NAMES.values())}
    tasks.sort(key=lambda t: (t["start"] or "~", order[t["name"]]))
    return {
        "source": "kfp_api",
        "resolution_s": RESOLUTION_S,
        "task_times": "dag_node",
        "run": {
            "state": run.state,
            "created_at": _iso(run.created_at),
            "finished_at": _iso(run.finished_at),
            "duration_s": _whole_seconds(run.created_at, run.finished_at),
        },
        "tasks": tasks,
    }


class KfpRunner:
    """``RemoteRunner`` for Kubeflow Pipelines (v2 API) behind ``host`` (the UI or API service)."""

    platform = PLATFORM

    def __init__(
        self,
        host: str,
        token: str | None,
        verify_tls: bool,
        settings: RemoteSettings,
        *,
        token_file: str | None = None,
    ) -> None:
        if not host.startswith(("http://", "https://")):
            raise BenchError(
                f"KFP host {redact_url(host)!r} is not an http(s) URL; give --kfp-host http(s)://HOST[:PORT]"
            )
        self.host = host.rstrip("/")
        # what messages and the console link show: user:password@ in the URL never leaves
        self.shown_host = redact_url(self.host)
        self.verify_tls = verify_tls
        self.settings = settings
        self._token = token or None
        #: read again for every request (kfp's ServiceAccountTokenVolumeCredentials): a token from
        #: `kubectl create token` expires (1 h by default) and a projected one is rotated by the kubelet
        self._token_file = token_file
        self._client: kfp.Client | None = None
        self._package: Package | None = None
        self._experiment_id: str | None = None
        # the package lives as long as the runner; TemporaryDirectory removes it on collection/exit
        self._workdir = tempfile.TemporaryDirectory(prefix="retrain-bench-kfp-")

    def __repr__(self) -> str:
        token = "file" if self._token_file else "set" if self._token else None
        return f"KfpRunner(host={self.shown_host!r}, verify_tls={self.verify_tls}, token={token})"

    def _current_token(self) -> str | None:
        if self._token_file:
            from retrain_bench.platforms.kfp.api import read_token_file

            return read_token_file(self._token_file)
        return self._token

    # -- the RemoteRunner protocol ---------------------------------------------------------------

    def prepare(self) -> Mapping[str, Any]:
        import kfp

        self._package = compile_package(self.settings, Path(self._workdir.name))
        with self._api("find or create the experiment " + repr(self.settings.options.experiment)):
            experiment = self.client.create_experiment(
                name=self.settings.options.experiment, namespace=self.settings.options.namespace
            )
        self._experiment_id = str(experiment.experiment_id)
        return {
            "image": self.settings.image,
            "resources": self.settings.resources.as_dict(),
            "package_sha256": self._package.sha256,
            "experiment": self.settings.options.experiment,
            "experiment_id": self._experiment_id,
            "namespace": self.settings.options.namespace,
            "kfp_sdk": kfp.__version__,
        }

    def submit(self, case: Case, name: str) -> Submitted:
        if self._package is None or self._experiment_id is None:
            raise BenchError("KfpRunner.submit before prepare(): prepare the runner once per session first")
        with self._api(f"start run {name!r}"):
            run = self.client.run_pipeline(
                experiment_id=self._experiment_id,
                job_name=name,
                pipeline_package_path=str(self._package.path),
                params=run_parameters(case),
                enable_caching=False,
            )
        run_id = str(run.run_id)
        return Submitted(
            platform=PLATFORM,
            run_id=run_id,
            namespace=self.settings.options.namespace,
            pod_selector=f"pipeline/runid={run_id}",
            # The API server serves no UI, and a forwarded address is gone after the session: a link
            # only to a UI the user named.
            url=f"{redact_url(ui)}/#/runs/details/{run_id}" if (ui := self.settings.options.ui_url) else None,
        )

    def poll(self, run: Submitted) -> Poll:
        with self._api(f"read run {run.run_id}"):
            state_run = self.client.get_run(run.run_id)
        state = str(state_run.state or "")
        if state not in TERMINAL_STATES:
            return Poll(done=False, state=state)
        ok = state == "SUCCEEDED"
        error = None
        if not ok:
            message = state_run.error.message if state_run.error else None
            error = self._scrub(message.splitlines()[0])[:500] if message else f"run ended {state}"
        return Poll(done=True, ok=ok, state=state, error=error)

    def terminate(self, run: Submitted, reason: str) -> None:
        from kfp_server_api import ApiException

        refused: ApiException | None = None
        with self._api(f"terminate run {run.run_id} ({reason})"):
            try:
                self.client.terminate_run(run.run_id)
            except ApiException as exc:
                refused = exc
        if refused is None or refused.status == 404:
            return  # stopping, or nothing left to stop
        # The API refuses to terminate a run that has already ended: that is what we wanted.
        with self._api(f"read run {run.run_id} after a refused terminate"):
            state = str(self.client.get_run(run.run_id).state or "")
        if state not in TERMINAL_STATES | {"CANCELING"}:
            raise BenchError(f"KFP: could not terminate run {run.run_id} ({reason}): {self._describe(refused)}")

    def platform_timings(self, run: Submitted) -> dict[str, Any]:
        with self._api(f"read run {run.run_id}"):
            finished = self.client.get_run(run.run_id)
        return timings_from_run(finished)

    def cleanup(self, run: Submitted) -> None:
        # Archive, not delete: an archived run keeps its record, its task details and its console
        # page (the URL in the JSON stays good) and can be restored; it only leaves the default
        # list. Deleting would lose the evidence behind a recorded round.
        with self._api(f"archive run {run.run_id}"):
            self.client.archive_run(run.run_id)

    # -- plumbing --------------------------------------------------------------------------------

    @property
    def client(self) -> kfp.Client:
        if self._client is None:
            import kfp

            from retrain_bench.platforms.kfp.api import kfp_api_check

            # One healthz first: kfp.Client's own (in its constructor) retries a refused token or a
            # dead host five times, five seconds apart, before it says anything.
            check = kfp_api_check(
                self.host, token=self._current_token(), verify_tls=self.verify_tls, timeout_s=CONNECT_TIMEOUT_S
            )
            if not check.ok:
                fix = check.fix
                if "SSLError" in check.detail:
                    fix = "trust the server's CA, or turn verification off with --kfp-insecure-skip-verify"
                raise BenchError(f"KFP API at {self.shown_host}: {check.detail}; {fix}")
            with warnings.catch_warnings(), self._quiet():
                # kfp.Client warns that it needs a v2 backend on every construction: we know.
                warnings.simplefilter("ignore", FutureWarning)
                if self._token_file:
                    from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

                    # kfp_server_api's Configuration calls the hook before every request (configuration.py,
                    # get_api_key_with_prefix): the file is read each time.
                    auth: dict[str, Any] = {"credentials": ServiceAccountTokenVolumeCredentials(self._token_file)}
                else:
                    auth = {"existing_token": self._token}
                self._client = kfp.Client(
                    host=self.host, verify_ssl=self.verify_tls, namespace=self.settings.options.namespace, **auth
                )
        return self._client

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        # The SDK prints console links ("Run details: ...") to stdout; the harness reports its own.
        with contextlib.redirect_stdout(io.StringIO()):
            yield

    @contextlib.contextmanager
    def _api(self, doing: str) -> Iterator[None]:
        """One API call: SDK output silenced; its failure becomes a one-line, token-free BenchError."""
        try:
            with self._quiet():
                yield
        except BenchError:
            raise
        except Exception as exc:  # the SDK raises ApiException, urllib3 errors, ValueError, ...
            fix = "check --kfp-host, --kfp-token-env, --kfp-namespace and TLS (--kfp-insecure-skip-verify)"
            raise BenchError(f"KFP at {self.shown_host}: could not {doing}: {self._describe(exc)}; {fix}") from None

    def _describe(self, exc: Exception) -> str:
        from kfp_server_api import ApiException

        if isinstance(exc, ApiException):
            # The status line is enough; the body is a JSON or HTML page and headers are noise.
            text = f"HTTP {exc.status} {exc.reason or ''}".strip()
        else:
            text = f"{type(exc).__name__}: {exc}"
        return self._scrub(text.splitlines()[0] if text else type(exc).__name__)[:300]

    def _scrub(self, text: str) -> str:
        for token in {self._token, self._last_file_token()} - {None, ""}:
            text = text.replace(str(token), "***")
        return text

    def _last_file_token(self) -> str | None:
        try:
            return self._current_token() if self._token_file else None
        except BenchError:
            return None
