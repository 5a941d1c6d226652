"""The collector on the cases of issue 11, against a real Prometheus, in both ingestion modes.

``backfill``: promtool blocks, no staleness markers (older kube-prometheus-stack installs);
``remote-write``: staleness markers after every finished container, into a server with default
flags (current installs, where the kubelet job sets trackTimestampsStaleness). The data is
``tests.prometheus.cases``; offsets below are from its origin. No ``--scrape-interval``, no
``--step``: the collector finds the spacing itself. Tolerances are the issue's: memory peak 1 %,
memory average 3 %, CPU seconds 5 % of the truth worked out by hand from the planted story (each
container runs from its first sample to half a spacing past its last).
"""

from __future__ import annotations

import json

import pytest

from retrain_bench.measure.prometheus import PrometheusSettings, Scope, Window, collect_resources
from retrain_bench.measure.stats import ResourceStats
from tests.prometheus import CASES, MIB, T0, T1

PEAK, AVG, CPU = 0.01, 0.03, 0.05
MODES = pytest.mark.parametrize(("suffix", "origin"), [("", T0), ("-rw", T1)], ids=["backfill", "remote-write"])


def measure(
    url: str, namespace: str, origin: float, start: float, end: float, pod_regex: str | None = None
) -> ResourceStats:
    o = origin + CASES
    scope = Scope((namespace,), pod_regex=pod_regex)
    stats = collect_resources(PrometheusSettings(url), Window(o + start, o + end), scope)
    json.dumps(stats.as_dict(), allow_nan=False)
    return stats


def gib(mib: float) -> float:
    return mib * MIB / 1024**3


@pytest.mark.prometheus
@MODES
def test_a_chain_of_pods_that_never_overlap_peaks_at_the_largest_one(
    prometheus_url: str, suffix: str, origin: float
) -> None:
    stats = measure(prometheus_url, f"chain{suffix}", origin, -5, 215)
    # Never two at once: the peak is chain-exec-1 alone, 768 MiB (the old last_over_time[60s]
    # sum added its neighbours).
    assert stats.memory_peak_gib == pytest.approx(gib(768), rel=PEAK)
    # Each present from its first sample to 5 s past its last, over 220 s:
    # 128·25 + 768·65 + 512·55 + 256·45 = 92800 MiB·s.
    assert stats.memory_avg_gib == pytest.approx(gib(92800 / 220), rel=AVG)
    # Each counter from 0 at its first sample to rate × lifetime at its last:
    # 0.25·20 + 1·60 + 0.5·50 + 0.5·40 = 110 core-seconds.
    assert stats.cpu_seconds == pytest.approx(110, rel=CPU)
    # The busiest 60 s are chain-exec-1's 30…90 at 1 core, nothing else running: 1000 mCPU.
    assert stats.cpu_peak_mcpu == pytest.approx(1000, rel=CPU)
    memory = stats.details["intervals"]["memory"]
    assert (memory["interval_s"], memory["source"]) == (10, "samples")
    assert stats.details["pods_seen"] == ["chain-driver-0", "chain-exec-1", "chain-exec-2", "chain-exec-3"]


@pytest.mark.prometheus
@MODES
def test_pods_that_start_late_and_end_early_count_only_while_there(
    prometheus_url: str, suffix: str, origin: float
) -> None:
    stats = measure(prometheus_url, f"late{suffix}", origin, 100, 500)
    # late-long-0 256 MiB all 400 s; late-short-1 512 MiB from 200 to 405: 102400 + 104960 MiB·s.
    assert stats.memory_avg_gib == pytest.approx(gib((256 * 400 + 512 * 205) / 400), rel=AVG)
    assert stats.memory_peak_gib == pytest.approx(gib(768), rel=PEAK)
    # 0.5 × 400 + 1 × 200 (late-short-1's counter from 0 at 200 to 200 at 400)
    assert stats.cpu_seconds == pytest.approx(400, rel=CPU)


@pytest.mark.prometheus
@MODES
def test_a_spike_shorter_than_another_series_interval_is_seen(prometheus_url: str, suffix: str, origin: float) -> None:
    stats = measure(prometheus_url, f"spike{suffix}", origin, 100, 500)
    # 1 GiB (every 30 s) + spike-fast-0's 768 MiB held from 320 to 330: 1792 MiB. A 30 s step
    # from 100 falls on 310 and 340 and would see 1280 MiB.
    assert stats.memory_peak_gib == pytest.approx(gib(1792), rel=PEAK)
    # 1024 + 256 MiB all along, + 512 MiB for 10 s of 400
    assert stats.memory_avg_gib == pytest.approx(gib(1280 + 512 * 10 / 400), rel=AVG)
    assert stats.cpu_seconds == pytest.approx(0.75 * 400, rel=CPU)
    # the median of the two series' own spacings, 30 and 5 s: each used its own
    assert stats.details["intervals"]["memory"]["interval_s"] == 17.5


@pytest.mark.prometheus
@MODES
def test_a_container_exported_by_two_jobs_counts_once(prometheus_url: str, suffix: str, origin: float) -> None:
    stats = measure(prometheus_url, f"dup{suffix}", origin, 100, 500)
    # /metrics/resource exports the same names; only job=kubelet, metrics_path=/metrics/cadvisor counts.
    assert (stats.memory_peak_gib, stats.memory_avg_gib) == (gib(512), gib(512))
    assert stats.cpu_seconds == pytest.approx(0.5 * 400, rel=CPU)
    assert stats.details["series"] == {"memory": 1, "cpu_counter": 1}


@pytest.mark.prometheus
@MODES
def test_a_window_with_no_pod_is_zero_but_a_namespace_without_data_is_null(
    prometheus_url: str, suffix: str, origin: float
) -> None:
    # After the chain: its last pod ended at 205, the namespace has data around the window.
    after = measure(prometheus_url, f"chain{suffix}", origin, 230, 400)
    assert (after.memory_peak_gib, after.memory_avg_gib, after.cpu_seconds, after.cpu_peak_mcpu) == (0, 0, 0, 0)
    assert after.missing == {} and after.samples == 0
    # A run with no pod in the data of a namespace that has some: 0, and why.
    other = measure(prometheus_url, f"chain{suffix}", origin, -5, 215, pod_regex="other-run-.*")
    assert other.cpu_seconds == 0 and other.details["empty"]["memory"] == "no pod of the scope in the window: 0"
    # No data at all: null with the reason, never 0.
    nowhere = measure(prometheus_url, f"nowhere{suffix}", origin, -5, 215)
    assert nowhere.memory_peak_gib is None and nowhere.cpu_seconds is None
    assert nowhere.missing["memory_avg_gib"] == (
        f"Prometheus has no memory data for namespace(s) nowhere{suffix} in the window"
    )
