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
    assert "container_memory_working_set_bytes" in profile.metric("memory").query
    assert "container_cpu_usage_seconds_total" in profile.metric("cpu_counter").query
    assert profile.metric("cpu_rate").render(
        {"selector": 'namespace="ns"', "rate_window": "60s", "lookback": "30s", "window": "90s"}
    ) == ('sum(rate(container_cpu_usage_seconds_total{ namespace="ns", container!="", container!="POD" }[60s]))')
    assert load_profile() is profile  # parsed once


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
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("  - name:"))
    kept = [line for line in lines[start:end] if not line.startswith("    query:") and not line.startswith("      ")]
    return "\n".join(lines[:start] + kept + lines[end:]) + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_without_query(DEFAULT, "cpu_rate"), "metric #3 (cpu_rate): missing 'query'"),
        (
            DEFAULT.replace("  - name: cpu_rate\n", "  - name: cpu_rate\n    unit: cores\n"),
            "metric #3 (cpu_rate): unknown key 'unit'; expected name, description, query",
        ),
        (
            DEFAULT.replace("[{{rate_window}}]", "[{{rate_windw}}]"),
            "metric #3 (cpu_rate): unknown placeholder {{rate_windw}}; "
            "known: {{selector}}, {{rate_window}}, {{lookback}}, {{window}}",
        ),
        (DEFAULT.replace("[{{rate_window}}]", "[5m]"), "metric #3 (cpu_rate): query lacks {{rate_window}}"),
        (
            DEFAULT.replace("[{{rate_window}}]", "[{{ rate window }}]"),
            "metric #3 (cpu_rate): malformed placeholder in query; write them as {{name}}",
        ),
        (
            DEFAULT.replace("  - name: cpu_rate\n", "  - name: cpu_rte\n"),
            "metric #3 (cpu_rte): unknown name; choose from memory, cpu_counter, cpu_rate, memory_samples, cpu_samples",
        ),
        (
            DEFAULT.replace("  - name: cpu_rate\n", "  - name: memory\n"),
            "metric #3 (memory): duplicate name (also metric #1)",
        ),
        (DEFAULT.replace("  - name: cpu_rate\n", "  - nme: cpu_rate\n"), "metric #3: missing 'name'"),
        (
            DEFAULT.replace("  - name: cpu_samples\n", "  - cpu_samples\n  - name: cpu_samples\n"),
            "metric #5: expected a mapping with 'name' and 'query', got str",
        ),
        (
            DEFAULT.replace(
                '{{selector}}, container!="", container!="POD" }[{{window}}])\n  - name: cpu_samples',
                'container!="" }[{{window}}])\n  - name: cpu_samples',
            ),
            "metric #4 (memory_samples): query lacks {{selector}}",
        ),
        (
            DEFAULT.replace("  - name: cpu_samples\n", "  - name: cpu_samples\n    query: x\n"),
            "not a valid YAML metric profile (duplicate key 'query' at line 40)",
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
            "unknown key 'rate_window'; expected name, description, rate_window_s, metrics",
        ),
        (DEFAULT.replace("name: kube-prometheus-stack\n", ""), "missing 'name'"),
        (
            DEFAULT[: DEFAULT.index("  - name: cpu_samples")],
            "no metric named 'cpu_samples'; "
            "every profile defines memory, cpu_counter, cpu_rate, memory_samples, cpu_samples",
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
        "duplicate-name",
        "missing-name",
        "entry-not-a-mapping",
        "selector-missing",
        "duplicate-yaml-key",
        "zero-rate-window",
        "rate-window-not-a-number",
        "unknown-top-key",
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
