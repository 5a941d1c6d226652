"""Cluster resources of one window in one scope, from Prometheus's raw samples, as a ``ResourceStats``.

The profile's queries are range selectors (or, for joins, subqueries) evaluated as instant
queries at the end of each chunk of ``[start − margin, end + margin]``; every figure is computed
from the returned samples in ``samples.py`` (``docs/metrics.md``, *Resources*; docs/resources.md):

- ``memory_peak_gib`` / ``memory_avg_gib``: max and time-weighted mean over ``[start, end]`` of
  the working sets summed over the containers present at each instant. A container is present
  from its first sample to its last plus half its own spacing, whatever the server's lookback
  and whether or not staleness markers were written.
- ``cpu_seconds``: per container, the reset-corrected counter's growth inside the window
  (linear between samples; a container born inside counts its first value).
- ``cpu_avg_mcpu``: ``1000 × cpu_seconds / (end − start)``.
- ``cpu_peak_mcpu``: the largest summed growth over the rate window ending inside the window.

The sample spacing is found per metric from the scope's own samples (the targets API's
``scrapeInterval`` when no series has two samples); ``--scrape-interval`` overrides it, and the
record says which (``details.intervals``). Inside the window, no pod of the scope means 0; no
data for the namespaces at all (wrong namespace, metric not scraped) means None with the reason
in ``missing``. Server errors raise a ``PrometheusError`` for the caller to record
(``unavailable_stats`` builds that record).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from retrain_bench.errors import BenchError, PrometheusError
from retrain_bench.measure import samples as _samples
from retrain_bench.measure import stats as _stats
from retrain_bench.measure.profile import MetricProfile, MetricQuery, load_profile
from retrain_bench.measure.promapi import Answer, PrometheusApi, parse_url, redact_url, tls_description
from retrain_bench.measure.promql import (
    check_regex,
    duration,
    label_equals,
    label_matcher,
    names_pattern,
    parse_duration,
)
from retrain_bench.measure.samples import Track
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
#: Longest stretch one query reads; longer windows are split (a query's samples stay bounded).
CHUNK_S = 3600.0
#: A collection with more queries per metric than this reports its progress (a day of hour-long chunks).
PROGRESS_CHUNKS = 24
#: Read this far before the window (a container's last sample before ``start`` says what it held
#: then, its counter where it stood) and after it (a sample after ``end`` says it was still there).
MARGIN_S = 300.0
#: The interval assumed when neither the samples nor the targets API tell, and waited for before
#: collecting when none was given: kube-prometheus-stack's default scrape interval.
FALLBACK_INTERVAL_S = 30.0
#: A figure beyond this (or negative, or not a number) is no measurement: the loader refuses numbers past
#: 1e100 (cli/main.py), so such a figure is recorded as null with the reason, never written as a number.
LARGEST_FIGURE = 1e100
OUT_OF_BOUNDS = (
    "Prometheus returned {metric} samples outside physical bounds (negative, not finite or beyond 1e100): "
    "not a measurement"
)


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
    """Where and how to query. ``url`` may hold credentials: it is kept out of repr.

    ``scrape_interval_s`` is an explicit override of the sample spacing (None: found from the
    samples); ``step_s`` evaluates the CPU peak on a grid instead of at every sample;
    ``lookback_s`` overrides how long past its last sample a container counts (default: half its
    own spacing); ``rate_window_s`` defaults to the profile's.
    """

    url: str = dataclasses.field(repr=False)
    scrape_interval_s: float | None = None
    step_s: float | None = None
    rate_window_s: float | None = None
    lookback_s: float | None = None
    profile: MetricProfile = dataclasses.field(default_factory=load_profile, repr=False)
    verify_tls: bool = True
    timeout_s: float = 30.0
    chunk_s: float = CHUNK_S

    def __post_init__(self) -> None:
        parse_url(self.url)
        for option, value in [
            ("scrape interval", self.scrape_interval_s),
            ("step", self.step_s),
            ("rate window", self.rate_window_s),
            ("lookback", self.lookback_s),
            ("timeout", self.timeout_s),
            ("chunk", self.chunk_s),
        ]:
            if value is not None and not 0.001 <= value <= 86400:
                raise BenchError(f"{option}: {value!r} seconds must be between 0.001 and 86400")
        if self.scrape_interval_s is not None and self.rate_window < 2 * self.scrape_interval_s:
            raise BenchError(
                f"rate window: {self.rate_window:g} s is shorter than two scrape intervals "
                f"({2 * self.scrape_interval_s:g} s); a window needs two samples of each container"
            )

    @property
    def rate_window(self) -> float:
        return self.rate_window_s if self.rate_window_s is not None else self.profile.rate_window_s

    @property
    def settle_s(self) -> float:
        """How long after a window its last samples may take to arrive."""
        return self.scrape_interval_s if self.scrape_interval_s is not None else FALLBACK_INTERVAL_S

    def run_level(self) -> dict[str, Any]:
        """How the run queried, for the JSON's run level (the URL without credentials)."""
        return {
            "url": self.redacted_url,
            "scrape_interval_s": self.scrape_interval_s,
            "interval": "--scrape-interval" if self.scrape_interval_s is not None else "found from the samples",
            "step_s": self.step_s,
            "rate_window_s": self.rate_window,
            "profile": {"name": self.profile.name, "sha256": self.profile.sha256},
            # what requests really used: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE when verifying, never when not
            **tls_description(self.verify_tls),
        }

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)


@dataclasses.dataclass(frozen=True)
class Interval:
    """The sample spacing a metric's figures used, and how it was found."""

    seconds: float
    source: str
    targets_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"interval_s": self.seconds, "source": self.source, "targets_scrape_interval_s": self.targets_s}


class PrometheusCollector:
    """Collects one ``ResourceStats`` per (window, scope) over one HTTP session."""

    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        self._api = PrometheusApi(settings.url, verify_tls=settings.verify_tls, timeout_s=settings.timeout_s)
        self._targets: tuple[float | None] | None = None

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> PrometheusCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self, window: Window, scope: Scope, progress: Callable[[str], None] | None = None) -> ResourceStats:
        """The figures of ``scope`` over ``window``; PrometheusError when the server cannot answer.
        ``progress`` hears how far a long collection (more than ``PROGRESS_CHUNKS`` queries a metric) is."""
        s = self.settings
        reader = _Reader(self._api, s, window, scope, progress)
        if len(reader.chunks) > 1 and not self._api.has_series(
            "{" + scope.namespace_selector() + "}", reader.start, reader.end
        ):
            # An empty server (or a wrong namespace) answers every chunk with nothing: say so at once
            # rather than after one query per hour of the window.
            reason = f"Prometheus has no series for namespace(s) {', '.join(scope.namespaces)} in the window"
            return unavailable_stats(scope, window, reason, s)
        values: dict[str, str] = {"selector": scope.selector(), "scrape_job": s.profile.scrape_job_matchers()}
        intervals: dict[str, Interval] = {}
        if s.profile.spacing_query is not None:
            spacing = _samples.spacing_of(list(reader.read(s.profile.spacing_query, values).values()))
            intervals["resolution"] = self._interval(spacing, "samples of spacing_query")
            values["resolution"] = duration(intervals["resolution"].seconds)
        tracks: dict[str, dict[tuple[tuple[str, str], ...], Track] | None] = {}
        empty: dict[str, str] = {}
        for metric in s.profile.metrics:
            found = reader.read(metric, values)
            if not found:
                if scope.has_pod_filter and reader.any_data(metric, {**values, "selector": scope.namespace_selector()}):
                    empty[metric.name] = "no pod of the scope in the window: 0"
                else:
                    empty[metric.name] = "no data for the namespaces in the window"
                    tracks[metric.name] = None
                    continue
            tracks[metric.name] = found
            if metric.uses("resolution"):  # stepped at the spacing found: its points cannot tell it
                intervals[metric.name] = intervals["resolution"]
            else:
                intervals[metric.name] = self._interval(_samples.spacing_of(list(found.values())), "samples")
        return _figures(window, scope, s, reader, tracks, intervals, empty)

    def _interval(self, spacing: float | None, found_in: str) -> Interval:
        """The override, else the spacing found, else the targets API's, else the fallback."""
        targets = self._targets_interval()
        if self.settings.scrape_interval_s is not None:
            return Interval(self.settings.scrape_interval_s, "--scrape-interval", targets)
        if spacing is not None:
            return Interval(spacing, found_in, targets)
        if targets is not None:
            return Interval(targets, "targets API scrapeInterval", targets)
        return Interval(FALLBACK_INTERVAL_S, "fallback: no series with two samples, no target", None)

    def _targets_interval(self) -> float | None:
        if self._targets is None:
            self._targets = (job_intervals(self._api, self.settings.profile.scrape_job).get("max"),)
        return self._targets[0]


def job_intervals(api: PrometheusApi, job: Mapping[str, str]) -> dict[str, float]:
    """``scrapeInterval`` of the active targets matching ``job``'s labels, per target URL, plus ``max``.

    Empty when the server lists none (no such job, or a server too old to report intervals).
    A label is matched on the target's labels or, for ``metrics_path`` and the like, on its
    discovered ``__<name>__`` label (Prometheus's /api/v1/targets answer carries both).
    """
    if not job:
        return {}
    try:
        data = api.get("/api/v1/targets?state=active")
    except PrometheusError:
        return {}
    found: dict[str, float] = {}
    for target in data.get("activeTargets") or []:
        labels, discovered = target.get("labels") or {}, target.get("discoveredLabels") or {}
        if all(labels.get(k, discovered.get(f"__{k}__")) == v for k, v in job.items()):
            seconds = parse_duration(str(target.get("scrapeInterval", "")))
            if seconds is not None:
                found[str(target.get("scrapeUrl", len(found)))] = seconds
    if found:
        found["max"] = max(found.values())
    return found


class _Reader:
    """The raw samples of one (window, scope), read chunk by chunk."""

    def __init__(
        self,
        api: PrometheusApi,
        settings: PrometheusSettings,
        window: Window,
        scope: Scope,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.api, self.settings, self.window, self.progress = api, settings, window, progress
        self.start, self.end = window.start - MARGIN_S, window.end + MARGIN_S
        edges = [self.start]
        while edges[-1] + settings.chunk_s < self.end:
            edges.append(edges[-1] + settings.chunk_s)
        self.chunks = list(zip(edges, [*edges[1:], self.end], strict=True))
        self.queries: dict[str, str] = {}
        self.warnings: set[str] = set()
        self.points: dict[str, int] = {}

    def read(self, metric: MetricQuery, values: Mapping[str, str]) -> dict[tuple[tuple[str, str], ...], Track]:
        collected: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        every = max(1, len(self.chunks) // 10)
        for done, (first, last) in enumerate(self.chunks, 1):
            if self.progress is not None and len(self.chunks) > PROGRESS_CHUNKS and done % every == 0:
                self.progress(
                    f"{metric.name}: query {done} of {len(self.chunks)} (one per {self.settings.chunk_s:g} s)"
                )
            text = metric.render({**values, "range": duration(last - first)})
            self.queries.setdefault(metric.name, text)
            answer = self._ask(metric.name, text, last)
            for series in answer.series:
                key = tuple(sorted((k, v) for k, v in series.labels.items() if k != "__name__"))
                collected.setdefault(key, []).extend(p for p in series.points if p[0] > first or first == self.start)
        self.points[metric.name] = sum(len(p) for p in collected.values())
        return {key: Track.of(points) for key, points in collected.items() if points}

    def any_data(self, metric: MetricQuery, values: Mapping[str, str]) -> bool:
        """Whether the metric has any sample in the read range for these matchers (one cheap count)."""
        text = metric.render({**values, "range": duration(self.end - self.start)})
        return bool(self._ask(metric.name, f"count(count_over_time({text}))", self.end, vector=True).series)

    def _ask(self, name: str, query: str, at: float, vector: bool = False) -> Answer:
        try:
            answer = self.api.query(query, at) if vector else self.api.samples(query, at)
        except PrometheusError as exc:
            raise type(exc)(f"metric {name}: {exc}") from None
        self.warnings.update(answer.warnings)
        return answer


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
    reader: _Reader,
    tracks: Mapping[str, Mapping[tuple[tuple[str, str], ...], Track] | None],
    intervals: Mapping[str, Interval],
    empty: Mapping[str, str],
) -> ResourceStats:
    def reason(metric: str) -> str:
        return f"Prometheus has no {metric} data for namespace(s) {', '.join(scope.namespaces)} in the window"

    start, end = window.start, window.end
    missing: dict[str, str] = {}
    memory, counter = tracks["memory"], tracks["cpu_counter"]
    memory_peak = memory_avg = cpu_seconds = cpu_peak = None
    if memory is None:
        missing["memory_peak_gib"] = missing["memory_avg_gib"] = reason("memory")
    elif _unphysical(memory):
        missing["memory_peak_gib"] = missing["memory_avg_gib"] = OUT_OF_BOUNDS.format(metric="memory")
    else:
        try:
            gauges = _samples.gauge_sum(
                list(memory.values()),
                start,
                end,
                intervals["memory"].seconds,
                own_spacing=s.scrape_interval_s is None,
                tail=s.lookback_s,
            )
            memory_peak, memory_avg = gauges.peak / GIB, gauges.mean / GIB
        except (OverflowError, ValueError):  # sums of samples near 1e308 overflow
            missing["memory_peak_gib"] = missing["memory_avg_gib"] = OUT_OF_BOUNDS.format(metric="memory")
    if counter is None:
        missing["cpu_seconds"] = missing["cpu_avg_mcpu"] = missing["cpu_peak_mcpu"] = reason("cpu_counter")
    elif _unphysical(counter):
        missing["cpu_seconds"] = missing["cpu_avg_mcpu"] = missing["cpu_peak_mcpu"] = OUT_OF_BOUNDS.format(
            metric="cpu_counter"
        )
    else:
        try:
            cpu_seconds = _samples.counter_seconds(list(counter.values()), start, end)
            cpu_peak = 1000.0 * _samples.counter_peak_rate(list(counter.values()), start, end, s.rate_window, s.step_s)
        except (OverflowError, ValueError):
            missing["cpu_seconds"] = missing["cpu_avg_mcpu"] = missing["cpu_peak_mcpu"] = OUT_OF_BOUNDS.format(
                metric="cpu_counter"
            )
    figures = {
        "memory_peak_gib": memory_peak,
        "memory_avg_gib": memory_avg,
        "cpu_seconds": cpu_seconds,
        "cpu_peak_mcpu": cpu_peak,
        "cpu_avg_mcpu": _stats.cpu_avg_mcpu(cpu_seconds, window.duration_s) if cpu_seconds is not None else None,
    }
    for name, value in figures.items():
        if value is not None and not 0 <= value <= LARGEST_FIGURE:  # also nan
            metric = "memory" if name.startswith("memory") else "cpu_counter"
            figures[name] = None
            missing[name] = f"{OUT_OF_BOUNDS.format(metric=metric)} ({name} came to {value:.3g})"
    if figures["cpu_seconds"] is None and figures["cpu_avg_mcpu"] is not None:  # the average of a refused sum
        figures["cpu_avg_mcpu"] = None
        missing["cpu_avg_mcpu"] = missing["cpu_seconds"]

    counts = {
        name: sum(t.count_in(start, end) for t in found.values()) if found else 0 for name, found in tracks.items()
    }
    pods_seen = {
        dict(key)["pod"]
        for found in tracks.values()
        for key, track in (found or {}).items()
        if "pod" in dict(key) and track.count_in(start, end)
    }
    details: dict[str, Any] = {
        "prometheus": s.redacted_url,
        "profile": s.profile.name,
        "profile_sha256": s.profile.sha256,
        "scope": scope.as_dict(),
        "selector": scope.selector(),
        "query_start": reader.start,
        "query_end": reader.end,
        "chunks": len(reader.chunks),
        "step_s": s.step_s,
        "scrape_interval_s": s.scrape_interval_s,
        "rate_window_s": s.rate_window,
        "tail": {"fraction_of_spacing": _samples.TAIL_FRACTION, "override_s": s.lookback_s},
        "intervals": {name: interval.as_dict() for name, interval in intervals.items()},
        "queries": dict(reader.queries),
        "series": {name: len(found) if found else 0 for name, found in tracks.items()},
        "points_read": dict(reader.points),
        "samples": counts,
        "pods_seen": sorted(pods_seen),
    }
    if empty:
        details["empty"] = dict(empty)
    if scope.pods is not None:
        details["pods_not_seen"] = sorted(set(scope.pods) - pods_seen)
    if reader.warnings:
        details["warnings"] = sorted(reader.warnings)
    return ResourceStats(
        scope=scope.name,
        source=SOURCE,
        window_s=window.duration_s,
        samples=sum(counts.values()),
        memory_peak_gib=figures["memory_peak_gib"],
        memory_avg_gib=figures["memory_avg_gib"],
        cpu_seconds=figures["cpu_seconds"],
        cpu_avg_mcpu=figures["cpu_avg_mcpu"],
        cpu_peak_mcpu=figures["cpu_peak_mcpu"],
        cpu_peak_window_s=s.rate_window,
        details=details,
        missing=missing,
    )


def _unphysical(tracks: Mapping[tuple[tuple[str, str], ...], Track]) -> bool:
    """Whether any sample is negative or beyond ``LARGEST_FIGURE`` (bytes and CPU-seconds are neither):
    the figures computed from such samples would be numbers, and wrong."""
    return any(bool(((track.values < 0) | (track.values > LARGEST_FIGURE)).any()) for track in tracks.values())


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")
