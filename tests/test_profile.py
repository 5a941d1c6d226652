"""Metric profiles: the default loads, and every malformed file fails naming the file and entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_bench.errors import ProfileError
from retrain_bench.measure.profile import METRICS, default_profile_path, load_profile

DEFAULT = default_profile_path().read_text()


def test_the_default_profile_is_kube_prometheus_stack_cadvisor() -> None:
    profile = load_profile()
    assert profile.name == "kube-prometheus-stack"
    assert profile.rate_window_s == 60.0
    assert [m.name for m in profile.metrics] == list(METRICS)
    for metric in profile.metrics:
        # One counting of each container: neither the pod cgroup nor the pause container.
        assert 'container!="", container!="POD"' in metric.query, metric.name
    # /metrics/resource exports the same names: the kubelet's cAdvisor endpoint alone counts.
    assert profile.scrape_job == {"job": "kubelet", "metrics_path": "/metrics/cadvisor"}
    assert profile.metric("cpu_counter").render(
        {"selector": 'namespace="ns"', "range": "3600s", "scrape_job": profile.scrape_job_matchers()}
    ) == (
        'container_cpu_usage_seconds_total{ namespace="ns", job="kubelet",metrics_path="/metrics/cadvisor",'
        ' container!="", container!="POD" }[3600s]'
    )
    assert load_profile() is profile  # parsed once


def test_the_node_profile_joins_in_a_subquery_stepped_at_the_spacing_found() -> None:
    profile = load_profile(default_profile_path().with_name("node-exporter.yaml"))
    assert profile.scrape_job == {"job": "node-exporter"}
    assert profile.spacing_query is not None and "node_uname_info" in profile.spacing_query.query
    assert all(m.query.endswith("[{{range}}:{{resolution}}]") for m in profile.metrics)


def test_the_default_profile_ships_as_package_data() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"measure/profiles/*.yaml"' in pyproject
    assert default_profile_path().is_relative_to(Path(__file__).parents[1] / "src" / "retrain_bench")


def test_a_user_profile_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        DEFAULT.replace("name: kube-prometheus-stack", "name: mine").replace("rate_window_s: 60", "rate_window_s: 120")
    )
    profile = load_profile(path)
    assert (profile.name, profile.rate_window_s, profile.source) == ("mine", 120.0, str(path))
    assert profile.sha256 != load_profile().sha256


def _without_query(text: str, metric: str) -> str:
    lines = text.splitlines()
    start = lines.index(f"  - name: {metric}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("  - name:")), len(lines))
    kept = [line for line in lines[start:end] if not line.startswith("    query:") and not line.startswith("      ")]
    return "\n".join(lines[:start] + kept + lines[end:]) + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_without_query(DEFAULT, "cpu_counter"), "metric #2 (cpu_counter): missing 'query'"),
        (
            DEFAULT.replace("  - name: cpu_counter\n", "  - name: cpu_counter\n    unit: cores\n"),
            "metric #2 (cpu_counter): unknown key 'unit'; expected name, description, query",
        ),
        (
            DEFAULT.replace("[{{range}}]", "[{{rnge}}]"),
            "metric #1 (memory): unknown placeholder {{rnge}}; "
            "known: {{selector}}, {{range}}, {{resolution}}, {{scrape_job}}",
        ),
        (DEFAULT.replace("[{{range}}]", "[5m]"), "metric #1 (memory): query lacks {{range}}"),
        (
            DEFAULT.replace("[{{range}}]", "[{{ the range }}]"),
            "metric #1 (memory): malformed placeholder in query; write them as {{name}}",
        ),
        (
            DEFAULT.replace("  - name: cpu_counter\n", "  - name: cpu_countr\n"),
            "metric #2 (cpu_countr): unknown name; choose from memory, cpu_counter",
        ),
        (
            DEFAULT + "  - name: cpu_rate\n    query: sum(rate(x[{{range}}]))\n",
            "metric #3 (cpu_rate): no longer used (the CPU peak is computed from cpu_counter's samples, "
            "see docs/resources.md); remove it",
        ),
        (
            DEFAULT.replace("  - name: cpu_counter\n", "  - name: memory\n"),
            "metric #2 (memory): duplicate name (also metric #1)",
        ),
        (DEFAULT.replace("  - name: cpu_counter\n", "  - nme: cpu_counter\n"), "metric #2: missing 'name'"),
        (
            DEFAULT.replace("  - name: cpu_counter\n", "  - cpu_counter\n  - name: cpu_counter\n"),
            "metric #2: expected a mapping with 'name' and 'query', got str",
        ),
        (
            DEFAULT.replace("container_cpu_usage_seconds_total{ {{selector}}, ", "container_cpu_usage_seconds_total{ "),
            "metric #2 (cpu_counter): query lacks {{selector}}",
        ),
        (
            DEFAULT.replace("  - name: cpu_counter\n", "  - name: cpu_counter\n    query: x\n"),
            "not a valid YAML metric profile (duplicate key 'query' at line 29)",
        ),
        (
            DEFAULT.replace("rate_window_s: 60", "rate_window_s: 0"),
            "'rate_window_s' must be a number of seconds above 0, got 0",
        ),
        (
            DEFAULT.replace("rate_window_s: 60", "rate_window_s: 1m"),
            "'rate_window_s' must be a number of seconds above 0, got '1m'",
        ),
        (
            DEFAULT.replace("rate_window_s: 60", "rate_window: 60"),
            "unknown key 'rate_window'; expected name, description, rate_window_s, scrape_job, spacing_query, metrics",
        ),
        (
            DEFAULT.replace("  metrics_path: /metrics/cadvisor\n", "  metrics_path: [a]\n"),
            "'scrape_job' must map label names to values, e.g. {job: kubelet}",
        ),
        (
            DEFAULT.replace("scrape_job:\n  job: kubelet\n  metrics_path: /metrics/cadvisor\n", ""),
            "metric memory: uses {{scrape_job}} but the profile has none",
        ),
        (
            DEFAULT.replace("[{{range}}]", "[{{range}}:{{resolution}}]", 1),
            "metric memory: uses {{resolution}}; add a spacing_query (a raw range selector)",
        ),
        (DEFAULT.replace("name: kube-prometheus-stack\n", ""), "missing 'name'"),
        (
            DEFAULT[: DEFAULT.index("  - name: cpu_counter")],
            "no metric named 'cpu_counter'; every profile defines memory, cpu_counter",
        ),
        ("metrics: []\n", "missing 'name'"),
        ("name: x\nrate_window_s: 60\nmetrics: []\n", "'metrics' must be a non-empty list"),
        ("- a\n- b\n", "expected a mapping with 'name', 'rate_window_s' and 'metrics'"),
        (
            "name: [unclosed\n",
            "not a valid YAML metric profile (expected ',' or ']', but got '<stream end>' at line 2)",
        ),
    ],
    ids=[
        "missing-query",
        "unknown-key",
        "unknown-placeholder",
        "lacking-placeholder",
        "malformed-placeholder",
        "unknown-name",
        "retired-name",
        "duplicate-name",
        "missing-name",
        "entry-not-a-mapping",
        "selector-missing",
        "duplicate-yaml-key",
        "zero-rate-window",
        "rate-window-not-a-number",
        "unknown-top-key",
        "bad-scrape-job",
        "scrape-job-missing",
        "resolution-without-spacing-query",
        "missing-profile-name",
        "metric-absent",
        "empty-profile",
        "empty-metrics",
        "not-a-mapping",
        "yaml-syntax",
    ],
)
def test_a_malformed_profile_fails_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert str(caught.value) == f"{path}: {message}"


def test_an_unreadable_profile(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(tmp_path / "absent.yaml")
    assert (
        str(caught.value) == f"{tmp_path / 'absent.yaml'}: cannot read the metric profile (No such file or directory)"
    )
