"""Metric profiles: the PromQL behind every cluster figure, as data (as kube-burner does).

A profile is a YAML file::

    name: kube-prometheus-stack
    rate_window_s: 60
    scrape_job: {job: kubelet, metrics_path: /metrics/cadvisor}
    metrics:
      - name: memory
        query: container_memory_working_set_bytes{ {{selector}}, {{scrape_job}}, container!="" }[{{range}}]

Every metric named in ``METRICS`` must be there exactly once, with a query using the
placeholders below. Each query is evaluated as an instant query at the end of each chunk of the
window and must return raw samples (a range selector, or a subquery for joins); the collector
computes every figure from them (``samples.py``). Loading is strict: unknown or duplicate keys,
unknown names and unknown placeholders fail with a ``ProfileError`` naming the file and the entry
("metric #2 (cpu_counter): missing 'query'").
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from retrain_bench.errors import ProfileError
from retrain_bench.measure.promql import escape_for_promql

DEFAULT_PROFILE = "kube-prometheus-stack"

#: Placeholders a query may use, and what the collector puts there.
PLACEHOLDERS: Mapping[str, str] = {
    "selector": 'label matchers for the scope, e.g. namespace="ns",pod=~"run-.*" (no braces)',
    "range": "the chunk's length as a PromQL duration, e.g. 3600s: the range of the selector",
    "resolution": "the sample spacing found for the profile (a subquery's step), e.g. 30s",
    "scrape_job": 'the profile\'s scrape_job as label matchers, e.g. job="kubelet",metrics_path="/metrics/cadvisor"',
}

#: The metrics every profile defines: what the query must return, and its required placeholders.
METRICS: Mapping[str, tuple[str, frozenset[str]]] = {
    "memory": (
        "raw samples over {{range}}: one series per container (or node), bytes; the collector sums them",
        frozenset({"selector", "range"}),
    ),
    "cpu_counter": (
        "raw samples over {{range}}: one series per container (or node), the cumulative CPU seconds counter",
        frozenset({"selector", "range"}),
    ),
}
#: Metric names of the step-based profiles before raw samples: refused with what replaced them.
RETIRED = {
    "cpu_rate": "the CPU peak is computed from cpu_counter's samples",
    "memory_samples": "sample counts come from the samples themselves",
    "cpu_samples": "sample counts come from the samples themselves",
}

_PROFILE_KEYS = {
    "name": True,
    "description": False,
    "rate_window_s": True,
    "scrape_job": False,
    "spacing_query": False,
    "metrics": True,
}
_METRIC_KEYS = {"name": True, "description": False, "query": True}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclasses.dataclass(frozen=True)
class MetricQuery:
    """One metric of a profile: its name (one of ``METRICS``) and its PromQL template."""

    name: str
    query: str
    description: str = ""

    def uses(self, placeholder: str) -> bool:
        return placeholder in _PLACEHOLDER.findall(self.query)

    def render(self, values: Mapping[str, str]) -> str:
        """The query with every placeholder replaced."""
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.query)


@dataclasses.dataclass(frozen=True)
class MetricProfile:
    """A validated profile. ``source`` is the file it came from; ``sha256`` of its bytes."""

    name: str
    description: str
    rate_window_s: float
    metrics: tuple[MetricQuery, ...]
    source: str
    sha256: str
    #: The labels of the one scrape job the series come from (Prometheus's targets carry them too).
    scrape_job: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: A raw range selector whose spacing gives {{resolution}} (profiles that join in a subquery).
    spacing_query: MetricQuery | None = None

    def metric(self, name: str) -> MetricQuery:
        return next(m for m in self.metrics if m.name == name)

    def scrape_job_matchers(self) -> str:
        return ",".join(f'{k}="{escape_for_promql(v)}"' for k, v in self.scrape_job.items())


def default_profile_path() -> Path:
    return Path(str(resources.files("retrain_bench.measure") / "profiles" / f"{DEFAULT_PROFILE}.yaml"))


def load_profile(path: str | Path | None = None) -> MetricProfile:
    """The profile in ``path``, or the default one; ProfileError naming the file and the entry."""
    if path is None:
        return _default_profile()
    return _load(Path(path))


@functools.cache
def _default_profile() -> MetricProfile:
    return _load(default_profile_path())


def _load(path: Path) -> MetricProfile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the metric profile ({exc.strerror or exc})") from None
    try:
        document = yaml.load(raw, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not a valid YAML metric profile ({_yaml_problem(exc)})") from None
    return _parse(document, str(path), hashlib.sha256(raw).hexdigest())


def _parse(document: Any, source: str, sha256: str) -> MetricProfile:
    if not isinstance(document, dict):
        raise ProfileError(f"{source}: expected a mapping with 'name', 'rate_window_s' and 'metrics'")
    _check_keys(document, _PROFILE_KEYS, source)
    name, description = document["name"], document.get("description", "")
    if not isinstance(name, str) or not name.strip():
        raise ProfileError(f"{source}: 'name' must be a non-empty string")
    if not isinstance(description, str):
        raise ProfileError(f"{source}: 'description' must be a string")
    rate_window = document["rate_window_s"]
    if isinstance(rate_window, bool) or not isinstance(rate_window, int | float) or not 0 < rate_window < 86400:
        raise ProfileError(f"{source}: 'rate_window_s' must be a number of seconds above 0, got {rate_window!r}")
    entries = document["metrics"]
    if not isinstance(entries, list) or not entries:
        raise ProfileError(f"{source}: 'metrics' must be a non-empty list")
    metrics: list[MetricQuery] = []
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        metric = _parse_metric(entry, f"{source}: metric #{index}")
        if metric.name in first_seen:
            raise ProfileError(
                f"{source}: metric #{index} ({metric.name}): duplicate name (also metric #{first_seen[metric.name]})"
            )
        first_seen[metric.name] = index
        metrics.append(metric)
    absent = [n for n in METRICS if n not in first_seen]
    if absent:
        raise ProfileError(
            f"{source}: no metric named {', '.join(map(repr, absent))}; every profile defines {', '.join(METRICS)}"
        )
    scrape_job = document.get("scrape_job", {})
    if not isinstance(scrape_job, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in scrape_job.items()
    ):
        raise ProfileError(f"{source}: 'scrape_job' must map label names to values, e.g. {{job: kubelet}}")
    spacing = document.get("spacing_query")
    spacing_query = None
    if spacing is not None:
        if not isinstance(spacing, str) or not spacing.strip():
            raise ProfileError(f"{source}: 'spacing_query' must be a non-empty string")
        _check_placeholders(spacing, frozenset({"selector", "range"}), f"{source}: spacing_query")
        spacing_query = MetricQuery("spacing_query", spacing.strip())
    for metric in metrics if spacing_query is None else [*metrics, spacing_query]:
        used = set(_PLACEHOLDER.findall(metric.query))
        if "scrape_job" in used and not scrape_job:
            raise ProfileError(f"{source}: metric {metric.name}: uses {{{{scrape_job}}}} but the profile has none")
        if "resolution" in used and spacing_query is None:
            raise ProfileError(
                f"{source}: metric {metric.name}: uses {{{{resolution}}}}; add a spacing_query (a raw range selector)"
            )
    return MetricProfile(
        name.strip(),
        description.strip(),
        float(rate_window),
        tuple(metrics),
        source,
        sha256,
        dict(scrape_job),
        spacing_query,
    )


def _parse_metric(entry: Any, where: str) -> MetricQuery:
    if not isinstance(entry, dict):
        raise ProfileError(f"{where}: expected a mapping with 'name' and 'query', got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{where}: missing 'name'" if name is None else f"{where}: 'name' must be a string")
    where = f"{where} ({name})"
    if name in RETIRED:
        raise ProfileError(f"{where}: no longer used ({RETIRED[name]}, see docs/resources.md); remove it")
    if name not in METRICS:
        raise ProfileError(f"{where}: unknown name; choose from {', '.join(METRICS)}")
    _check_keys(entry, _METRIC_KEYS, where)
    query, description = entry["query"], entry.get("description", "")
    if not isinstance(query, str) or not query.strip():
        raise ProfileError(f"{where}: 'query' must be a non-empty string")
    if not isinstance(description, str):
        raise ProfileError(f"{where}: 'description' must be a string")
    _check_placeholders(query, METRICS[name][1], where)
    return MetricQuery(name, query.strip(), description.strip())


def _check_placeholders(query: str, required: frozenset[str], where: str) -> None:
    used = set(_PLACEHOLDER.findall(query))
    unknown = sorted(used - PLACEHOLDERS.keys())
    if unknown:
        known = ", ".join("{{" + p + "}}" for p in PLACEHOLDERS)
        raise ProfileError(f"{where}: unknown placeholder {{{{{unknown[0]}}}}}; known: {known}")
    leftover = _PLACEHOLDER.sub("", query)
    if "{{" in leftover or "}}" in leftover:
        raise ProfileError(f"{where}: malformed placeholder in query; write them as {{{{name}}}}")
    lacking = sorted(required - used)
    if lacking:
        raise ProfileError(f"{where}: query lacks {', '.join('{{' + p + '}}' for p in lacking)}")


def _check_keys(mapping: dict[Any, Any], keys: Mapping[str, bool], where: str) -> None:
    unknown = [k for k in mapping if k not in keys]
    if unknown:
        raise ProfileError(f"{where}: unknown key {unknown[0]!r}; expected {', '.join(keys)}")
    for key, required in keys.items():
        if required and key not in mapping:
            raise ProfileError(f"{where}: missing {key!r}")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"{exc.problem} at line {exc.problem_mark.line + 1}"
    return str(exc).splitlines()[0]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
