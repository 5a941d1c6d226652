"""Cluster scopes measured through Prometheus over every round's window.

On the local target the user names a scope (``--prometheus-namespace``/``--prometheus-pod-regex``,
e.g. a platform's namespaces on a cluster beside the benchmark) and it is recorded as
``resources.platform`` (``PrometheusPlan``). The cluster target derives its scopes from the runs
(``ClusterPrometheusPlan``): ``execution`` is exactly the pods the pod watch saw (Flyte's name
pattern when it saw none), ``platform`` the platform inventory (``src/retrain_bench/cluster/inventory.py``),
and optionally ``node`` the node-exporter figures of the nodes those pods ran on.
Prometheus only has a window's data one scrape interval after it ends (``--scrape-interval``, or
kube-prometheus-stack's 30 s when not given), so collection waits for that once per case rather
than after every round, and says so on the progress line; Ctrl-C or SIGTERM ends the wait like a round.

Every request has ``--prometheus-timeout`` (``PROMETHEUS_TIMEOUT_S`` by default). The first
request a Prometheus does not answer (refused, timed out, 5xx) trips the plan's ``Breaker``: one
warning, and the rest of the run asks that server nothing more, its figures null with the reason.
A server that answers but rejects a query does not trip it (that is the profile's fault, per query).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from retrain_bench.errors import BenchError, PrometheusError, PrometheusUnavailable
from retrain_bench.measure.profile import default_profile_path, load_profile
from retrain_bench.measure.prometheus import PrometheusCollector, PrometheusSettings, Scope, Window, unavailable_stats
from retrain_bench.measure.promql import label_matcher, names_pattern
from retrain_bench.measure.stats import ResourceStats
from retrain_bench.options import number
from retrain_bench.platforms import registry
from retrain_bench.platforms.remote import Submitted
from retrain_bench.results.round import RoundResult

if TYPE_CHECKING:  # retrain_bench.cluster imports the kubernetes client: not for the local target
    from retrain_bench.cluster.inventory import Inventory


def scrape_interval_s(raw: Any) -> float | None:
    """``--scrape-interval`` as seconds, None when not given (found from the samples); BenchError when not a number."""
    if raw is None:
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise BenchError(f"--scrape-interval: {raw!r} is not a number of seconds") from None


#: The default of ``--prometheus-timeout``: a Prometheus on the same network answers a range query
#: of one round's window in well under a second; one that has not in 5 s is not going to.
PROMETHEUS_TIMEOUT_S = 5.0


def prometheus_timeout_s(raw: Any) -> float:
    """``--prometheus-timeout`` as seconds (default ``PROMETHEUS_TIMEOUT_S``); BenchError when out of range."""
    return float(number("--prometheus-timeout", PROMETHEUS_TIMEOUT_S if raw is None else raw, float, 0.1, 600.0))


@dataclasses.dataclass
class Breaker:
    """Open after the first request a Prometheus did not answer: the rest of the run skips it."""

    reason: str | None = None

    def skipped(self) -> str:
        return f"not measured: Prometheus was skipped for the rest of the run after a request failed ({self.reason})"

    def trip(self, exc: PrometheusUnavailable, warn: Callable[[str], None]) -> None:
        self.reason = str(exc)
        warn(f"Prometheus resources are missing: {exc}; the rest of the run skips this Prometheus (null figures)")


def _scraped(
    results: Sequence[RoundResult],
    settings: PrometheusSettings,
    sleep: Callable[[float], None],
    progress: Callable[[str], None],
) -> bool:
    """Wait until Prometheus has scraped past the last round's window; False when no round has one."""
    ends = [r.window[1] for r in results if r.window is not None]
    if not ends:
        return False
    settle = max(ends) + settings.settle_s - time.time()
    if settle > 0:
        source = "--scrape-interval" if settings.scrape_interval_s is not None else "the default scrape interval"
        progress(
            f"[retrain-bench] waiting {settle:.1f}s for Prometheus at {settings.redacted_url} to scrape past the last "
            f"round ({source} {settings.settle_s:g}s)"
        )
        sleep(settle)
    return True


def _reading(
    results: Sequence[RoundResult], settings: PrometheusSettings, breaker: Breaker, progress: Callable[[str], None]
) -> None:
    if breaker.reason is None:
        rounds = sum(r.window is not None for r in results)
        first = results[0]
        progress(
            f"[retrain-bench] reading {first.platform}/{first.case} figures of {rounds} rounds from Prometheus at "
            f"{settings.redacted_url} (--prometheus-timeout {settings.timeout_s:g}s per request)"
        )


def _quiet(_: str) -> None:
    pass


@dataclasses.dataclass(frozen=True)
class PrometheusPlan:
    settings: PrometheusSettings
    scope: Scope
    breaker: Breaker = dataclasses.field(default_factory=Breaker, compare=False)

    @classmethod
    def from_options(
        cls,
        *,
        url: str | None,
        namespaces: Sequence[str],
        pod_regex: str | None,
        profile: str | None,
        scrape_interval: Any,
        insecure_skip_verify: bool,
        timeout: Any = None,
    ) -> PrometheusPlan | None:
        """The validated plan, None without --prometheus-url; BenchError naming the bad option."""
        loaded = load_profile(profile)  # a malformed profile fails at start-up, URL or not
        timeout_s = prometheus_timeout_s(timeout)
        if not url:
            if namespaces or pod_regex:
                raise BenchError("--prometheus-namespace/--prometheus-pod-regex need --prometheus-url")
            return None
        if not namespaces:
            raise BenchError("--prometheus-url needs at least one --prometheus-namespace to measure")
        interval = scrape_interval_s(scrape_interval)
        settings = PrometheusSettings(
            url=url,
            scrape_interval_s=interval,
            profile=loaded,
            verify_tls=not insecure_skip_verify,
            timeout_s=timeout_s,
        )
        return cls(settings, Scope(tuple(namespaces), pod_regex=pod_regex, name="platform"))

    def run_level(self) -> dict[str, Any]:
        return {
            **self.settings.run_level(),
            "scope": {"name": self.scope.name, **self.scope.as_dict()},
            "skipped": self.breaker.reason,
        }

    def collect(
        self,
        results: Sequence[RoundResult],
        warn: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] = _quiet,
    ) -> list[RoundResult]:
        """The rounds with ``resources.platform`` added; a failing Prometheus gives nulls with a reason."""
        if self.breaker.reason is None and not _scraped(results, self.settings, sleep, progress):
            return list(results)
        _reading(results, self.settings, self.breaker, progress)
        out = []
        with PrometheusCollector(self.settings) as collector:
            for result in results:
                if result.window is None:
                    out.append(result)
                    continue
                window = Window(*result.window)
                if self.breaker.reason is not None:
                    stats = unavailable_stats(self.scope, window, self.breaker.skipped(), self.settings)
                else:
                    try:
                        stats = collector.collect(window, self.scope)
                    except PrometheusUnavailable as exc:
                        self.breaker.trip(exc, warn)
                        stats = unavailable_stats(self.scope, window, str(exc), self.settings)
                    except PrometheusError as exc:
                        warn(f"Prometheus resources are missing for {result.platform}/{result.case}: {exc}")
                        stats = unavailable_stats(self.scope, window, str(exc), self.settings)
                out.append(dataclasses.replace(result, resources={**result.resources, self.scope.name: stats}))
        return out


# -- the cluster target: execution, platform and node scopes per round ------------------------------

NODE_PROFILE = "node-exporter"
#: the label of node_uname_info that names a node (see profiles/node-exporter.yaml)
NODE_LABEL = "nodename"


@dataclasses.dataclass(frozen=True)
class NodeScope(Scope):
    """The nodes a run's pods ran on, selected by ``nodename`` through node_uname_info.

    Node-exporter series have no pod of ours in them, so an empty answer is missing data, never 0.
    """

    nodes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.nodes or not all(self.nodes):
            raise BenchError("the node scope needs at least one node name")

    @property
    def has_pod_filter(self) -> bool:
        return False

    def namespace_selector(self) -> str:
        return label_matcher(NODE_LABEL, ".+")

    def selector(self) -> str:
        return label_matcher(NODE_LABEL, names_pattern(self.nodes))

    def as_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "label": NODE_LABEL}


def node_scope(nodes: Sequence[str]) -> NodeScope:
    # namespaces carry the node names only for the collector's messages ("no data for ... in the window")
    return NodeScope(tuple(nodes), name="node", nodes=tuple(nodes))


@dataclasses.dataclass(frozen=True)
class ExecutionScope:
    """The execution scope of one round: the Prometheus scope, or why there is none, and what Kubernetes saw."""

    scope: Scope | None
    pods_seen: tuple[str, ...]
    note: str | None = None


def execution_scope(result: RoundResult) -> ExecutionScope:
    """This run's pods as an exact list from the pod watch; when none was seen, the run's pod-name
    pattern on a platform that names its pods after the run (Flyte)."""
    run = result.run
    if not isinstance(run, Submitted):
        return ExecutionScope(None, (), "the platform never accepted the run")
    names = tuple(sorted({p.name for p in result.pods}))
    if names:
        return ExecutionScope(Scope((run.namespace,), pods=names, name="execution"), names)
    side = registry.platform(result.platform).cluster
    if side is not None and side.pods_named_after_run:
        note = f"no pod of the run was seen by Kubernetes; scope is the run's pod name pattern {run.run_id}-.*"
        return ExecutionScope(Scope.for_run([run.namespace], run.run_id), (), note)
    return ExecutionScope(None, (), "no pod of the run was seen by Kubernetes, so its pods cannot be named")


@dataclasses.dataclass(frozen=True)
class ClusterPrometheusPlan:
    """Per cluster round: ``execution`` (the run's pods), ``platform`` (the inventory) and, with
    ``node_settings``, ``node`` (node-exporter on the nodes of the run's pods)."""

    settings: PrometheusSettings
    inventory: Inventory
    node_settings: PrometheusSettings | None = None
    #: one for the server both settings query
    breaker: Breaker = dataclasses.field(default_factory=Breaker, compare=False)

    @classmethod
    def from_options(
        cls,
        *,
        url: str | None,
        profile: str | None,
        scrape_interval: Any,
        insecure_skip_verify: bool,
        inventory: str | None,
        nodes: bool,
        node_profile: str | None = None,
        timeout: Any = None,
    ) -> ClusterPrometheusPlan | None:
        """The validated plan, None without a Prometheus URL; BenchError naming the bad option or file."""
        from retrain_bench.cluster.inventory import load_inventory

        timeout_s = prometheus_timeout_s(timeout)
        loaded = load_profile(profile)
        # a malformed file fails at start-up, URL or not
        platforms = load_inventory(inventory, registry.cluster_names())
        node_loaded = load_profile(node_profile or default_profile_path().with_name(f"{NODE_PROFILE}.yaml"))
        if not url:
            return None
        interval = scrape_interval_s(scrape_interval)
        verify = not insecure_skip_verify
        settings = PrometheusSettings(
            url=url, scrape_interval_s=interval, profile=loaded, verify_tls=verify, timeout_s=timeout_s
        )
        node_settings = dataclasses.replace(settings, profile=node_loaded) if nodes else None
        return cls(settings, platforms, node_settings)

    def run_level(self) -> dict[str, Any]:
        return {
            **self.settings.run_level(),
            "node_profile": (
                {"name": self.node_settings.profile.name, "sha256": self.node_settings.profile.sha256}
                if self.node_settings
                else None
            ),
            "scopes": ["execution", "platform", *(["node"] if self.node_settings else [])],
            "inventory": self.inventory.as_dict(),
            "skipped": self.breaker.reason,
        }

    def collect(
        self,
        results: Sequence[RoundResult],
        warn: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] = _quiet,
    ) -> list[RoundResult]:
        """The rounds with their cluster scopes added; a failing Prometheus gives nulls with a reason."""
        submitted = [r for r in results if r.run is not None]
        if self.breaker.reason is None and not _scraped(submitted, self.settings, sleep, progress):
            return list(results)
        _reading(submitted, self.settings, self.breaker, progress)
        out = []
        with PrometheusCollector(self.settings) as collector:
            nodes = PrometheusCollector(self.node_settings) if self.node_settings else None
            try:
                for result in results:
                    if result.window is None or result.run is None:
                        out.append(result)
                        continue
                    scopes = self._scopes(result, collector, nodes, warn)
                    out.append(dataclasses.replace(result, resources={**result.resources, **scopes}))
            finally:
                if nodes is not None:
                    nodes.close()
        return out

    def _scopes(
        self,
        result: RoundResult,
        collector: PrometheusCollector,
        nodes: PrometheusCollector | None,
        warn: Callable[[str], None],
    ) -> dict[str, ResourceStats]:
        window = Window(*result.window) if result.window else None
        assert window is not None
        where = f"{result.platform}/{result.case} round {result.index}"

        def measure(scope: Scope, settings: PrometheusSettings, using: PrometheusCollector) -> ResourceStats:
            if self.breaker.reason is not None:
                return unavailable_stats(scope, window, self.breaker.skipped(), settings)
            try:
                return using.collect(window, scope)
            except PrometheusUnavailable as exc:
                self.breaker.trip(exc, warn)
                return unavailable_stats(scope, window, str(exc), settings)
            except PrometheusError as exc:
                warn(f"Prometheus resources are missing for {where}: {exc}")
                return unavailable_stats(scope, window, str(exc), settings)

        found: dict[str, ResourceStats] = {}
        run = execution_scope(result)
        if run.scope is None:
            reason = run.note or "no execution scope"
            found["execution"] = unavailable_stats(Scope(("-",)), window, reason, self.settings)
        else:
            stats = measure(run.scope, self.settings, collector)
            found["execution"] = dataclasses.replace(stats, details={**stats.details, **_kubernetes(run, stats)})
        found["platform"] = measure(self.inventory.of(result.platform).scope(), self.settings, collector)
        if nodes is not None and self.node_settings is not None:
            names = sorted({p.node for p in result.pods if p.node})  # pods.nodes_of, without kubernetes
            if not names:
                reason = "no pod of the run was seen on a node"
                found["node"] = unavailable_stats(node_scope(["-"]), window, reason, self.node_settings)
            else:
                stats = measure(node_scope(names), self.node_settings, nodes)
                missing = {k: v.replace("namespace(s)", "node(s)") for k, v in stats.missing.items()}
                found["node"] = dataclasses.replace(stats, missing=missing)
        return found


def _kubernetes(run: ExecutionScope, stats: ResourceStats) -> dict[str, Any]:
    """Pods seen by Kubernetes against pods with samples: short-lived ones (KFP drivers) fall between scrapes."""
    with_samples = set(stats.details.get("pods_seen", []))
    details: dict[str, Any] = {
        "kubernetes": {
            "pods_seen": len(run.pods_seen),
            "pods_with_samples": len(with_samples & set(run.pods_seen)) if run.pods_seen else len(with_samples),
            "pods_without_samples": sorted(set(run.pods_seen) - with_samples),
        }
    }
    if run.note:
        details["scope_note"] = run.note
    return details
