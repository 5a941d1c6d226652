"""The plugin measuring a platform scope through a real Prometheus over every round's window.

The server is Debian's prometheus on a loopback port; the platform's cAdvisor series are pushed
through its remote-write receiver at the current time, because a round's window is "now".
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import BenchRun, records
from tests.prometheus import GIB, container, free_port, remote_write, running_prometheus

SPACING = 0.1  # seconds between planted samples, also the scrape interval the run is told


def plant_platform(url: str) -> None:
    """Namespace "plat": one container at 1 GiB using a quarter of a core, around now."""
    now = time.time()
    series = container(
        "plat", "flyte-binary-0", "main", times=[i * SPACING for i in range(3000)],
        cpu=lambda t: 0.25 * t, memory=GIB, origin=now - 60,
    )  # fmt: skip
    remote_write(url, series, SPACING)


def test_platform_scope_is_measured_for_every_round(bench_run: BenchRun, tmp_path: Path) -> None:
    with running_prometheus(tmp_path / "prom") as url:
        plant_platform(url)
        secret_url = url.replace("http://", "http://bench:s3cret@")
        result, document = bench_run.run(
            # Flyte, not bare: a bare smoke round (~0.05 s) can end between two 0.1 s samples, and a
            # window with no sample inside rests on none (``samples`` 0) however right its figures are.
            "--platform=flyte", "--case=smoke", "--rounds=2", "--warmup=0",
            f"--prometheus-url={secret_url}", "--prometheus-namespace=plat", f"--scrape-interval={SPACING}",
        )  # fmt: skip
    assert result.ret == 0, result.stdout.str()
    assert document is not None
    assert "s3cret" not in json.dumps(document) and "s3cret" not in result.stdout.str()
    run = document["retrain_bench"]["prometheus"]
    assert run["url"].startswith("http://***@127.0.0.1:")
    assert run["scope"] == {"name": "platform", "namespaces": ["plat"], "pod_regex": None, "pods": None}
    record = records(document)["flyte-smoke"]
    for r in record["rounds"]:
        platform = r["resources"]["platform"]
        assert platform["source"] == "prometheus" and platform["samples"] > 0
        assert platform["memory_peak_gib"] == pytest.approx(1.0)
        assert platform["memory_avg_gib"] == pytest.approx(1.0)
        # A quarter of a core, sampled every 0.1 s over a window of a few tenths of a second.
        assert platform["cpu_seconds"] == pytest.approx(0.25 * platform["window_s"], abs=0.25 * 2 * SPACING)
        assert r["resources"]["process_tree"]["source"] == "psutil"  # the sampler still runs beside it
    assert record["summary"]["resources.platform.memory_peak_gib"]["median"] == pytest.approx(1.0)


def test_unreachable_prometheus_leaves_nulls_with_a_reason_and_one_warning(bench_run: BenchRun) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result, document = bench_run.run(
        "--platform=bare,flyte", "--case=smoke", "--rounds=2", "--warmup=0",
        f"--prometheus-url={url}", "--prometheus-namespace=plat", "--scrape-interval=0.1",
    )  # fmt: skip
    assert result.ret == 0
    assert document is not None
    assert result.stdout.str().count("ResourcesWarning: Prometheus resources are missing") == 1
    for record in records(document).values():
        assert record["success_rate"] == 1.0 and record["summary"]["total_s"]["n"] == 2
        for r in record["rounds"]:
            platform = r["resources"]["platform"]
            assert platform["memory_peak_gib"] is None and platform["cpu_seconds"] is None
            assert "127.0.0.1" in r["missing"]["resources.platform.cpu_seconds"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--prometheus-url=http://127.0.0.1:9"], "--prometheus-url needs at least one --prometheus-namespace*"),
        (["--prometheus-namespace=plat"], "--prometheus-namespace/--prometheus-pod-regex need --prometheus-url"),
        (["--prometheus-url=ftp://x", "--prometheus-namespace=a"], "*ftp*"),
        (["--prometheus-url=http://127.0.0.1:9", "--prometheus-namespace=a", "--prometheus-pod-regex=a("], "*regex*"),
    ],
)
def test_bad_prometheus_options_are_usage_errors(bench_run: BenchRun, options: list[str], message: str) -> None:
    result, document = bench_run.run(*options, timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert document is None


def test_malformed_metrics_profile_fails_at_start_naming_the_entry(bench_run: BenchRun, tmp_path: Path) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text("name: mine\nrate_window_s: 60\nmetrics:\n  - name: memory\n    querry: up\n")
    result, _ = bench_run.run(f"--metrics-profile={profile}", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: *{profile}*metric #1 (memory)*"])
