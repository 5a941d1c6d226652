"""A metric profile whose PromQL the server rejects is an error where the profile meets a server
(issue 16, item 11): ``doctor`` FAILs naming the query, ``resources`` exits 2 naming it. Against the
real Prometheus of the suite (tests/prometheus.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from retrain_bench.cli.doctor import prometheus_checks
from retrain_bench.cli.main import main
from retrain_bench.measure.profile import default_profile_path, load_profile
from retrain_bench.measure.promapi import PrometheusApi
from tests.prometheus import free_port

pytestmark = pytest.mark.prometheus


def broken_profile(tmp_path: Path) -> Path:
    """The default profile with an unbalanced parenthesis in its CPU query: it loads, the server rejects it."""
    text = default_profile_path().read_text()
    broken = text.replace("container_cpu_usage_seconds_total{", "container_cpu_usage_seconds_total({", 1)
    assert broken != text
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    return path


def test_doctor_fails_on_a_query_the_server_rejects(prometheus_url: str, tmp_path: Path) -> None:
    path = broken_profile(tmp_path)
    with PrometheusApi(prometheus_url) as api:
        good = {c.name: c for c in prometheus_checks(api, ["bench"])}
        bad = {c.name: c for c in prometheus_checks(api, ["bench"], profile=load_profile(path))}
    assert good["metric profile queries"].line() == (
        "PASS  metric profile queries: kube-prometheus-stack: the server accepts memory, cpu_counter"
    )
    line = bad["metric profile queries"].line()
    query = (
        'container_cpu_usage_seconds_total({ namespace="bench", job="kubelet",metrics_path="/metrics/cadvisor", '
        'container!="", container!="POD" }[1m]'
    )
    assert line.startswith(
        f"FAIL  metric profile queries: kube-prometheus-stack: the server rejects metric cpu_counter: {query}: "
        f"Prometheus at {prometheus_url} rejected the query (bad_data: "
    )
    assert line.endswith(f") -> fix the query of cpu_counter in {path}")
    assert "\n" not in line


def test_doctor_exits_1_on_it(prometheus_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the command, with no cluster (a kubeconfig pointing at a closed port; the cluster checks fail
    too): the profile's FAIL line is printed, from the real Prometheus given by --prometheus-url."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{free_port()}\n"
        "users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
        "current-context: x\n"
    )
    args = ["doctor", "--prometheus-url", prometheus_url, "--metrics-profile", str(broken_profile(tmp_path))]
    args += ["--platform", "flyte", "--kubeconfig", str(kubeconfig), "--connect-timeout", "2"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert re.search(
        r"^FAIL  metric profile queries: kube-prometheus-stack: the server rejects metric cpu_counter", out, re.M
    )


def test_resources_exits_2_naming_the_metric_and_the_profile(
    prometheus_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = broken_profile(tmp_path)
    now = time.time()
    args = ["resources", "--prometheus-url", prometheus_url, "--prometheus-namespace", "bench"]
    args += ["--start", str(now - 600), "--end", str(now - 300), "--metrics-profile", str(path)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        f"retrain-bench: error: metric profile {path}: the server rejects metric cpu_counter: "
        f"Prometheus at {prometheus_url} rejected the query (bad_data: "
    )
    assert captured.err.count("\n") == 1
