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
    # The fixture's configuration sets a global scrape interval of 5s.
    assert checks["scrape interval"].detail.startswith("global 5s")
    assert checks["cAdvisor series in flyte"].ok
    assert not checks["cAdvisor series in kubeflow"].ok
    assert "kubeflow" in checks["cAdvisor series in kubeflow"].fix
    assert checks["node-exporter series"].ok
    skew = checks["clock skew to Prometheus"]
    assert skew.ok and abs(float(skew.detail.split()[0])) < 1


def test_unreachable_prometheus_fails_every_check_that_needs_it() -> None:
    with PrometheusApi(f"http://127.0.0.1:{free_port()}", timeout_s=2, retries=0) as api:
        checks = prometheus_checks(api, ["flyte"])
    assert [c.ok for c in checks] == [False] * 4
    assert checks[0].line().startswith("FAIL  Prometheus answers: cannot reach Prometheus at http://127.0.0.1:")
    assert all(c.detail == "skipped: Prometheus does not answer" for c in checks[1:])
