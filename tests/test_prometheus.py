"""The Prometheus collector against a real Prometheus holding planted data (tests/prometheus.py).

Every expected number is worked out by hand from the planted table. The window is [62, 242]
(T0 offsets), samples every 5 s, rate window 30 s; no scrape interval is given, the collector
finds 5 s in the samples. Queries read [62 − 300, 242 + 300].
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import pytest

from retrain_bench.errors import BenchError, PrometheusQueryError, PrometheusUnavailable
from retrain_bench.measure.profile import default_profile_path, load_profile
from retrain_bench.measure.promapi import UNSHOWN_URL, PrometheusApi, redact_url
from retrain_bench.measure.prometheus import (
    PrometheusCollector,
    PrometheusSettings,
    Scope,
    Window,
    collect_resources,
    unavailable_stats,
)
from retrain_bench.measure.promql import check_regex, duration, escape_for_promql, escape_re2, pod_matcher
from retrain_bench.measure.stats import ResourceStats
from tests.prometheus import GIB, MIB, T0, T1, container, free_port, running_prometheus

WINDOW = Window(T0 + 62, T0 + 242)
RUN_AB = Scope.for_run(["bench"], "ab")

# cpu_seconds of run "ab", per container, the counters read linearly between samples at 62 and 242:
#   ab-n0-0  0.5 × 180                                                   = 90
#   ab-n1-0  born at 100 (first sample after 62): its first value 2, then 80 more to 180   = 82
#   ab-n2-0  15.5 at 62 to 36.25 at 145, the reset: +1.25 at 150, then to 24.25 at 242  = 45 (= 0.25 × 180)
CPU_SECONDS = 90 + 82 + 45
# Working set summed over the containers present at each instant of [62, 242] (180 s):
#   n0 100 + n2 50 MiB all along; n1 200 MiB from its first sample at 100 to half a spacing past
#   its last (180 + 2.5), 300 MiB for the 5 s its spike sample at 150 holds.
MEMORY_PEAK = (100 + 50 + 300) * MIB / GIB
MEMORY_AVG = (150 * 180 + 200 * 82.5 + 100 * 5) * MIB / 180 / GIB
# The largest growth over 30 s: any window inside [100, 180] sees 0.5 + 1.0 + 0.25 cores (n2's
# reset corrected), and no window sees more.
CPU_PEAK = 1750.0
# Samples inside [62, 242]: 36 (65…240) for each always-running series, 17 (100…180) for ab-n1-0;
# memory and CPU each.
SAMPLES = 2 * (36 + 17 + 36)


@pytest.fixture
def settings(prometheus_url: str) -> PrometheusSettings:
    return PrometheusSettings(prometheus_url, rate_window_s=30)


def collect(settings: PrometheusSettings, scope: Scope, window: Window = WINDOW) -> ResourceStats:
    stats = collect_resources(settings, window, scope)
    json.dumps(stats.as_dict(), allow_nan=False)  # strict JSON, as the results file needs
    return stats


@pytest.mark.prometheus
def test_run_figures_match_the_planted_data(settings: PrometheusSettings) -> None:
    stats = collect(settings, RUN_AB)
    assert stats.missing == {}
    assert (stats.scope, stats.source, stats.window_s) == ("execution", "prometheus", 180.0)
    assert stats.cpu_seconds == CPU_SECONDS
    assert stats.cpu_avg_mcpu == pytest.approx(1000 * CPU_SECONDS / 180, rel=1e-12)
    assert stats.cpu_peak_mcpu == pytest.approx(CPU_PEAK, rel=1e-12)
    assert stats.cpu_peak_window_s == 30
    assert stats.memory_peak_gib == MEMORY_PEAK
    assert stats.memory_avg_gib == pytest.approx(MEMORY_AVG, rel=1e-12)
    assert stats.samples == SAMPLES
    details = stats.details
    assert details["pods_seen"] == ["ab-n0-0", "ab-n1-0", "ab-n2-0"]  # not abc-1, xab-n0-0, nor "other"
    assert (details["step_s"], details["rate_window_s"], details["scrape_interval_s"]) == (None, 30, None)
    assert (details["query_start"], details["query_end"], details["chunks"]) == (T0 - 238, T0 + 542, 1)
    assert details["selector"] == 'namespace="bench",pod=~"(?:ab)-.*"'
    assert details["queries"]["cpu_counter"] == (
        'container_cpu_usage_seconds_total{ namespace="bench",pod=~"(?:ab)-.*",'
        ' job="kubelet",metrics_path="/metrics/cadvisor", container!="", container!="POD" }[780s]'
    )
    # the spacing found in the samples (the fixture scrapes no target, so the targets API has none)
    interval = {"interval_s": 5.0, "source": "samples", "targets_scrape_interval_s": None}
    assert details["intervals"] == {"memory": interval, "cpu_counter": interval}
    assert details["series"] == {"memory": 3, "cpu_counter": 3}
    assert details["samples"] == {"memory": SAMPLES // 2, "cpu_counter": SAMPLES // 2}


@pytest.mark.prometheus
def test_pod_level_and_pause_series_are_not_counted(settings: PrometheusSettings) -> None:
    # ab-n0-0 also has container="" (1 GiB, 0.75 core) and container="POD" (64 MiB, 0.125 core).
    stats = collect(settings, Scope(("bench",), pods=("ab-n0-0",)))
    assert (stats.memory_peak_gib, stats.memory_avg_gib) == (100 * MIB / GIB, 100 * MIB / GIB)
    assert stats.cpu_seconds == 90
    assert stats.cpu_peak_mcpu == pytest.approx(500, rel=1e-12)
    assert stats.details["series"]["cpu_counter"] == 1


@pytest.mark.prometheus
@pytest.mark.parametrize(
    ("pod", "cpu_seconds"),
    [("ab-n1-0", 82.0), ("ab-n2-0", 45.0)],
    ids=["born-in-the-window", "counter-reset"],
)
def test_counter_deltas(settings: PrometheusSettings, pod: str, cpu_seconds: float) -> None:
    assert collect(settings, Scope(("bench",), pods=(pod,))).cpu_seconds == cpu_seconds


@pytest.mark.prometheus
def test_same_figures_from_scraped_style_data_with_staleness_markers(settings: PrometheusSettings) -> None:
    # The same pods remote-written from T1, with a staleness marker after ab-n1-0's last sample.
    stats = collect(settings, Scope.for_run(["bench-rw"], "ab"), Window(T1 + 62, T1 + 242))
    backfilled = collect(settings, RUN_AB)
    for figure in ("memory_peak_gib", "memory_avg_gib", "cpu_seconds", "cpu_peak_mcpu", "samples"):
        assert getattr(stats, figure) == getattr(backfilled, figure), figure


@pytest.mark.prometheus
def test_a_finished_pod_does_not_linger_under_the_default_lookback(settings: PrometheusSettings) -> None:
    # ab-n1-0's last sample is at 180 and the backfilled data has no staleness marker. The server
    # runs the default 5m lookback, so a plain sum() still counts its 200 MiB at 222 …
    plain = 'sum(container_memory_working_set_bytes{namespace="bench",pod=~"ab-.*",container="main"})'
    with PrometheusApi(settings.url) as api:
        (series,) = api.query(plain, T0 + 222).series
    assert series.points[0][1] == 350 * MIB
    # … while the collector counts it only up to half a spacing past its last sample (182.5).
    stats = collect(settings, RUN_AB, Window(T0 + 192, T0 + 232))
    assert stats.memory_peak_gib == stats.memory_avg_gib == 150 * MIB / GIB
    assert stats.details["pods_seen"] == ["ab-n0-0", "ab-n2-0"]
    # Its counter ends too: n0 and n2 add 0.75 core over the 40 s.
    assert stats.cpu_seconds == pytest.approx(0.75 * 40, rel=1e-12)
    # A window ending at 181, before n1's 182.5, counts it to the end: over [62, 181] (119 s),
    # n0 + n2 150 MiB throughout, n1 200 MiB from 100 to 181 plus 100 MiB more for its spike's 5 s.
    edge = collect(settings, RUN_AB, Window(T0 + 62, T0 + 181))
    assert edge.memory_avg_gib == pytest.approx((150 * 119 + 200 * 81 + 100 * 5) * MIB / 119 / GIB, rel=1e-12)


def test_long_windows_are_read_in_chunks_with_the_same_figures(settings: PrometheusSettings) -> None:
    chunked = dataclasses.replace(settings, chunk_s=47)
    whole, parts = collect(settings, RUN_AB), collect(chunked, RUN_AB)
    assert parts.details["chunks"] == 17  # 780 s of reading in 47 s pieces
    for figure in ("memory_peak_gib", "memory_avg_gib", "cpu_seconds", "cpu_peak_mcpu", "samples"):
        assert getattr(parts, figure) == pytest.approx(getattr(whole, figure), rel=1e-12), figure


@pytest.mark.prometheus
def test_a_run_pattern_is_anchored(settings: PrometheusSettings) -> None:
    # "ab" is a whole name under PromQL's anchoring: it matches no pod, not abc-1 or xab-n0-0.
    stats = collect(settings, Scope(("bench",), pod_regex="ab"))
    assert (stats.cpu_seconds, stats.memory_peak_gib, stats.samples) == (0.0, 0.0, 0)
    assert stats.details["pods_seen"] == []


@pytest.mark.prometheus
def test_names_with_regex_metacharacters_are_escaped(settings: PrometheusSettings) -> None:
    # Unescaped, "r.n+1-.*" would also take rxnn1-0 (3 cores, 1 GiB).
    run = collect(settings, Scope.for_run(["escapes"], "r.n+1"))
    assert (run.cpu_seconds, run.memory_peak_gib) == (90, 10 * MIB / GIB)
    assert run.details["pods_seen"] == ["r.n+1-0"]
    # A quote, a backslash, a space and parentheses; q"uo\te (1)-00 must not match (anchoring).
    pod = 'q"uo\\te (1)-0'
    exact = collect(settings, Scope(("escapes",), pods=(pod,)))
    assert (exact.cpu_seconds, exact.memory_peak_gib) == (45, 20 * MIB / GIB)
    assert exact.details["pods_seen"] == [pod]
    assert exact.details["pods_not_seen"] == []


@pytest.mark.prometheus
def test_several_namespaces_and_an_exact_pod_list(settings: PrometheusSettings) -> None:
    # "other" also has an ab-n0-0 (8 cores): it is not one of the namespaces, so it stays out.
    stats = collect(settings, Scope(("bench", "escapes"), pods=("ab-n0-0", "r.n+1-0", "gone-0")))
    assert stats.cpu_seconds == 90 + 90
    assert stats.details["pods_seen"] == ["ab-n0-0", "r.n+1-0"]
    assert stats.details["pods_not_seen"] == ["gone-0"]


@pytest.mark.prometheus
def test_no_pod_of_the_run_is_zero_but_no_data_is_null(settings: PrometheusSettings) -> None:
    absent = collect(settings, Scope.for_run(["bench"], "zz"))
    assert absent.missing == {}
    assert absent.samples == 0
    for figure in ("memory_peak_gib", "memory_avg_gib", "cpu_seconds", "cpu_avg_mcpu", "cpu_peak_mcpu"):
        assert getattr(absent, figure) == 0.0, figure
    assert absent.details["empty"]["memory"] == "no pod of the scope in the window: 0"

    unknown = collect(settings, Scope.for_run(["no-such-namespace"], "ab"))
    reason = "Prometheus has no {} data for namespace(s) no-such-namespace in the window"
    assert unknown.missing == {
        "memory_peak_gib": reason.format("memory"),
        "memory_avg_gib": reason.format("memory"),
        "cpu_seconds": reason.format("cpu_counter"),
        "cpu_avg_mcpu": reason.format("cpu_counter"),
        "cpu_peak_mcpu": reason.format("cpu_counter"),
    }
    assert unknown.memory_peak_gib is unknown.cpu_seconds is unknown.cpu_peak_mcpu is None


@pytest.mark.prometheus
def test_a_metric_prometheus_lacks_is_null_the_others_stay(settings: PrometheusSettings, tmp_path: Path) -> None:
    profile = load_profile()
    text = re.sub(r"container_memory_working_set_bytes", "container_memory_rss", _profile_yaml())
    path = _write(tmp_path, text)
    lacking = PrometheusSettings(settings.url, rate_window_s=30, profile=load_profile(path))
    stats = collect(lacking, RUN_AB)
    assert stats.memory_peak_gib is None and stats.memory_avg_gib is None
    assert stats.missing["memory_peak_gib"] == "Prometheus has no memory data for namespace(s) bench in the window"
    assert stats.cpu_seconds == CPU_SECONDS
    assert stats.samples == SAMPLES // 2  # only the CPU samples
    assert lacking.profile.sha256 != profile.sha256


@pytest.mark.prometheus
def test_bad_promql_is_a_query_error_naming_the_metric(settings: PrometheusSettings, tmp_path: Path) -> None:
    text = _profile_yaml().replace("container_cpu_usage_seconds_total{", "container_cpu_usage_seconds_total({", 1)
    broken = PrometheusSettings(settings.url, rate_window_s=30, profile=load_profile(_write(tmp_path, text)))
    with pytest.raises(
        PrometheusQueryError,
        match=r"^metric cpu_counter: Prometheus at http://127\.0\.0\.1:\d+ rejected the query \(bad_data: ",
    ):
        collect(broken, RUN_AB)


@pytest.mark.prometheus
def test_credentials_never_reach_details_or_errors(prometheus_url: str) -> None:
    # Prometheus without auth ignores the Authorization header: the query works.
    with_secret = prometheus_url.replace("http://", "http://alice:s3cr%40t@")
    stats = collect(PrometheusSettings(with_secret, rate_window_s=30), RUN_AB)
    assert stats.cpu_seconds == CPU_SECONDS
    assert stats.details["prometheus"] == prometheus_url.replace("http://", "http://***@")
    dumped = json.dumps(stats.as_dict())
    assert "s3cr" not in dumped and "alice" not in dumped

    closed = f"http://alice:s3cr%40t@127.0.0.1:{free_port()}"
    settings = PrometheusSettings(closed, rate_window_s=30)
    with pytest.raises(PrometheusUnavailable) as caught:
        collect(settings, RUN_AB)
    message = str(caught.value)
    assert message == f"metric memory: cannot reach Prometheus at {redact_url(closed)} (Connection refused)"
    assert "s3cr" not in message and "alice" not in message
    assert "alice" not in repr(settings)
    record = unavailable_stats(RUN_AB, WINDOW, message, settings)
    assert record.missing["cpu_seconds"] == message and "alice" not in json.dumps(record.as_dict())


@pytest.mark.prometheus
def test_tls_and_wrong_paths_are_clear_errors(prometheus_url: str) -> None:
    # TLS is on for https URLs; this server speaks plain HTTP, so the handshake fails.
    tls = prometheus_url.replace("http://", "https://carol:pa55word@")
    with pytest.raises(PrometheusUnavailable) as caught, PrometheusApi(tls) as api:
        api.query("up", T0)
    assert str(caught.value) == (
        f"TLS to Prometheus at {redact_url(tls)} failed (wrong version number); trust its CA or disable verification"
    )
    with pytest.raises(PrometheusUnavailable) as caught, PrometheusApi(prometheus_url + "/grafana") as api:
        api.query("up", T0)
    assert str(caught.value) == (
        f"Prometheus at {prometheus_url}/grafana answered HTTP 404 Not Found on /api/v1/query, "
        "not the Prometheus API; check the URL"
    )


def test_settings_refuse_a_rate_window_too_short_for_the_interval_given() -> None:
    url = "http://127.0.0.1:9090"
    with pytest.raises(BenchError, match=r"^rate window: 8 s is shorter than two scrape intervals \(10 s\)"):
        PrometheusSettings(url, scrape_interval_s=5, rate_window_s=8)
    with pytest.raises(BenchError, match=r"^Prometheus URL 'ftp://\*\*\*@h' must be http\(s\)://"):
        PrometheusSettings("ftp://u:p@h")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
        ("https://user:pass@prom.example:443/prometheus", "https://***@prom.example:443/prometheus"),
        ("https://user:p@ss@prom.example/", "https://***@prom.example/"),
        # A '/', '?' or '#' before the last '@': urlsplit cuts the password there, so nothing is shown.
        ("https://user:p@ss/w0rd@prom.example/", UNSHOWN_URL),
        ("http://u:s3cr#et@h/", UNSHOWN_URL),
        ("http://u:s3cr?et@h/", UNSHOWN_URL),
        ("http://u:s3[cret@h/", UNSHOWN_URL),
        ("https://token@prom.example", "https://***@prom.example"),
        ("http://prom.example/?token=abc#x", "http://prom.example/?***"),
        ("user:pass@prom.example", "***@prom.example"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("literal", "re2", "in_promql"),
    [
        ("ab", "ab", "ab"),
        ("r.n+1", r"r\.n\+1", r"r\\.n\\+1"),
        ("a-b_c", "a-b_c", "a-b_c"),  # '-' needs no escape outside a class
        ('q"uo\\te (1)', r'q"uo\\te \(1\)', r"q\"uo\\\\te \\(1\\)"),
        ("x|y*[z]^$?{}", r"x\|y\*\[z\]\^\$\?\{\}", r"x\\|y\\*\\[z\\]\\^\\$\\?\\{\\}"),
    ],
)
def test_escaping_for_re2_then_for_the_promql_string(literal: str, re2: str, in_promql: str) -> None:
    assert escape_re2(literal) == re2
    assert re.fullmatch(re2, literal)  # RE2 and Python agree on these escapes
    assert escape_for_promql(re2) == in_promql


def test_pod_matcher() -> None:
    assert pod_matcher(["ab-n0-0", "r.n+1-0"]) == r'pod=~"ab-n0-0|r\\.n\\+1-0"'
    assert pod_matcher(["ab"], prefix=True) == 'pod=~"(?:ab)-.*"'
    assert escape_for_promql("tab\there\nnew\x01") == r"tab\there\nnew\x01"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            "ab(",
            "pod regex: 'ab(' is not a valid regular expression (missing ), unterminated subpattern at position 2)",
        ),
        ("(?=ab)", "pod regex: '(?=ab)' uses lookaround or a backreference, which PromQL's RE2 does not support"),
        (r"(a)\1", "pod regex: '(a)\\\\1' uses lookaround or a backreference, which PromQL's RE2 does not support"),
    ],
)
def test_check_regex(pattern: str, message: str) -> None:
    with pytest.raises(BenchError) as caught:
        check_regex(pattern, "pod regex")
    assert str(caught.value) == message


def test_duration() -> None:
    assert [duration(30), duration(1.5), duration(300)] == ["30s", "1500ms", "300s"]


@pytest.mark.prometheus
def test_collector_reuses_one_session_for_many_windows(settings: PrometheusSettings) -> None:
    with PrometheusCollector(settings) as collector:
        first = collector.collect(WINDOW, RUN_AB)
        second = collector.collect(Window(T0 + 192, T0 + 232), RUN_AB)
    assert (first.cpu_seconds, second.cpu_seconds) == (CPU_SECONDS, pytest.approx(0.75 * 40, rel=1e-12))


def _profile_yaml() -> str:
    return default_profile_path().read_text()


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.prometheus
def test_without_two_samples_of_any_series_the_targets_api_interval_is_used(tmp_path: Path) -> None:
    # One sample per container cannot tell a spacing; the server scrapes the kubelet's cAdvisor
    # endpoint every 10 s (a closed port: the target is listed whatever its health).
    job = (
        "  - job_name: kubelet-cadvisor\n    scrape_interval: 10s\n    metrics_path: /metrics/cadvisor\n"
        f'    static_configs: [{{targets: ["127.0.0.1:{free_port()}"], labels: {{job: kubelet}}}}]\n'
    )
    lone = container("lone", "lone-0", "main", times=[100], cpu=lambda t: 1.0, memory=64 * MIB)
    with running_prometheus(tmp_path, lone, scrape_configs=job) as url, PrometheusApi(url) as api:
        deadline = time.monotonic() + 15
        while not api.get("/api/v1/targets?state=active").get("activeTargets") and time.monotonic() < deadline:
            time.sleep(0.2)  # the scrape manager applies targets on a 5 s tick
        stats = collect(PrometheusSettings(url), Scope(("lone",)), Window(T0 + 50, T0 + 150))
    interval = {"interval_s": 10.0, "source": "targets API scrapeInterval", "targets_scrape_interval_s": 10.0}
    assert stats.details["intervals"]["memory"] == interval
    # its one sample at 100 holds half of those 10 s: 64 MiB for 5 s of the 100
    assert stats.memory_avg_gib == pytest.approx(64 * MIB * 5 / 100 / GIB, rel=1e-12)
    assert stats.cpu_seconds == 1.0  # born inside the window: its first value
