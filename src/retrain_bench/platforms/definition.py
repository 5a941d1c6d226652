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
from typing import TYPE_CHECKING, Any

from retrain_bench.checks import Check
from retrain_bench.workload.cases import Case

if TYPE_CHECKING:  # the cluster layer sits above the platforms: only its types are named here
    from retrain_bench.cluster.endpoints import ClusterEndpoints
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


@dataclasses.dataclass(frozen=True)
class ClusterSide:
    """A platform as deployed on Kubernetes: how to reach it, run on it, check it and describe it."""

    #: how the doctor and the preflight call it ("Flyte", "KFP")
    label: str
    #: ``NS/SVC:PORT`` port-forwarded when the user gives no endpoint
    default_service: str
    #: the runner of cluster rounds, built once per session from the platform's endpoints
    runner: Callable[[ClusterEndpoints, ClusterOptions, RemoteSettings], RemoteRunner]
    #: the service to port-forward, or None when the user gave the endpoint itself
    forwarded: Callable[[ClusterOptions], ServiceRef | None]
    #: every namespace the platform lives in (its control plane and its runs' pods)
    namespaces: Callable[[ClusterOptions], tuple[str, ...]]
    #: where the pods of its runs are created (the harness watches them and reads their logs)
    run_namespaces: Callable[[ClusterOptions], tuple[str, ...]]
    #: the doctor's check of the platform's API (answering, authorised, which version)
    api_check: Callable[[ClusterEndpoints, ClusterOptions], Check]
    #: the preflight's "<label> at <address>", reaching the API (forwarding it when needed)
    reach: Callable[[ClusterEndpoints], str]
    #: the manifest's key for the control plane's version, and how to ask for it
    version_key: str
    control_plane_version: Callable[[ClusterEndpoints, ClusterOptions], Callable[[], str]]
    #: deployments whose image tag the manifest records as a version: (versions key, namespace of
    #: the platform's settings -> "<namespace>/<deployment>"), e.g. the workflow engine underneath
    engine_deployments: tuple[tuple[str, Callable[[RemoteSettings], str]], ...] = ()
    #: every pod of a run is named ``<run id>-...``: a run whose pods the watch missed is still found
    pods_named_after_run: bool = False


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
    #: its side on a cluster; None: it runs only on the local target
    cluster: ClusterSide | None = None
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
