"""Regression thresholds per metric: defaults, a TOML table, ``--threshold METRIC=PCT``; checked once.

Later sources override earlier ones: the defaults, then ``[tool.retrain-bench.thresholds]`` of
``./pyproject.toml`` (or of the file given with ``--config``, which replaces it; a standalone file
may also use a top-level ``[thresholds]`` table), then each ``--threshold``. A metric is a time
key (``total_s``), a resource figure for every scope (``cpu_avg_mcpu``) or one scope's figure
(``resources.platform.cpu_avg_mcpu``); the most specific setting wins.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from retrain_bench.analysis.metrics import SCOPES, TIME_KEYS, Metric, parse_metric
from retrain_bench.errors import BenchError
from retrain_bench.measure.stats import FIGURES

#: Percent (``docs/metrics.md``): times 10 %, averages and CPU-seconds 15 %, peaks 25 % (peaks are the
#: noisiest figure: one sample decides them).
DEFAULTS: Mapping[str, float] = {
    **{key: 10.0 for key in TIME_KEYS},
    "memory_avg_gib": 15.0,
    "cpu_avg_mcpu": 15.0,
    "cpu_seconds": 15.0,
    "memory_peak_gib": 25.0,
    "cpu_peak_mcpu": 25.0,
    # Dollars per run follow CPU-seconds and average memory: their threshold.
    "usage_usd": 15.0,
    "allocation_usd": 15.0,
}
TABLE = "[tool.retrain-bench.thresholds]"


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Percent per metric name (``total_s``, ``cpu_avg_mcpu``) and per full resource key."""

    percent: Mapping[str, float]

    def for_metric(self, metric: Metric) -> float:
        return self.percent.get(metric.key, self.percent[metric.name])

    def as_dict(self) -> dict[str, float]:
        return dict(self.percent)


def valid_metrics() -> str:
    return (
        f"{', '.join((*TIME_KEYS, *FIGURES))} "
        f"(or resources.<scope>.<figure> for one scope, scope one of {', '.join(SCOPES)})"
    )


def check_metric(name: str, where: str) -> str:
    if name == "success_rate":
        raise BenchError(f"{where}: success_rate has no threshold (any drop fails); use --min-success-rate")
    if name in DEFAULTS or (parse_metric(name) is not None and name not in TIME_KEYS):
        return name
    raise BenchError(f"{where}: unknown metric {name!r}; valid metrics: {valid_metrics()}")


def check_percent(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BenchError(f"{where}: {value!r} is not a number of percent")
    if not math.isfinite(value) or value < 0:
        raise BenchError(f"{where}: {value!r} must be a percentage of at least 0")
    return float(value)


def parse_threshold(spec: str) -> tuple[str, float]:
    """``METRIC=PCT`` (``total_s=12``, ``cpu_avg_mcpu=20%``) → (metric, percent)."""
    where = f"--threshold {spec!r}"
    name, sep, raw = spec.partition("=")
    if not sep or not name.strip() or not raw.strip():
        raise BenchError(f"{where}: expected METRIC=PCT, e.g. total_s=10; valid metrics: {valid_metrics()}")
    name = check_metric(name.strip(), where)
    text = raw.strip().removesuffix("%")
    try:
        value = float(text)
    except ValueError:
        raise BenchError(f"{where}: {raw.strip()!r} is not a number of percent") from None
    return name, check_percent(value, where)


def read_table(path: Path, *, standalone: bool) -> dict[str, float]:
    """The thresholds table of a TOML file; {} when it has none."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BenchError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{path}: not valid TOML ({exc})") from None
    table = document.get("tool", {}).get("retrain-bench", {}).get("thresholds")
    name = TABLE
    if table is None and standalone:
        table, name = document.get("thresholds"), "[thresholds]"
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise BenchError(f"{path}: {name} must be a table of METRIC = PCT")
    where = f"{path}: {name}"
    return {check_metric(k, where): check_percent(v, f"{where} {k}") for k, v in table.items()}


def resolve(specs: Iterable[str], config: str | None, cwd: Path) -> Thresholds:
    percent = dict(DEFAULTS)
    if config is not None:
        percent.update(read_table(Path(config), standalone=True))
    elif (cwd / "pyproject.toml").is_file():
        percent.update(read_table(cwd / "pyproject.toml", standalone=False))
    for spec in specs:
        name, value = parse_threshold(spec)
        percent[name] = value
    return Thresholds(percent)
