"""doctor's Prometheus checks against a real Prometheus holding current cAdvisor data."""

from __future__ import annotations

import time
from pathlib import Path

from retrain_bench.cli.doctor import prometheus_checks
from retrain_bench.measure.promapi import PrometheusApi
from tests.prometheus import GIB, Series, container, free_port, remote_write, running_prometheus


def test_checks_on_a_prometheus_with_cadvisor_and_node_data(tmp_path: Path) -> None:
    with running_prometheus(tmp_path) as url:
        now = time.time()
        times = range(0, 120, 5)
        remote_write(
            url, container("flyte", "p-0", "main", times=times, cpu=lambda t: t, memory=GIB, origin=now - 60), 5
        )
        node = Series("node_cpu_seconds_total", {"cpu": "0", "mode": "user"}, tuple((now - 60 + t, t) for t in times))
        remote_write(url, [node], 5)
        with PrometheusApi(url) as api:
            checks = {c.name: c for c in prometheus_checks(api, ["flyte", "kubeflow"])}
    assert checks["Prometheus answers"].ok and "version 2." in checks["Prometheus answers"].detail
    # The fixture scrapes no target: nothing to report, the collector finds the spacing itself.
    assert checks["cAdvisor scrape interval"].ok
    assert checks["cAdvisor scrape interval"].detail == (
        "no active target with job=kubelet, metrics_path=/metrics/cadvisor: "
        "the collector takes the spacing from the samples"
    )
    assert checks["cAdvisor series in flyte"].ok
    assert not checks["cAdvisor series in kubeflow"].ok
    assert "kubeflow" in checks["cAdvisor series in kubeflow"].fix
    assert checks["node-exporter series"].ok
    skew = checks["clock skew to Prometheus"]
    assert skew.ok and abs(float(skew.detail.split()[0])) < 1


# kube-prometheus-stack's jobs as the chart configures them (cAdvisor 10 s on the kubelet's
# /metrics/cadvisor, /metrics/resource beside it, node-exporter at the 30 s default); the targets
# are closed ports: Prometheus lists them, with their interval, whether or not they answer.
JOBS = """\
  - job_name: kubelet-cadvisor
    scrape_interval: 10s
    metrics_path: /metrics/cadvisor
    static_configs: [{{targets: ["127.0.0.1:{a}"], labels: {{job: kubelet}}}}]
  - job_name: kubelet-resource
    scrape_interval: 15s
    metrics_path: /metrics/resource
    static_configs: [{{targets: ["127.0.0.1:{a}"], labels: {{job: kubelet}}}}]
  - job_name: node-exporter
    scrape_interval: 30s
    static_configs: [{{targets: ["127.0.0.1:{b}"]}}]
"""


def test_each_jobs_interval_and_a_disagreeing_override(tmp_path: Path) -> None:
    with running_prometheus(tmp_path, scrape_configs=JOBS.format(a=free_port(), b=free_port())) as url:
        with PrometheusApi(url) as api:
            deadline = time.monotonic() + 15
            # The scrape manager applies its targets on a 5 s tick: wait until they are listed.
            while not api.get("/api/v1/targets?state=active").get("activeTargets") and time.monotonic() < deadline:
                time.sleep(0.2)
            plain = {c.name: c for c in prometheus_checks(api, [])}
            given = {c.name: c for c in prometheus_checks(api, [], scrape_interval_s=30)}
    # /metrics/resource's 15 s is not the cAdvisor job's: metrics_path tells them apart.
    assert plain["cAdvisor scrape interval"].line() == (
        "PASS  cAdvisor scrape interval: 10s (job=kubelet, metrics_path=/metrics/cadvisor)"
    )
    assert (
        plain["node-exporter scrape interval"].line() == "PASS  node-exporter scrape interval: 30s (job=node-exporter)"
    )
    assert given["cAdvisor scrape interval"].line() == (
        "FAIL  cAdvisor scrape interval: 10s (job=kubelet, metrics_path=/metrics/cadvisor); --scrape-interval 30s"
        " -> drop --scrape-interval (the spacing is found from the samples) or give 10s"
    )
    assert given["node-exporter scrape interval"].ok


def test_unreachable_prometheus_fails_every_check_that_needs_it() -> None:
    with PrometheusApi(f"http://127.0.0.1:{free_port()}", timeout_s=2, retries=0) as api:
        checks = prometheus_checks(api, ["flyte"])
    assert [c.ok for c in checks] == [False] * 5
    assert checks[0].line().startswith("FAIL  Prometheus answers: cannot reach Prometheus at http://127.0.0.1:")
    assert all(c.detail == "skipped: Prometheus does not answer" for c in checks[1:])
