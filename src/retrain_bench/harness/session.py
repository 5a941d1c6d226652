"""One benchmark session without pytest: the plan, the interleaved schedule, the rounds run, their records.

``BenchSession.open`` builds one from ``BenchOptions``: it prepares the own environment of every
NAME@VERSION spec and own-environment platform, and finds the benchmark's pipelines. A platform's
session services start before its first round (or at ``start_services``) and stop at ``close``.
The pytest plugin drives it (``pytest_plugin/session.py`` hands its rounds to pytest-benchmark), and
so do ``retrain-bench soak`` and ``scripts/calibrate_gate.py``, as plain Python::

    with BenchSession.open(options, log_dir, progress=print) as session:
        session.plan_everything()
        for case in options.cases:
            for spec in options.labels:
                rounds, record = session.rounds_of(spec, case), session.record(spec, case)

Used as a context manager it also handles SIGINT and SIGTERM as the plugin does
(``harness/stopping.py``): a stop ends the running round (killed, recorded as interrupted), the
session stops, and the services and their directories are closed on the way out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import platform as platform_module
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from retrain_bench.errors import BenchError
from retrain_bench.harness.engine import RoundInterrupted, RoundPlan, not_run
from retrain_bench.harness.local import run_local_round
from retrain_bench.harness.pipelines import find_pipelines
from retrain_bench.harness.scopes import PrometheusPlan
from retrain_bench.harness.server import ServerTarget
from retrain_bench.harness.stopping import STOP
from retrain_bench.options import SERVER_POLL_INTERVAL_S, BenchOptions
from retrain_bench.platforms import registry
from retrain_bench.platforms.definition import Environment as LaunchEnvironment
from retrain_bench.platforms.definition import Platform, ServiceContext
from retrain_bench.platforms.environments import (
    Environment,
    SdkVersion,
    default_envs_dir,
    environment_version,
    main_sdk,
    prepare_all,
    project_root,
)
from retrain_bench.platforms.specs import platform_of
from retrain_bench.results.contract import SCHEMA
from retrain_bench.results.records import BenchmarkRecord
from retrain_bench.results.round import RoundResult
from retrain_bench.workload.cases import Case, case_for

if TYPE_CHECKING:  # harness.cluster_target imports the kubernetes client: not for the local target
    from retrain_bench.harness.cluster_target import ClusterTarget

CLUSTER_NOTE = (
    "cluster target: each round is one execution submitted through the platform's API and polled "
    "at --poll-interval; total_s includes up to one poll interval of detection delay, and queue_s "
    "compares the client's clock with the nodes' clocks"
)
#: recorded beside every platform's SDK distributions
VERSIONED = ("pytest-benchmark", "pytest", "scikit-learn", "pandas", "pyarrow", "numpy")


def local_note(platforms: Collection[str] | None = None) -> str:
    """The run-level note of a local session: what each orchestrator's local executor does (of
    ``platforms``, or of every registered one)."""
    chosen = [p for name, p in registry.platforms().items() if platforms is None or name in platforms]
    executors = "; ".join(p.local_executor for p in chosen if not p.reference) or "bare Python only"
    return (
        "local target: each platform's own local executor, one fresh process per round; "
        f"{executors}. These are not cluster numbers."
    )


def server_note(platforms: Collection[str]) -> str:
    """The run-level note of a server session: what each platform's control plane runs."""
    parts = "; ".join(
        f"{p.title}: {p.server.parts}" for name, p in registry.platforms().items() if name in platforms and p.server
    )
    return (
        "server target: each round is one run submitted through the orchestrator's public API to its own "
        f"control plane on this machine, started once per session outside every round ({parts}); total_s "
        "includes up to one poll interval of detection delay"
    )


def _in_main_environment(platform: str) -> bool:
    sdk = registry.sdk_of(platform)
    return sdk is None or sdk.own_version is None


def interleaved(platforms: list[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round index, platform) in run order: round-robin, the starting platform rotating each round,
    so that no platform always runs first (or always right after the heaviest one). Lazy: a huge
    ``--rounds --allow-large`` costs nothing before its rounds run."""
    for index in range(rounds):
        shift = index % len(platforms)
        yield from ((index, p) for p in platforms[shift:] + platforms[:shift])


def versions() -> dict[str, str | None]:
    """Versions in the main environment: Python, the SDKs of the platforms that run there (those in
    environments of their own are in ``environments``), and the libraries every round uses."""
    found: dict[str, str | None] = {"python": platform_module.python_version()}
    main = [p for p in registry.names() if _in_main_environment(p)]
    for name in (*registry.sdk_distributions(main), *VERSIONED):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def _never() -> bool:
    return False


def own_environments(options: BenchOptions, progress: Callable[[str], None]) -> dict[str, Environment]:
    """The own environment of every spec that has one (NAME@VERSION, or a platform that never runs
    in the main environment), built or reused before any round (one line if not)."""
    if all(environment_version(spec) is None for spec in options.specs):
        return {}
    project = project_root()
    return prepare_all(
        options.specs, project, default_envs_dir(project), lambda line: progress(f"[retrain-bench] {line}")
    )


@dataclasses.dataclass
class BenchSession:
    options: BenchOptions
    log_dir: Path
    progress: Callable[[str], None]
    #: platform specs (``flyte``, ``flyte@1.15.4``) per case, in the order the tests were collected
    plan: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    results: dict[tuple[str, str], list[RoundResult]] = dataclasses.field(default_factory=dict)
    prometheus: PrometheusPlan | None = None
    warn: Callable[[str], None] = print
    interrupted: bool = False
    warned: bool = False
    #: the cluster target's platforms, endpoints and runners; None on the local target
    cluster: ClusterTarget | None = None
    #: the server target's control planes, started on first use; None on the other targets
    server: ServerTarget | None = None
    #: the benchmark's ``bench`` directory the launchers import it from (``harness/pipelines.py``)
    pipelines: Path | None = None
    #: why the pipelines could not be found, when that was left to ``check_pipelines`` (``open``'s
    #: ``defer_pipelines``); None: found, or not needed
    pipelines_missing: str | None = None
    #: the own environment of every NAME@VERSION spec, by spec (``platforms/environments.py``)
    environments: dict[str, Environment] = dataclasses.field(default_factory=dict)
    #: the platforms' session services (``Platform.services``), by spec: the variables they yielded
    #: for the launchers, or the one-line reason they could not start
    service_variables: dict[str, Mapping[str, str] | str] = dataclasses.field(default_factory=dict)
    #: by spec: how long its services took to start (start-up of the session, outside every round)
    service_times: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    _services: contextlib.ExitStack = dataclasses.field(default_factory=contextlib.ExitStack)
    #: --registry=mlflow: the session's MLflow server's URL, or the one-line reason it did not start
    model_registry: str | None = None
    # -- pytest-xdist (src/retrain_bench/pytest_plugin/xdist.py) --
    #: on a worker: a case runs only the asking platform's rounds, as the worker cannot know which
    #: other platforms it will be given (interleaving needs them all in one process)
    per_platform: bool = False

    @classmethod
    def open(
        cls,
        options: BenchOptions,
        log_dir: Path,
        progress: Callable[[str], None],
        *,
        warn: Callable[[str], None] = print,
        prometheus: PrometheusPlan | None = None,
        cluster: ClusterTarget | None = None,
        defer_pipelines: bool = False,
    ) -> Self:
        """A session ready to run ``options``: own environments built or reused now, before any round,
        and the benchmark's pipelines found (local target). It owns ``cluster`` from here: closed here
        when the session cannot be built, else by ``close``. ``BenchError`` (one line) when it cannot.
        With ``defer_pipelines``, pipelines that cannot be found are an error only when ``check_pipelines``
        is called: the plugin loads in every pytest run of an environment where it is installed, and a
        run that collects no benchmark (a user's own tests) must not fail for want of ``bench/``."""
        missing = None
        try:
            environments = own_environments(options, progress)
            try:
                pipelines = None if cluster is not None else find_pipelines(options.platforms)
            except BenchError as exc:
                if not defer_pipelines:
                    raise
                pipelines, missing = None, str(exc)
        except BaseException:
            if cluster is not None:
                cluster.close()
            raise
        return cls(
            options,
            log_dir,
            progress,
            prometheus=prometheus,
            warn=warn,
            cluster=cluster,
            pipelines=pipelines,
            pipelines_missing=missing,
            environments=environments,
        )

    def __enter__(self) -> Self:
        # From here SIGTERM stops the session as Ctrl-C does; without it a SIGTERM would end the
        # process before ``close`` and leave the services (their own process groups) running. Outside
        # a round a stop is recorded and the session stops at its next check (``stopping``), so the
        # caller's own bookkeeping between rounds (a soak's probe) is never cut in half.
        STOP.install(nothing_to_lose=_never)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            self.close()
        finally:
            STOP.uninstall()

    def plan_everything(self) -> None:
        """Plan every spec x case of the options, in the order the plugin's parametrisation collects them."""
        for case in self.options.cases:
            for spec in self.options.labels:
                self.add_to_plan(spec, case)

    def check_pipelines(self) -> None:
        """BenchError, one line, when the rounds need the benchmark's pipelines and they were not found."""
        if self.pipelines_missing is not None:
            raise BenchError(self.pipelines_missing)

    def add_to_plan(self, spec: str, case: str) -> None:
        specs = self.plan.setdefault(case, [])
        if spec not in specs:
            specs.append(spec)

    def rounds_of(self, spec: str, case: str) -> list[RoundResult]:
        """The rounds of this platform spec and case, running the case's interleaved schedule first."""
        if (spec, case) not in self.results:
            self.check_pipelines()
            self._run_case(case_for(case), only=spec if self.per_platform else None)
        return self.results.get((spec, case), [])

    def sdk(self, spec: str) -> SdkVersion:
        """The SDK a spec's rounds run with: its own environment's, else the main environment's."""
        own = self.environments.get(spec)
        return own.sdk if own is not None else main_sdk(platform_of(spec))

    def _run_case(self, case: Case, only: str | None = None) -> None:
        platforms = [only] if only else self.plan.get(case.key) or []
        for p in platforms:
            self.results[(p, case.key)] = []
        total = self.options.warmup + self.options.rounds
        for index, platform in interleaved(platforms, total):
            if self.stopping():
                return
            try:
                result = self.run_round(platform, case, index, warmup=index < self.options.warmup)
            except KeyboardInterrupt:  # between the round's end and its return: its cleanup ran
                return
            self.results[(platform, case.key)].append(result)
            self._report(platform, result, total)
        for p in platforms:
            if self.stopping():
                return
            try:
                with STOP.interruptible():  # the scrape wait and the queries: a stop keeps the rounds as they are
                    collected = self._collect(p, self.results[(p, case.key)])
            except KeyboardInterrupt:
                self.interrupted = True
                return
            self.results[(p, case.key)] = collected

    def run_round(self, spec: str, case: Case, index: int, *, warmup: bool) -> RoundResult:
        """One round of ``spec`` where the session sends it (its environment, its services, the target).
        A stop during the round returns it failed and interrupted, and the session stops; a stop after
        the round's cleanup, before it returned, is a ``KeyboardInterrupt`` (the session stops too)."""
        try:
            return self._round(spec, case, index, warmup=warmup)
        except RoundInterrupted as stop:
            self.interrupted = True
            return stop.result
        except KeyboardInterrupt:
            self.interrupted = True
            raise

    def start_services(self, spec: str) -> None:
        """Start ``spec``'s session services now if it has any (else they start before its first round),
        so that what they start is there before any round: the soak counts it as the session's."""
        self._launch_environment(spec)

    def stopping(self) -> bool:
        """Whether the run is being stopped (a round was interrupted, or a signal asked for it)."""
        if STOP.requested is not None and not self.interrupted:
            self.interrupted = True
            self.progress(
                f"[retrain-bench] {STOP.requested}: stopping; the rounds run so far go to the JSON "
                "(round processes killed, round directories removed)"
            )
        return self.interrupted

    def _collect(self, spec: str, results: list[RoundResult]) -> list[RoundResult]:
        if self.prometheus is not None:
            results = self.prometheus.collect(results, self._warn_once, progress=self.progress)
        if self.cluster is not None:
            results = self.cluster.collect(spec, results, self._warn_once)
        return results

    def _round(self, spec: str, case: Case, index: int, *, warmup: bool) -> RoundResult:
        """One round where the options send it: a cluster, N local executions at once, or one."""
        n = self.options.concurrency
        if self.cluster is not None:
            with STOP.interruptible():  # registration and the cooldown too, not only the round
                return self.cluster.run_round(spec, case, index, warmup=warmup, concurrency=n)
        if self.options.target == "server":
            with STOP.interruptible():  # the control plane's start-up too, not only the round
                return self._server().run_round(spec, case, index, warmup=warmup, concurrency=n)
        log = self.log_dir / f"{spec}-{case.key}-{index}.log"
        environment = self._launch_environment(spec)
        if isinstance(environment, str):  # its services could not start: every round fails, saying why
            plan = RoundPlan(platform_of(spec), case, index, warmup, "local", (log,), self.options.run_timeout)
            return not_run(plan, environment)
        return run_local_round(
            platform_of(spec),
            case,
            index,
            concurrency=n,
            warmup=warmup,
            run_timeout=self.options.run_timeout,
            log=log,
            sample_hz=self.options.sample_hz or None,
            pipelines=self.pipelines,
            environment=environment,
        )

    def _server(self) -> ServerTarget:
        if self.server is None:
            self.server = ServerTarget(
                run_timeout=self.options.run_timeout,
                poll_interval_s=self.options.poll_interval_s or SERVER_POLL_INTERVAL_S,
                sample_hz=self.options.sample_hz or None,
                log_dir=self.log_dir,
                pipelines=self.pipelines,
                python_of=self._python_of,
                progress=self.progress,
                warn=self.warn,
            )
        return self.server

    def _environment_of(self, spec: str) -> LaunchEnvironment:
        """Where a spec's SDK is installed: its own environment (NAME@VERSION, or a platform that
        never runs in the main one), else where its platform says."""
        own = self.environments.get(spec)
        return own.launch(spec) if own is not None else registry.platform(platform_of(spec)).environment

    def _python_of(self, spec: str) -> str:
        return self._environment_of(spec).interpreter()

    def _launch_environment(self, spec: str) -> LaunchEnvironment | str:
        """Where a spec's launchers run, with what its services yielded; their start-up failure's
        reason instead when they could not start."""
        base = self._environment_of(spec)
        if self.options.registry is not None:
            from retrain_bench.harness import registry_service

            url = self._model_registry()
            if not url.startswith("http://"):  # it did not start: the rounds that need it fail, saying why
                return url
            base = base.with_variables(registry_service.variables_for(url, spec))
        platform = registry.platform(platform_of(spec))
        if platform.services is None:
            return base
        if spec not in self.service_variables:
            self.service_variables[spec] = self._start_services(spec, platform, base)
        variables = self.service_variables[spec]
        if isinstance(variables, str):
            return variables
        return base.with_variables(variables)

    def _start_services(self, spec: str, platform: Platform, environment: LaunchEnvironment) -> Mapping[str, str] | str:
        assert platform.services is not None
        home = Path(tempfile.mkdtemp(prefix=f"retrain-bench-{platform.name}-"))
        self._services.callback(shutil.rmtree, home, ignore_errors=True)
        self.progress(f"[retrain-bench] {spec}: starting its session services")
        started = time.perf_counter()
        context = ServiceContext(python=environment.interpreter(), home=home, progress=self.progress)
        try:
            variables = dict(self._services.enter_context(platform.services(context)))
        except BenchError as exc:
            self.service_times[spec] = {"start_s": None, "error": str(exc)}
            self.warn(f"{spec}: its session services did not start, so its rounds fail: {exc}")
            return f"the session services of {spec} did not start: {exc}"
        seconds = time.perf_counter() - started
        self.service_times[spec] = {"start_s": seconds, "error": None}
        self.progress(f"[retrain-bench] {spec}: session services ready in {seconds:.1f} s")
        return variables

    def _model_registry(self) -> str:
        """The session's model registry, started on first use: its URL, or why it did not start."""
        from retrain_bench.harness import registry_service

        if self.model_registry is None:
            home = Path(tempfile.mkdtemp(prefix="retrain-bench-registry-"))
            self._services.callback(shutil.rmtree, home, ignore_errors=True)
            log = self.log_dir / "mlflow-server.log"
            try:
                server = registry_service.mlflow_server(home, log, self.progress)
                self.model_registry = self._services.enter_context(server)
            except BenchError as exc:
                self.model_registry = f"the model registry (--registry={self.options.registry}) did not start: {exc}"
                self.warn(f"{self.model_registry}; the rounds that need it fail")
        return self.model_registry

    def _warn_once(self, message: str) -> None:
        if not self.warned:
            self.warned = True
            self.warn(message + " (further failures are recorded in the JSON without a warning)")

    def _report(self, spec: str, result: RoundResult, total: int) -> None:
        kind = "warmup" if result.warmup else "round"
        seconds = f"{result.total_s:.2f}s" if result.total_s is not None else "-"
        status = "ok" if result.ok else "FAILED: " + (result.error or "").splitlines()[0]
        self.progress(f"[retrain-bench] {spec}/{result.case} {kind} {result.index + 1}/{total} {seconds} {status}")

    def record(self, spec: str, case: str) -> dict[str, Any]:
        results = self.results.get((spec, case), [])
        record = BenchmarkRecord.of(
            platform_of(spec), self.options.target, case_for(case), results, self.options.prices
        )
        # JSON at pytest-benchmark's boundary: extra_info holds what its JSON dump (and xdist) can carry
        return record.with_spec(spec, self.sdk(spec).to_json()).to_json()

    def run_level(self) -> dict[str, Any]:
        """Facts about the whole run, for the top level of the JSON (not machine_info)."""
        return {
            "schema": SCHEMA,
            "target": self.options.target,
            "options": self.options.as_dict(),
            "versions": versions(),
            "order": "interleaved: round-robin over platforms per case, starting platform rotating each round",
            "interrupted": self.interrupted or STOP.requested is not None,
            "prometheus": self.prometheus.run_level() if self.prometheus else None,
            "notes": [self._target_note(), *self._concurrency_notes(), *self._registry_notes()],
            "cluster": self.cluster.run_level() if self.cluster else None,
            "environments": {spec: env.to_json() for spec, env in self.environments.items()},
            "services": {**self.service_times, **(self.server.run_level() if self.server else {})},
        }

    def _target_note(self) -> str:
        if self.cluster is not None:
            return CLUSTER_NOTE
        if self.options.target == "server":
            return server_note(self.options.platforms)
        return local_note(self.options.platforms)

    def close(self) -> None:
        """Close what the session opened (port-forwards, API clients, the platforms' services)."""
        try:
            with STOP.shielded():  # stopping a service's process group is cleanup: no signal cuts it short
                self._services.close()
                if self.server is not None:
                    self.server.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def _registry_notes(self) -> list[str]:
        if self.options.registry is None:
            return []
        return [
            f"registry {self.options.registry}: a register step after select_best in every round that retrained, "
            "against one MLflow tracking server per session (SQLite), started outside every round; the server's "
            "CPU and memory are not in the rounds' figures, its calls' time is in register_s and total_s"
        ]

    def _concurrency_notes(self) -> list[str]:
        n = self.options.concurrency
        if n == 1:
            return []
        return [
            f"concurrency {n}: every round released {n} executions of its case together; total_s is the makespan "
            "(first go -> last result), queue_s and retrain_tune_s the medians over the executions"
        ]
