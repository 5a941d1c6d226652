"""``python -m retrain_bench doctor``: a preflight, one pass/fail line per check with what to do.

Every check is a small function returning a ``Check``; a check that cannot run because an earlier
one failed says so and fails too, so the exit code is 0 only when everything was really verified.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from retrain_bench.checks import Check
from retrain_bench.cluster.options import ClusterOptions, parse_cluster_options
from retrain_bench.errors import BenchError, PrometheusError, PrometheusQueryError
from retrain_bench.options import add_cluster_target_options, cluster_sides, parse_cluster_side_options
from retrain_bench.platforms import registry
from retrain_bench.platforms.definition import ClusterSide

if TYPE_CHECKING:  # the kubernetes client and requests: imported where a check runs, not at CLI start
    from retrain_bench.cluster.endpoints import ClusterEndpoints
    from retrain_bench.cluster.kube import Kube
    from retrain_bench.measure.profile import MetricProfile
    from retrain_bench.measure.promapi import PrometheusApi

#: Clock skew between this machine and Prometheus above which phase stamps and windows disagree.
MAX_SKEW_S = 1.0


def prometheus_checks(
    api: PrometheusApi,
    namespaces: Sequence[str],
    now: Callable[[], float] = time.time,
    scrape_interval_s: float | None = None,
    profile: MetricProfile | None = None,
) -> list[Check]:
    """Prometheus answering, the cAdvisor and node-exporter scrape intervals (against a given
    ``--scrape-interval``), the metric profile's queries, cAdvisor series per namespace, node-exporter, skew."""
    where = api.redacted_url
    try:
        build = api.get("/api/v1/status/buildinfo")
    except PrometheusError as exc:
        fix = "check --prometheus-url / --prometheus-service and that Prometheus runs"
        skipped = "skipped: Prometheus does not answer"
        return [
            Check("Prometheus answers", False, str(exc), fix),
            Check("metric profile queries", False, skipped),
            *(Check(f"cAdvisor series in {ns}", False, skipped) for ns in namespaces),
            Check("node-exporter series", False, skipped),
            Check("clock skew to Prometheus", False, skipped),
        ]
    checks = [Check("Prometheus answers", True, f"{where}, version {build.get('version', '?')}")]
    checks.extend(_scrape_intervals(api, scrape_interval_s))
    at = now()
    checks.append(profile_check(api, profile, namespaces, at))
    for ns in namespaces:
        query = f'count(container_cpu_usage_seconds_total{{namespace="{ns}",container!=""}})'
        count = _count(api, query, at)
        checks.append(
            Check(
                f"cAdvisor series in {ns}",
                count > 0,
                f"{count} container CPU series now",
                f"no cAdvisor data for namespace {ns}: is the kubelet's /metrics/cadvisor scraped "
                "(kube-prometheus-stack) and does the namespace run pods?",
            )
        )
    nodes = _count(api, "count(node_cpu_seconds_total)", at)
    checks.append(
        Check(
            "node-exporter series",
            nodes > 0,
            f"{nodes} node CPU series now",
            "install prometheus-node-exporter (kube-prometheus-stack does) for the node scope",
        )
    )
    checks.append(_skew(api, now))
    return checks


def profile_check(api: PrometheusApi, profile: MetricProfile | None, namespaces: Sequence[str], at: float) -> Check:
    """Every query of the profile (None: the default one), as the collector renders it, sent once: one the
    server rejects (bad PromQL, a function it lacks) is a FAIL naming the query, not null figures every round."""
    from retrain_bench.measure.profile import load_profile
    from retrain_bench.measure.prometheus import Scope

    profile = profile or load_profile()
    scope = Scope(tuple(namespaces) or ("retrain-bench-doctor",), name="platform")
    values = {
        "selector": scope.selector(),
        "scrape_job": profile.scrape_job_matchers(),
        "range": "1m",
        "resolution": "30s",
    }
    queries = [*profile.metrics, *([profile.spacing_query] if profile.spacing_query else [])]
    for metric in queries:
        text = metric.render(values)
        try:
            api.samples(text, at)
        except PrometheusQueryError as exc:
            return Check(
                "metric profile queries",
                False,
                f"{profile.name}: the server rejects metric {metric.name}: {text}: {exc}",
                f"fix the query of {metric.name} in {profile.source}",
            )
        except PrometheusError as exc:
            return Check("metric profile queries", False, f"{profile.name}: metric {metric.name}: {exc}")
    names = ", ".join(m.name for m in queries)
    return Check("metric profile queries", True, f"{profile.name}: the server accepts {names}")


def _count(api: PrometheusApi, query: str, at: float) -> int:
    try:
        answer = api.query(query, at)
    except PrometheusError:
        return 0
    return int(sum(point[1] for series in answer.series for point in series.points))


def _scrape_intervals(api: PrometheusApi, given: float | None) -> list[Check]:
    """Per job the profiles read (cAdvisor, node-exporter): the targets' scrapeInterval, and whether a
    given --scrape-interval agrees with it (the collector finds the spacing itself without one)."""
    from retrain_bench.measure.profile import default_profile_path, load_profile
    from retrain_bench.measure.prometheus import job_intervals

    checks = []
    for label, profile in (
        ("cAdvisor", load_profile()),
        ("node-exporter", load_profile(default_profile_path().with_name("node-exporter.yaml"))),
    ):
        job = ", ".join(f"{k}={v}" for k, v in profile.scrape_job.items())
        found = sorted({v for k, v in job_intervals(api, profile.scrape_job).items() if k != "max"})
        if not found:
            detail = f"no active target with {job}: the collector takes the spacing from the samples"
            checks.append(Check(f"{label} scrape interval", True, detail))
            continue
        shown = ", ".join(f"{v:g}s" for v in found)
        agrees = given is None or found == [given]
        checks.append(
            Check(
                f"{label} scrape interval",
                agrees,
                f"{shown} ({job})" + ("" if given is None else f"; --scrape-interval {given:g}s"),
                f"drop --scrape-interval (the spacing is found from the samples) or give {shown}",
            )
        )
    return checks


def _skew(api: PrometheusApi, now: Callable[[], float]) -> Check:
    before = now()
    try:
        # Without a time, Prometheus evaluates at its own now, so time() is the server's clock.
        answer = api.query("vector(time())", None)
    except PrometheusError as exc:
        return Check("clock skew to Prometheus", False, str(exc))
    after = now()
    if not answer.series or not answer.series[0].points:  # a server (or proxy) answering an empty vector
        return Check("clock skew to Prometheus", False, "vector(time()) came back empty: not a working Prometheus")
    server = answer.series[0].points[0][1]
    skew = server - (before + after) / 2
    return Check(
        "clock skew to Prometheus",
        abs(skew) <= MAX_SKEW_S,
        f"{skew:+.3f} s (Prometheus minus this machine)",
        "synchronise the clocks (NTP): phase stamps and query windows assume one clock",
    )


def _sides(platforms: Sequence[str] | None, side_options: Mapping[str, Any]) -> list[tuple[ClusterSide[Any], Any]]:
    """The cluster sides of ``platforms`` (default: every cluster platform), in the registry's order,
    each with its own options."""
    chosen = registry.cluster_names() if platforms is None else platforms
    return [(side, side_options[name]) for name, side in cluster_sides().items() if name in chosen]


def cluster_checks(
    options: ClusterOptions,
    side_options: Mapping[str, Any],
    platforms: Sequence[str] | None = None,
    scrape_interval_s: float | None = None,
    profile: MetricProfile | None = None,
) -> list[Check]:
    """Everything between this machine and a cluster run of ``platforms``, in the order it is needed;
    ``side_options``: each platform's own options, as its cluster side parsed them."""
    from retrain_bench.cluster.endpoints import ClusterEndpoints
    from retrain_bench.cluster.errors import ClusterError
    from retrain_bench.cluster.kube import Kube
    from retrain_bench.cluster.portforward import resolve
    from retrain_bench.measure.promapi import PrometheusApi

    checks: list[Check] = []
    kube: Kube | None = None
    try:
        kube = Kube(options.target())
        version = kube.version()
        checks.append(
            Check("cluster reachable", True, f"context {kube.context} at {kube.server}, Kubernetes {version}")
        )
    except ClusterError as exc:
        checks.append(Check("cluster reachable", False, str(exc)))
        if kube is not None:
            kube.close()
        kube = None
    sides = _sides(platforms, side_options)
    forwarded = [(side.label, service) for side, own in sides if (service := side.forwarded(own)) is not None]
    if not options.prometheus_url:
        forwarded.append(("Prometheus", options.prometheus_service))
    for namespace in dict.fromkeys(service.namespace for _, service in forwarded):
        name = f"RBAC pods/portforward in {namespace}"
        if kube is None:
            checks.append(Check(name, False, "skipped: cluster unreachable"))
            continue
        try:
            verbs = kube.portforward_verbs()
            denied = [verb for verb in verbs if not kube.can_i(verb, "pods", namespace, subresource="portforward")]
        except ClusterError as exc:
            checks.append(Check(name, False, str(exc)))
            continue
        needed = " and ".join(verbs)
        fix = (
            f"grant {' and '.join(denied)} on pods/portforward (Kubernetes {kube.version()} needs {needed}; "
            f"`kubectl auth can-i {denied[0] if denied else verbs[0]} pods/portforward -n {namespace}`)"
        )
        detail = f"allowed ({needed})" if not denied else f"forbidden: {', '.join(denied)}"
        checks.append(Check(name, not denied, detail, fix))
    # Resolving a forwarded service reads it, its EndpointSlices (or Endpoints) and its pod (a named targetPort).
    for namespace in dict.fromkeys(service.namespace for _, service in forwarded):
        checks.append(_rbac(kube, f"RBAC to resolve services in {namespace}", namespace, RESOLVE))
    # Cluster rounds list and watch their run's pods and read the stamps from the pods' logs. Where runs
    # happen there may be no pod at all between runs (a fresh flyte-binary's project namespace is a bare
    # Namespace, charts/flyte-binary/defaults/cluster-resource-templates/namespace.yaml): the namespace
    # must exist, live series are not asked for there.
    run_namespaces = list(dict.fromkeys(ns for side, own in sides for ns in side.run_namespaces(own)))
    for namespace in run_namespaces:
        checks.append(_namespace_exists(kube, namespace, sides))
        checks.append(_rbac(kube, f"RBAC to watch pods and read their logs in {namespace}", namespace, RUN_PODS))
    # The fairness manifest lists the platforms' deployments and the cluster's nodes.
    every_namespace = list(dict.fromkeys(ns for side, own in sides for ns in side.namespaces(own)))
    checks.append(_manifest_rbac(kube, every_namespace))
    for label, service in forwarded:
        name = f"{label} service {service}"
        if kube is None:
            checks.append(Check(name, False, "skipped: cluster unreachable"))
            continue
        try:
            endpoint = resolve(kube, service)
        except ClusterError as exc:
            checks.append(Check(name, False, str(exc)))
            continue
        checks.append(Check(name, True, f"ready pod {endpoint.pod}, port {endpoint.port}"))
    endpoints = ClusterEndpoints(options, kube, unreachable=kube is None)
    try:
        checks.extend(_api_check(side, endpoints, own) for side, own in sides)
        try:
            prometheus_url = endpoints.prometheus()
        except ClusterError as exc:
            checks.append(Check("Prometheus answers", False, str(exc)))
        else:
            with PrometheusApi(prometheus_url, timeout_s=options.connect_timeout_s) as api:
                # The control planes always run pods: their namespaces must have live cAdvisor series.
                control = [ns for side, own in sides for ns in control_namespaces(side, own)]
                checks.extend(
                    prometheus_checks(
                        api, list(dict.fromkeys(control)), scrape_interval_s=scrape_interval_s, profile=profile
                    )
                )
    finally:
        endpoints.close()
    return checks


#: (what it is for, verb, resource, subresource, API group): every call a run makes, by where it makes it
Need = tuple[str, str, str, str, str]
RESOLVE: tuple[Need, ...] = (
    ("get services", "get", "services", "", ""),
    ("list endpointslices", "list", "endpointslices", "", "discovery.k8s.io"),
    ("get pods", "get", "pods", "", ""),
)
#: the v1 Endpoints fallback, read when EndpointSlices are not readable (portforward._ready_pods)
ENDPOINTS: Need = ("get endpoints", "get", "endpoints", "", "")
RUN_PODS: tuple[Need, ...] = (
    ("list pods", "list", "pods", "", ""),
    ("watch pods", "watch", "pods", "", ""),
    ("get pods/log", "get", "pods", "log", ""),
)
RBAC_FILE = "deploy/rbac.yaml"


def _denied(kube: Kube, namespace: str, needs: Sequence[Need]) -> list[str]:
    return [
        what
        for what, verb, resource, sub, group in needs
        if not kube.can_i(verb, resource, namespace, subresource=sub, group=group)
    ]


def _rbac(kube: Kube | None, name: str, namespace: str, needs: Sequence[Need]) -> Check:
    """One SelfSubjectAccessReview per need; a FAIL naming every denied one and the shipped Role."""
    from retrain_bench.cluster.errors import ClusterError

    if kube is None:
        return Check(name, False, "skipped: cluster unreachable")
    try:
        denied = _denied(kube, namespace, needs)
        if needs is RESOLVE and denied == ["list endpointslices"] and not _denied(kube, namespace, [ENDPOINTS]):
            denied = []  # the v1 Endpoints fallback is readable
    except ClusterError as exc:
        return Check(name, False, str(exc))
    fix = f"grant {', '.join(denied)} in {namespace} ({RBAC_FILE} has the minimal Role)"
    return Check(name, not denied, "allowed" if not denied else f"forbidden: {', '.join(denied)}", fix)


def _manifest_rbac(kube: Kube | None, namespaces: Sequence[str]) -> Check:
    """list nodes (cluster-scoped) and list deployments in every platform namespace: the fairness manifest."""
    from retrain_bench.cluster.errors import ClusterError

    name = "RBAC for the fairness manifest (nodes, deployments)"
    if kube is None:
        return Check(name, False, "skipped: cluster unreachable")
    try:
        denied = [] if kube.can_i("list", "nodes", "") else ["list nodes (cluster-scoped)"]
        denied += [
            f"list deployments in {ns}" for ns in namespaces if not kube.can_i("list", "deployments", ns, group="apps")
        ]
    except ClusterError as exc:
        return Check(name, False, str(exc))
    fix = f"grant {', '.join(denied)} ({RBAC_FILE}: the ClusterRole and Role); without them the manifest says missing"
    return Check(name, not denied, "allowed" if not denied else f"forbidden: {', '.join(denied)}", fix)


def _namespace_exists(kube: Kube | None, namespace: str, sides: Sequence[tuple[ClusterSide[Any], Any]]) -> Check:
    from retrain_bench.cluster.errors import ClusterError

    name = f"namespace {namespace} exists"
    if kube is None:
        return Check(name, False, "skipped: cluster unreachable")
    try:
        found = kube.namespace_exists(namespace)
    except ClusterError as exc:
        return Check(name, False, str(exc), f"grant get on namespaces ({RBAC_FILE}: the ClusterRole)")
    owners = [side.label for side, own in sides if namespace in side.run_namespaces(own)]
    fix = (
        f"runs of {' and '.join(owners)} create their pods there: create it (the platform's project or profile), "
        "or give the namespace its runs really use (the platform's namespace options)"
    )
    return Check(name, found, "yes (runs create their pods here; no live pods needed)" if found else "not found", fix)


def control_namespaces(side: ClusterSide[Any], options: Any) -> tuple[str, ...]:
    """Where a platform's control plane runs, so live cAdvisor series are expected: its options say so
    (``control_namespaces()``, Flyte's and KFP's), else every namespace of the side that runs no runs'
    pods (a cluster side from another distribution knows only ``namespaces`` and ``run_namespaces``)."""
    own = getattr(options, "control_namespaces", None)
    if callable(own):
        return tuple(own())
    runs = set(side.run_namespaces(options))
    return tuple(ns for ns in side.namespaces(options) if ns not in runs)


def _api_check(side: ClusterSide[Any], endpoints: ClusterEndpoints, options: Any) -> Check:
    """The platform's API check; reaching its endpoint (a port-forward) may fail first."""
    from retrain_bench.cluster.errors import ClusterError

    try:
        return side.api_check(endpoints, options)
    except ClusterError as exc:
        return Check(f"{side.label} API", False, str(exc))


def add_doctor_command(commands: Any) -> None:
    parser = commands.add_parser("doctor", help="preflight: can we reach and measure everything?")
    parser.add_argument("--target", default="cluster", choices=["cluster"], help="what to check. Default: cluster")
    add_cluster_target_options(parser.add_argument, remote=False)
    parser.add_argument("--prometheus-url", default=None, metavar="URL", help="Prometheus; skips the port-forward")
    parser.add_argument(
        "--platform",
        default=None,
        metavar="LIST",
        help=f"check only these platforms ({', '.join(registry.cluster_names())}). Default: all of them",
    )
    parser.add_argument(
        "--scrape-interval", default=None, metavar="SECONDS", help="the override to check, if you give one"
    )
    parser.add_argument(
        "--metrics-profile", default=None, metavar="FILE", help="the YAML metric profile to check against the server"
    )
    parser.set_defaults(run=_run_doctor)


#: the bounds every sample spacing has (measure/prometheus.py PrometheusSettings, which pytest's option meets)
SCRAPE_INTERVAL_S = (0.001, 86400.0)


def _scrape_interval(raw: Any) -> float | None:
    """``--scrape-interval`` as pytest and ``resources`` take it: seconds, finite, within the bounds."""
    if raw is None:
        return None
    low, high = SCRAPE_INTERVAL_S
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BenchError(f"--scrape-interval: {raw!r} is not a number of seconds") from None
    if not low <= value <= high:  # NaN fails every comparison
        raise BenchError(f"--scrape-interval: {raw!r} must be between {low:g} and {high:g} seconds")
    return value


def _run_doctor(args: Any) -> int:
    options = parse_cluster_options(lambda dest: getattr(args, dest))
    side_options = parse_cluster_side_options(lambda dest: getattr(args, dest))
    on_cluster = registry.cluster_names()
    raw = ",".join(on_cluster) if args.platform is None else str(args.platform)
    platforms = [p.strip() for p in raw.split(",") if p.strip()]
    unknown = [p for p in platforms if p not in on_cluster]
    if unknown or not platforms:
        raise BenchError(
            f"--platform: {', '.join(map(repr, unknown)) or 'nothing'} given; choose from {', '.join(on_cluster)}"
        )
    from retrain_bench.measure.profile import load_profile

    interval = _scrape_interval(args.scrape_interval)
    # Loaded before any check: a profile that does not load is a usage error (exit 2), not a FAIL line.
    profile = load_profile(args.metrics_profile) if args.metrics_profile is not None else None
    checks = cluster_checks(options, side_options, platforms, interval, profile)
    for check in checks:
        print(check.line())
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0
