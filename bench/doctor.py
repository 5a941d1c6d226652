"""``python -m bench doctor``: a preflight, one pass/fail line per check with what to do.

Every check is a small function returning a ``Check``; a check that cannot run because an earlier
one failed says so and fails too, so the exit code is 0 only when everything was really verified.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import yaml

from bench.errors import PrometheusError
from bench.resources.promapi import PrometheusApi

#: Clock skew between this machine and Prometheus above which phase stamps and windows disagree.
MAX_SKEW_S = 1.0


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        status = "PASS" if self.ok else "FAIL"
        text = f"{status}  {self.name}: {self.detail}"
        return f"{text} -> {self.fix}" if self.fix and not self.ok else text


def prometheus_checks(
    api: PrometheusApi, namespaces: Sequence[str], now: Callable[[], float] = time.time
) -> list[Check]:
    """Prometheus answering, its scrape interval, cAdvisor series per namespace, node-exporter, skew."""
    where = api.redacted_url
    try:
        build = api.get("/api/v1/status/buildinfo")
    except PrometheusError as exc:
        fix = "check --prometheus-url / --prometheus-service and that Prometheus runs"
        skipped = "skipped: Prometheus does not answer"
        return [
            Check("Prometheus answers", False, str(exc), fix),
            *(Check(f"cAdvisor series in {ns}", False, skipped) for ns in namespaces),
            Check("node-exporter series", False, skipped),
            Check("clock skew to Prometheus", False, skipped),
        ]
    checks = [Check("Prometheus answers", True, f"{where}, version {build.get('version', '?')}")]
    checks.append(_scrape_interval(api))
    at = now()
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


def _count(api: PrometheusApi, query: str, at: float) -> int:
    try:
        answer = api.query(query, at)
    except PrometheusError:
        return 0
    return int(sum(point[1] for series in answer.series for point in series.points))


def _scrape_interval(api: PrometheusApi) -> Check:
    try:
        config = yaml.safe_load(api.get("/api/v1/status/config").get("yaml", "")) or {}
    except (PrometheusError, yaml.YAMLError) as exc:
        return Check("scrape interval", False, f"cannot read the configuration: {exc}")
    interval = (config.get("global") or {}).get("scrape_interval", "1m (Prometheus's default)")
    jobs = {
        job.get("job_name"): job.get("scrape_interval")
        for job in config.get("scrape_configs") or []
        if "cadvisor" in str(job.get("job_name", "")) or "kubelet" in str(job.get("job_name", ""))
    }
    own = ", ".join(f"{name} {value or interval}" for name, value in jobs.items())
    detail = f"global {interval}" + (f"; {own}" if own else "")
    return Check("scrape interval", True, detail + " (pass it as --scrape-interval)")


def _skew(api: PrometheusApi, now: Callable[[], float]) -> Check:
    before = now()
    try:
        # Without a time, Prometheus evaluates at its own now, so time() is the server's clock.
        answer = api.query("vector(time())", None)
    except PrometheusError as exc:
        return Check("clock skew to Prometheus", False, str(exc))
    after = now()
    server = answer.series[0].points[0][1]
    skew = server - (before + after) / 2
    return Check(
        "clock skew to Prometheus",
        abs(skew) <= MAX_SKEW_S,
        f"{skew:+.3f} s (Prometheus minus this machine)",
        "synchronise the clocks (NTP): phase stamps and query windows assume one clock",
    )
