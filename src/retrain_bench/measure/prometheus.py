"""Cluster resources of one window in one scope, from Prometheus, as a ``ResourceStats``.

The figures (``docs/metrics.md``, *Resources*) and how they are read from the profile's queries, all run
over ``[start, end + one scrape interval]`` with a step no larger than the scrape interval:

- ``cpu_seconds``: per container series, the counter's last value in the range minus its value
  at ``start`` (0 for a container born inside the window), adding the value after each reset.
- ``cpu_avg_mcpu``: ``1000 × cpu_seconds / (end − start)``.
- ``cpu_peak_mcpu``: the largest summed rate over the rate window at any step of the range.
- ``memory_peak_gib`` / ``memory_avg_gib``: max and time-weighted mean, over the steps inside
  ``[start, end]``, of the per-container working sets summed here. A container's last sample
  counts for the profile's lookback (two scrape intervals by default), not for the server's
  5-minute lookback, so a finished pod does not linger in the sum.

The extra scrape interval lets the samples that report the window's last seconds arrive. Inside
the window, no pod of the scope means 0; no data for the namespaces at all (wrong namespace,
metric not scraped) means None with the reason in ``missing``. Server errors raise a
``PrometheusError`` for the caller to record (``unavailable_stats`` builds that record).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from retrain_bench.errors import BenchError, PrometheusError
from retrain_bench.measure import stats as _stats
from retrain_bench.measure.profile import MetricProfile, load_profile
from retrain_bench.measure.promapi import Answer, PrometheusApi, Series, parse_url, redact_url
from retrain_bench.measure.promql import check_regex, duration, label_equals, label_matcher, names_pattern
from retrain_bench.measure.stats import GIB, ResourceStats

__all__ = [
    "PrometheusCollector",
    "PrometheusSettings",
    "Scope",
    "Window",
    "collect_resources",
    "redact_url",
    "unavailable_stats",
]

SOURCE = "prometheus"
SCOPES = ("execution", "platform", "node")
# Prometheus refuses range queries with more points per series than this.
MAX_POINTS = 11000


@dataclasses.dataclass(frozen=True)
class Window:
    """The measured interval, in unix seconds."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise BenchError(f"the window must end after it starts (start {_iso(self.start)}, end {_iso(self.end)})")

    @property
    def duration_s(self) -> float:
        return float(self.end - self.start)

    @property
    def start_iso(self) -> str:
        return _iso(self.start)


@dataclasses.dataclass(frozen=True)
class Scope:
    """Which pods count: one or more namespaces, optionally narrowed by a pod regex or exact pod list.

    Regexes are RE2 and fully anchored (PromQL): ``ab-.*`` never matches ``xab-1``.
    ``Scope.for_run`` builds the usual execution scope, ``pod=~"<escaped run>-.*"``.
    """

    namespaces: tuple[str, ...]
    pod_regex: str | None = None
    pods: tuple[str, ...] | None = None
    name: str = "execution"

    def __post_init__(self) -> None:
        if isinstance(self.namespaces, str) or not self.namespaces or not all(self.namespaces):
            raise BenchError("the scope needs at least one namespace (non-empty names)")
        if self.pod_regex is not None and self.pods is not None:
            raise BenchError("give either a pod regex or a pod list, not both")
        if self.pod_regex is not None:
            if not self.pod_regex:
                raise BenchError("the pod regex is empty; leave it out to take every pod of the namespaces")
            check_regex(self.pod_regex, "pod regex")
        if self.pods is not None and (isinstance(self.pods, str) or not self.pods or not all(self.pods)):
            raise BenchError("the pod list is empty; leave it out to take every pod of the namespaces")
        if self.name not in SCOPES:
            raise BenchError(f"scope {self.name!r}: choose from {', '.join(SCOPES)}")

    @classmethod
    def for_run(cls, namespaces: Sequence[str], run: str, name: str = "execution") -> Scope:
        """The pods ``<run>-...`` of one run, the run name escaped for RE2."""
        return cls(tuple(namespaces), pod_regex=names_pattern([run], prefix=True), name=name)

    @property
    def has_pod_filter(self) -> bool:
        return self.pod_regex is not None or self.pods is not None

    def namespace_selector(self) -> str:
        if len(self.namespaces) == 1:
            return label_equals("namespace", self.namespaces[0])
        return label_matcher("namespace", names_pattern(self.namespaces))

    def selector(self) -> str:
        """The label matchers, without braces, for the ``{{selector}}`` placeholder."""
        if self.pods is not None:
            return f"{self.namespace_selector()},{label_matcher('pod', names_pattern(self.pods))}"
        if self.pod_regex is not None:
            return f"{self.namespace_selector()},{label_matcher('pod', self.pod_regex)}"
        return self.namespace_selector()

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespaces": list(self.namespaces),
            "pod_regex": self.pod_regex,
            "pods": None if self.pods is None else list(self.pods),
        }


@dataclasses.dataclass(frozen=True)
class PrometheusSettings:
    """Where and how to query. Unset step defaults to the scrape interval, lookback to two, the rate
    window to the profile's. ``url`` may hold credentials: it is kept out of repr."""

    url: str = dataclasses.field(repr=False)
    scrape_interval_s: float = 30.0
    step_s: float | None = None
    rate_window_s: float | None = None
    lookback_s: float | None = None
    profile: MetricProfile = dataclasses.field(default_factory=load_profile, repr=False)
    verify_tls: bool = True
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        parse_url(self.url)
        for option, value in [
            ("scrape interval", self.scrape_interval_s),
            ("step", self.step_s),
            ("rate window", self.rate_window_s),
            ("lookback", self.lookback_s),
            ("timeout", self.timeout_s),
        ]:
            if value is not None and not 0.001 <= value <= 86400:
                raise BenchError(f"{option}: {value!r} seconds must be between 0.001 and 86400")
        if self.step > self.scrape_interval_s:
            raise BenchError(
                f"step: {self.step:g} s is larger than the scrape interval {self.scrape_interval_s:g} s; "
                "samples would be skipped"
            )
        if self.rate_window < 2 * self.scrape_interval_s:
            raise BenchError(
                f"rate window: {self.rate_window:g} s is shorter than two scrape intervals "
                f"({2 * self.scrape_interval_s:g} s); rate() needs two samples in it"
            )

    @property
    def step(self) -> float:
        return self.step_s if self.step_s is not None else self.scrape_interval_s

    @property
    def rate_window(self) -> float:
        return self.rate_window_s if self.rate_window_s is not None else self.profile.rate_window_s

    @property
    def lookback(self) -> float:
        # Two scrape intervals, not one: with a lookback of exactly one interval a scrape that lands
        # a millisecond late leaves a step with no sample, and that step would count 0 bytes.
        return self.lookback_s if self.lookback_s is not None else 2 * self.scrape_interval_s

    def run_level(self) -> dict[str, Any]:
        """How the run queried, for the JSON's run level (the URL without credentials)."""
        return {
            "url": self.redacted_url,
            "scrape_interval_s": self.scrape_interval_s,
            "step_s": self.step,
            "rate_window_s": self.rate_window,
            "profile": {"name": self.profile.name, "sha256": self.profile.sha256},
            "tls_verify": self.verify_tls,
        }

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)


class PrometheusCollector:
    """Collects one ``ResourceStats`` per (window, scope) over one HTTP session."""

    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        self._api = PrometheusApi(settings.url, verify_tls=settings.verify_tls, timeout_s=settings.timeout_s)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> PrometheusCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self, window: Window, scope: Scope) -> ResourceStats:
        """The figures of ``scope`` over ``window``; PrometheusError when the server cannot answer."""
        s = self.settings
        query_end = window.end + s.scrape_interval_s
        points = int((query_end - window.start) / s.step) + 1
        if points > MAX_POINTS:
            raise BenchError(
                f"the window needs {points} points per series at a {s.step:g} s step; "
                f"Prometheus allows {MAX_POINTS}: use a larger step or a shorter window"
            )
        values = {
            "rate_window": duration(s.rate_window),
            "lookback": duration(s.lookback),
            "window": duration(query_end - window.start),
        }
        results: dict[str, Answer | None] = {}
        queries: dict[str, str] = {}
        empty: dict[str, str] = {}
        for metric in s.profile.metrics:
            text = metric.render({**values, "selector": scope.selector()})
            queries[metric.name] = text
            answer = self._run(metric.name, text, window.start, query_end)
            if not answer.series:
                probe = metric.render({**values, "selector": scope.namespace_selector()})
                if scope.has_pod_filter and self._run(metric.name, probe, window.start, query_end).series:
                    empty[metric.name] = "no pod of the scope in the window: 0"
                else:
                    empty[metric.name] = "no data for the namespaces in the window"
                    results[metric.name] = None
                    continue
            results[metric.name] = answer
        return _figures(window, scope, s, query_end, queries, results, empty)

    def _run(self, name: str, query: str, start: float, end: float) -> Answer:
        try:
            if name.endswith("_samples"):
                return self._api.query(query, end)
            return self._api.query_range(query, start, end, self.settings.step)
        except PrometheusError as exc:
            raise type(exc)(f"metric {name}: {exc}") from None


def collect_resources(settings: PrometheusSettings, window: Window, scope: Scope) -> ResourceStats:
    """One-shot ``PrometheusCollector(settings).collect(window, scope)``."""
    with PrometheusCollector(settings) as collector:
        return collector.collect(window, scope)


def unavailable_stats(scope: Scope, window: Window, reason: str, settings: PrometheusSettings) -> ResourceStats:
    """Every figure None for ``reason`` (e.g. ``str(PrometheusError)``): what a round records."""
    return ResourceStats(
        scope=scope.name,
        source=SOURCE,
        window_s=window.duration_s,
        samples=0,
        memory_peak_gib=None,
        memory_avg_gib=None,
        cpu_seconds=None,
        cpu_avg_mcpu=None,
        cpu_peak_mcpu=None,
        cpu_peak_window_s=settings.rate_window,
        details={"prometheus": settings.redacted_url, "scope": scope.as_dict()},
        missing=dict.fromkeys(_stats.FIGURES, reason),
    )


def _figures(
    window: Window,
    scope: Scope,
    s: PrometheusSettings,
    query_end: float,
    queries: Mapping[str, str],
    results: Mapping[str, Answer | None],
    empty: Mapping[str, str],
) -> ResourceStats:
    def reason(metric: str) -> str:
        return f"Prometheus has no {metric} data for namespace(s) {', '.join(scope.namespaces)} in the window"

    missing: dict[str, str] = {}
    memory, counter, rate = results["memory"], results["cpu_counter"], results["cpu_rate"]
    memory_peak = memory_avg = cpu_seconds = cpu_peak = None
    if memory is None:
        missing["memory_peak_gib"] = missing["memory_avg_gib"] = reason("memory")
    else:
        memory_peak, memory_avg = _memory_peak_and_mean(memory, window, query_end, s.step)
    usage = _usage_by_pod(counter, window.start)
    if counter is None:
        missing["cpu_seconds"] = missing["cpu_avg_mcpu"] = reason("cpu_counter")
    else:
        cpu_seconds = sum(usage.values())
    if rate is None:
        missing["cpu_peak_mcpu"] = reason("cpu_rate")
    else:
        cpu_peak = 1000.0 * max(_sum_at(rate.series, _grid(window.start, query_end, s.step)))

    samples = {name: _total(results[name]) for name in ("memory_samples", "cpu_samples")}
    pods_seen = _pods_with_memory(memory, window) | {pod for pod, used in usage.items() if pod and used > 0}
    details: dict[str, Any] = {
        "prometheus": s.redacted_url,
        "profile": s.profile.name,
        "profile_sha256": s.profile.sha256,
        "scope": scope.as_dict(),
        "selector": scope.selector(),
        "query_start": window.start,
        "query_end": query_end,
        "step_s": s.step,
        "scrape_interval_s": s.scrape_interval_s,
        "rate_window_s": s.rate_window,
        "lookback_s": s.lookback,
        "queries": dict(queries),
        "series": {name: len(a.series) if a else 0 for name, a in results.items()},
        "points": {name: sum(len(x.points) for x in a.series) if a else 0 for name, a in results.items()},
        "samples": samples,
        "pods_seen": sorted(pods_seen),
    }
    if empty:
        details["empty"] = dict(empty)
    if scope.pods is not None:
        details["pods_not_seen"] = sorted(set(scope.pods) - pods_seen)
    warnings = sorted({w for a in results.values() if a for w in a.warnings})
    if warnings:
        details["warnings"] = warnings
    return ResourceStats(
        scope=scope.name,
        source=SOURCE,
        window_s=window.duration_s,
        samples=sum(samples.values()),
        memory_peak_gib=memory_peak,
        memory_avg_gib=memory_avg,
        cpu_seconds=cpu_seconds,
        cpu_avg_mcpu=_stats.cpu_avg_mcpu(cpu_seconds, window.duration_s),
        cpu_peak_mcpu=cpu_peak,
        cpu_peak_window_s=s.rate_window,
        details=details,
        missing=missing,
    )


def _memory_peak_and_mean(memory: Answer, window: Window, query_end: float, step: float) -> tuple[float, float]:
    """Max and time-weighted mean, in GiB, of the summed series over the steps inside the window."""
    end_ms, step_ms = _ms(window.end), _ms(step)
    inside = [t for t in _grid(window.start, query_end, step) if t <= end_ms]
    sums = _sum_at(memory.series, inside)
    # Each step's sum holds until the next step (the last one until the window's end).
    weights = [min(t + step_ms, end_ms) - t for t in inside]
    weighted = sum(v * w for v, w in zip(sums, weights, strict=True))
    # Divide by the weights (whole milliseconds, as the grid is), not the float window, or the
    # rounding of its ends shows up as a bias on short windows.
    return max(sums) / GIB, weighted / max(sum(weights), 1) / GIB


def _usage_by_pod(counter: Answer | None, start: float) -> dict[str, float]:
    """CPU seconds per pod label ("" for series without one) from per-container counters."""
    usage: dict[str, float] = {}
    for series in counter.series if counter else ():
        pod = series.labels.get("pod", "")
        usage[pod] = usage.get(pod, 0.0) + _counter_usage(series.points, start)
    return usage


def _grid(start: float, end: float, step: float) -> list[int]:
    """The evaluation times of a range query, in milliseconds, as Prometheus computes them."""
    return list(range(_ms(start), _ms(end) + 1, _ms(step)))


def _sum_at(series: Iterable[Series], times_ms: Sequence[int]) -> list[float]:
    """The sum over series at each of ``times_ms``; a series without a point there adds 0."""
    index = {t: i for i, t in enumerate(times_ms)}
    sums = [0.0] * len(times_ms)
    for one in series:
        for t, v in one.points:
            i = index.get(_ms(t))
            if i is not None:
                sums[i] += v
    return sums


def _counter_usage(points: Sequence[tuple[float, float]], start: float) -> float:
    """What a counter grew by over its points, counting from 0 when it is born after ``start``."""
    if not points:
        return 0.0
    previous = points[0][1] if _ms(points[0][0]) <= _ms(start) else 0.0
    used = 0.0
    for _, value in points:
        # A drop is a reset (a restarted container): everything since counts from 0.
        used += value - previous if value >= previous else value
        previous = value
    return used


def _pods_with_memory(answer: Answer | None, window: Window) -> set[str]:
    if answer is None:
        return set()
    start, end = _ms(window.start), _ms(window.end)
    return {
        s.labels["pod"] for s in answer.series if "pod" in s.labels and any(start <= _ms(t) <= end for t, _ in s.points)
    }


def _total(answer: Answer | None) -> int:
    return round(sum(v for s in answer.series for _, v in s.points)) if answer else 0


def _ms(t: float) -> int:
    # Prometheus evaluates on whole milliseconds; comparing floats of seconds would not match.
    return round(t * 1000)


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")
