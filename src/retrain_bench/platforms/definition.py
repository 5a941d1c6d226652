"""What a platform is to the suite: one ``Platform`` value, held by the registry (``registry.py``).

Everything platform-specific the harness needs is a field here, so adding an orchestrator is one
package (its local executor, its remote runner, this definition) plus one registration; the
harness, the report and the doctor only ask the registry. Callables import their SDK lazily: the
registry is read by every process (the launcher, the CLI, the report), and none of them should pay
for an SDK it does not run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from retrain_bench.checks import Check
from retrain_bench.platforms.sdks import Sdk
from retrain_bench.workload.cases import Case

if TYPE_CHECKING:  # the cluster layer imports the kubernetes client: a launcher never pays for it
    from retrain_bench.cluster.endpoints import ClusterEndpoints
    from retrain_bench.cluster.manifest import ControlPlane
    from retrain_bench.cluster.options import ClusterOptions
    from retrain_bench.cluster.portforward import ServiceRef
    from retrain_bench.cluster.settings import RemoteSettings
    from retrain_bench.platforms.remote import RemoteRunner
    from retrain_bench.platforms.server import ServerSide

#: ``parser.addoption`` of the suite's pytest option group (same signature as argparse's).
AddOption = Callable[..., Any]


def lazy(target: str) -> Callable[..., Any]:
    """The function ``"package.module:name"``, imported at its first call, not now: how a definition
    names its SDK-side code (``local.run``, a service) without the registry importing the SDK."""
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"lazy({target!r}): expected 'package.module:name'")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__qualname__ = call.__name__ = target
    return call


@dataclasses.dataclass(frozen=True)
class Environment:
    """Where a platform's launcher process runs.

    Every built-in platform shares the harness's interpreter. A platform that needs its own SDK
    version (another major release, a conflicting dependency) names the Python of its own
    environment here; the harness then starts that interpreter for its rounds, which must have
    ``retrain_bench`` installed so the launcher can find the platform in the registry.
    """

    name: str = "harness"
    #: the interpreter to start; None: the harness's own (``sys.executable``)
    python: str | None = None
    #: variables added to the launcher's environment (what the platform's services yielded)
    variables: tuple[tuple[str, str], ...] = ()

    def interpreter(self) -> str:
        return self.python or sys.executable

    def with_variables(self, variables: Mapping[str, str]) -> Environment:
        return dataclasses.replace(self, variables=(*self.variables, *sorted(variables.items())))


HARNESS = Environment()


@dataclasses.dataclass(frozen=True)
class ServiceContext:
    """What a platform's session services (``Platform.services``) are given to start with.

    They run in the harness's process, where the platform's SDK is usually not installed: they
    start what they need as subprocesses of ``python``, the interpreter of the platform's own
    environment.
    """

    #: the interpreter of the environment the platform's launchers run in
    python: str
    #: an empty directory for the platform's session state (a server's database), removed at the end
    home: Path
    #: one-line progress messages, shown as the harness's own
    progress: Callable[[str], None]


#: Started once per session before the platform's first round, stopped when the session ends; the
#: mapping it yields is added to every launcher's environment (e.g. the URL of a server it started).
Services = Callable[[ServiceContext], contextlib.AbstractContextManager[Mapping[str, str]]]


#: A cluster side's own parsed options (a frozen dataclass of its own; ``cluster.settings.SideOptions``).
OptionsT = TypeVar("OptionsT")


@dataclasses.dataclass(frozen=True)
class ClusterSide(Generic[OptionsT]):
    """A platform as deployed on Kubernetes: its options, how to reach it, run on it, check it and describe it.

    Everything here is the platform's own: the generic cluster code (``retrain_bench.cluster``) names no
    platform. The side registers its options (``add_options``, through the registry as every
    ``--<name>-image`` is), parses them into its own frozen value (``OptionsT``) (``parse_options``), and every
    other function is handed that value back.
    """

    #: how the doctor and the preflight call it ("Flyte", "KFP")
    label: str
    #: registers its options on a pytest option group or an argparse parser (the plugin's and the doctor's)
    add_options: Callable[[AddOption], None]
    #: validates them (``get`` reads one by its dest name) into its options value; BenchError naming the bad one
    parse_options: Callable[[Callable[[str], Any]], OptionsT]
    #: the runner of cluster rounds, built once per session; ``RemoteSettings.options`` is its ``OptionsT``
    runner: Callable[[ClusterEndpoints, ClusterOptions, RemoteSettings], RemoteRunner]
    #: its API's address as a session fixture yields it, forwarding when the user gave none, under this name
    fixture: str
    endpoint: Callable[[ClusterEndpoints, OptionsT], Any]
    #: the service to port-forward, or None when the user gave the endpoint itself
    forwarded: Callable[[OptionsT], ServiceRef | None]
    #: every namespace the platform lives in (its control plane and its runs' pods)
    namespaces: Callable[[OptionsT], tuple[str, ...]]
    #: where the pods of its runs are created (the harness watches them and reads their logs)
    run_namespaces: Callable[[OptionsT], tuple[str, ...]]
    #: the doctor's check of the platform's API (answering, authorised, which version)
    api_check: Callable[[ClusterEndpoints, OptionsT], Check]
    #: the preflight's "<label> at <address>", reaching the API (forwarding it when needed)
    reach: Callable[[ClusterEndpoints, OptionsT], str]
    #: the manifest's key for the control plane's version, and how to ask for it
    version_key: str
    control_plane_version: Callable[[ClusterEndpoints, OptionsT], Callable[[], str]]
    #: deployments whose image tag the manifest records as a version: (versions key, its options ->
    #: "<namespace>/<deployment>"), e.g. the workflow engine underneath
    engine_deployments: tuple[tuple[str, Callable[[OptionsT], str]], ...] = ()
    #: every pod of a run is named ``<run id>-...``: a run whose pods the watch missed is still found
    pods_named_after_run: bool = False

    def control_plane(self, endpoints: ClusterEndpoints, options: OptionsT) -> ControlPlane:
        """What the fairness manifest asks of its control plane."""
        from retrain_bench.cluster.manifest import ControlPlane

        return ControlPlane(
            key=self.version_key,
            version=self.control_plane_version(endpoints, options),
            engines={key: deployment(options) for key, deployment in self.engine_deployments},
        )

    def reaching(self, options: OptionsT) -> Callable[[ClusterEndpoints], str]:
        """``reach`` with its options bound: what ``cluster.endpoints.cluster_preflight`` calls."""
        return lambda endpoints: self.reach(endpoints, options)


@dataclasses.dataclass(frozen=True)
class Platform:
    """One platform a round can run on."""

    name: str
    #: as tables and charts print it
    title: str
    #: where it stands in tables, charts and the default ``--platform`` list (lowest first)
    order: int
    #: one line on what its local executor does (the run-level note of a local session)
    local_executor: str
    #: imports the SDK and the pipeline definition in the launcher: start-up, kept out of the timer
    prepare: Callable[[], None]
    #: one pipeline run with the platform's own local executor, in ``workdir``; raises when it fails
    run: Callable[[Case, Path], None]
    #: its local run imports the benchmark's pipeline package ``bench`` (``bench/flyte``, ``bench/kfp``)
    needs_pipelines: bool = False
    #: the distributions whose versions a run records (its SDK)
    sdk_distributions: tuple[str, ...] = ()
    #: the SDK package it runs on and what its versions need (``NAME@VERSION``, its own environment); None:
    #: it has no SDK to pin (bare Python)
    sdk: Sdk | None = None
    #: its side on a cluster; None: it runs only on the local target
    cluster: ClusterSide[Any] | None = None
    #: the baseline the report and growth fits subtract from every other platform (bare Python)
    reference: bool = False
    #: the report's ratio row divides this platform's mean by that platform's (Kubeflow over Flyte)
    ratio_over: str | None = None
    #: where its launcher runs (see ``Environment``)
    environment: Environment = HARNESS
    #: registers the platform's own pytest options, if it has any
    add_options: Callable[[AddOption], None] | None = None
    #: in the default ``--platform`` list; False: it runs when named (its environment is built then)
    default: bool = True
    #: what must run for the whole session beside its rounds (a server, a prepared database)
    services: Services | None = None
    #: its production control plane on this machine (``--target=server``); None: not on that target
    server: ServerSide | None = None
    #: its pipeline ends with the model-registry step when ``--registry`` is given (docs/metrics.md)
    registry_step: bool = False
