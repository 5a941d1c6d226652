"""The cluster target: one ``PlatformCluster`` per platform, each with its own endpoints and runner.

Each platform may live on its own cluster (``--flyte-kube-context``/``--kfp-kube-context``), so
everything a platform talks to — the API server, its control plane, the Prometheus that scrapes
it — is resolved per platform. Registration/compilation (``runner.prepare()``) happens on the
platform's first round, outside the timer; the fairness manifest is collected at the end of the
session, when the nodes the rounds ran on are known.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from retrain_bench.cluster.endpoints import ClusterEndpoints
from retrain_bench.cluster.errors import ClusterError
from retrain_bench.cluster.inventory import Inventory, load_inventory
from retrain_bench.cluster.manifest import collect_manifest, fairness_warnings
from retrain_bench.cluster.options import ClusterOptions
from retrain_bench.cluster.remote_options import RemoteOptions
from retrain_bench.errors import BenchError
from retrain_bench.harness.engine import REAL_CLOCK, Clock, Execution, RoundPlan, execution_logs, run_round
from retrain_bench.harness.polled import ExecutionNames
from retrain_bench.harness.remote import RemoteExecution
from retrain_bench.harness.scopes import ClusterPrometheusPlan
from retrain_bench.platforms import registry
from retrain_bench.platforms.remote import RemoteRunner
from retrain_bench.results.round import RoundResult
from retrain_bench.workload.cases import Case


def _runner(platform: str, endpoints: ClusterEndpoints, cluster: ClusterOptions, remote: RemoteOptions) -> RemoteRunner:
    side = registry.platform(platform).cluster
    if side is None:
        raise BenchError(
            f"--platform={platform} runs only on the local target; on a cluster choose from "
            f"{', '.join(registry.cluster_names())}"
        )
    return side.runner(endpoints, cluster, remote.settings_for(platform))


@dataclasses.dataclass(frozen=True)
class PrometheusChoice:
    """How every platform's Prometheus is queried (validated at start-up; the URL per platform)."""

    profile: str | None
    insecure_skip_verify: bool
    nodes: bool
    scrape_interval_s: float | None
    #: --prometheus-timeout, for every request
    timeout_s: float | None = None


@dataclasses.dataclass
class PlatformCluster:
    """One platform's side of a cluster session."""

    name: str
    options: ClusterOptions
    endpoints: ClusterEndpoints
    runner: RemoteRunner
    facts: dict[str, Any]
    prometheus: ClusterPrometheusPlan | None = None
    prometheus_error: str | None = None


class ClusterTarget:
    """Runs rounds on clusters; owns every connection it opens (``close()``)."""

    def __init__(
        self,
        cluster: ClusterOptions,
        remote: RemoteOptions,
        *,
        run_timeout: float,
        progress: Callable[[str], None],
        prometheus: PrometheusChoice,
        log_dir: Path,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.cluster = cluster
        self.remote = remote
        self.run_timeout = run_timeout
        self.progress = progress
        self.prometheus = prometheus
        self.log_dir = log_dir
        # a malformed inventory fails at start-up
        self.inventory: Inventory = load_inventory(
            remote.platform_inventory, registry.cluster_names(), _option_namespaces(remote)
        )
        self.names = ExecutionNames()
        self.clock = clock
        self._platforms: dict[str, PlatformCluster] = {}
        self._nodes: dict[str, set[str]] = {}
        self._last_end: float | None = None

    def options_for(self, platform: str) -> ClusterOptions:
        context = self.remote.kube_context_for(platform)
        return dataclasses.replace(self.cluster, kube_context=context) if context else self.cluster

    def platform(self, name: str) -> PlatformCluster:
        if name not in self._platforms:
            options = self.options_for(name)
            endpoints = ClusterEndpoints(options)
            try:
                runner = _runner(name, endpoints, options, self.remote)
                self.progress(f"[retrain-bench] {name}: registering/compiling once (not timed)")
                facts = dict(runner.prepare())
            except BaseException:
                endpoints.close()
                raise
            self._platforms[name] = PlatformCluster(name, options, endpoints, runner, facts)
        return self._platforms[name]

    def cool_down(self) -> None:
        """Let the previous round's tail leave the rate window before the next round starts."""
        if self._last_end is None or self.remote.cooldown_s <= 0:
            return
        remaining = self.remote.cooldown_s - (self.clock.now() - self._last_end)
        if remaining > 0:
            self.progress(f"[retrain-bench] cooling down {remaining:.0f}s (--cooldown)")
            time.sleep(remaining)

    def run_round(self, platform: str, case: Case, index: int, *, warmup: bool, concurrency: int = 1) -> RoundResult:
        """One round: one run, or ``concurrency`` runs submitted at once (one round, its makespan)."""
        side = self.platform(platform)
        self.cool_down()
        names = [self.names.next() for _ in range(concurrency)]
        kube = side.endpoints.kube()
        log = self.log_dir / f"{platform}-{case.key}-{index}-{names[0]}.log"
        logs = execution_logs(log, concurrency)
        plan = RoundPlan(platform, case, index, warmup, "cluster", logs, self.run_timeout, self.clock)

        def make(k: int, log: Path) -> Execution:
            return RemoteExecution(
                side.runner,
                case,
                name=names[k],
                kube=kube,
                cleanup=self.remote.cleanup,
                log=log,
                poll_interval=self.remote.poll_interval_s,
                clock=self.clock,
                run_timeout=self.run_timeout,
            )

        try:
            result = run_round(plan, make)
        finally:
            self._last_end = self.clock.now()
        self._nodes.setdefault(platform, set()).update(p.node for p in result.pods if p.node)
        return result

    def _prometheus_for(self, side: PlatformCluster) -> ClusterPrometheusPlan | None:
        if side.prometheus is None and side.prometheus_error is None:
            try:
                side.prometheus = ClusterPrometheusPlan.from_options(
                    url=side.endpoints.prometheus(),
                    profile=self.prometheus.profile,
                    scrape_interval=self.prometheus.scrape_interval_s,
                    insecure_skip_verify=self.prometheus.insecure_skip_verify,
                    inventory=self.remote.platform_inventory,
                    nodes=self.prometheus.nodes,
                    timeout=self.prometheus.timeout_s,
                )
            except ClusterError as exc:
                side.prometheus_error = str(exc)
            if side.prometheus is not None:  # the inventory as the options place the platforms (issue 24, 3)
                side.prometheus = dataclasses.replace(side.prometheus, inventory=self.inventory)
        return side.prometheus

    def collect(self, platform: str, results: Sequence[RoundResult], warn: Callable[[str], None]) -> list[RoundResult]:
        """The rounds with their Prometheus scopes (execution, platform, node) added."""
        side = self._platforms.get(platform)
        if side is None:
            return list(results)
        plan = self._prometheus_for(side)
        if plan is None:
            warn(f"Prometheus for {platform} is unreachable, cluster resources are missing: {side.prometheus_error}")
            missing = f"not measured: Prometheus unreachable ({side.prometheus_error})"
            return [dataclasses.replace(r, missing={**r.missing, "resources": missing}) for r in results]
        return plan.collect(results, warn, progress=self.progress)

    def manifests(self) -> dict[str, dict[str, Any]]:
        found = {}
        for name, side in self._platforms.items():
            try:
                kube = side.endpoints.kube()
            except ClusterError as exc:
                found[name] = {"platform": name, "missing": {"manifest": str(exc)}, "runner": side.facts}
                continue
            settings, cluster_side = self.remote.settings_for(name), registry.platform(name).cluster
            assert cluster_side is not None  # self.platform() made its runner
            found[name] = collect_manifest(
                kube,
                name,
                settings=settings,
                namespaces=self.inventory.of(name).namespaces,
                control_plane=cluster_side.control_plane(side.endpoints, settings.options),
                sdks=registry.sdk_distributions(registry.cluster_names()),
                node_names=sorted(self._nodes.get(name, ())) or None,
                runner_facts=side.facts,
            )
        return found

    def run_level(self) -> dict[str, Any]:
        manifests = self.manifests()
        warnings = fairness_warnings(list(manifests.values()))
        for line in warnings:
            self.progress(f"[retrain-bench] fairness warning: {line}")
        return {
            "options": self.remote.as_json(),
            "manifests": manifests,
            "fairness_warnings": warnings,
            "inventory": self.inventory.as_dict(),
            "prometheus": {
                name: side.prometheus.run_level() if side.prometheus else {"error": side.prometheus_error}
                for name, side in self._platforms.items()
            },
        }

    def close(self) -> None:
        for side in self._platforms.values():
            with contextlib.suppress(ClusterError, OSError):
                side.endpoints.close()
        self._platforms.clear()


def _option_namespaces(remote: RemoteOptions) -> dict[str, tuple[str, ...]]:
    """Each cluster platform's namespaces as its own options say (its ClusterSide.namespaces)."""
    found = {}
    for name in remote.images:
        side = registry.platform(name).cluster
        options = remote.settings_for(name).options
        if side is not None and options is not None:
            found[name] = side.namespaces(options)
    return found
