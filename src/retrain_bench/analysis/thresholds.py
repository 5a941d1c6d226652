"""Regression thresholds and noise floors per metric: defaults, a TOML table, options; checked once.

A threshold is relative (percent of the baseline mean), a floor absolute (in the metric's unit): a
change must be beyond both to count. Later sources override earlier ones: the defaults, then
``[tool.retrain-bench.thresholds]`` / ``[tool.retrain-bench.floors]`` of ``./pyproject.toml`` (or
of the file given with ``--config``, which replaces it; a standalone file may also use top-level
``[thresholds]`` / ``[floors]`` tables), then each ``--threshold METRIC=PCT`` / ``--floor
METRIC=VALUE``. A metric is a time key (``total_s``), a resource figure for every scope
(``cpu_avg_mcpu``) or one scope's figure (``resources.platform.cpu_avg_mcpu``); the most specific
setting wins.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from retrain_bench.analysis.metrics import REGISTRY_KEY, SCOPES, TIME_KEYS, Metric, parse_metric
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
#: Absolute, in the metric's unit (docs/comparison.md, "Noise floors", has the measurements behind them):
#: times FLOOR_S (the spread of run means between local runs of one machine; the clock itself reads
#: nanoseconds); memory 16 MiB (allocator and page-cache noise of a Python process tree); CPU two ticks of
#: psutil's 10 ms resolution, as CPU-seconds and as the mCPU it makes over a 1 s window. Dollars follow
#: CPU-seconds and memory, so they get no floor of their own.
FLOOR_S = 0.02
FLOOR_DEFAULTS: Mapping[str, float] = {
    **{key: FLOOR_S for key in TIME_KEYS},
    "memory_avg_gib": 16 / 1024,
    "memory_peak_gib": 16 / 1024,
    "cpu_seconds": 0.02,
    "cpu_avg_mcpu": 20.0,
    "cpu_peak_mcpu": 20.0,
    "usage_usd": 0.0,
    "allocation_usd": 0.0,
}


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Percent and absolute floor per metric name (``total_s``, ``cpu_avg_mcpu``) and per full resource key."""

    percent: Mapping[str, float]
    floors: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(FLOOR_DEFAULTS))

    def for_metric(self, metric: Metric) -> float:
        return self.percent.get(metric.key, self.percent[_default_for(metric.name)])

    def floor_for(self, metric: Metric) -> float:
        return self.floors.get(metric.key, self.floors[_default_for(metric.name)])

    def as_dict(self) -> dict[str, float]:
        return dict(self.percent)


def _default_for(name: str) -> str:
    """Whose default a metric without its own follows: register_s is timed like retrain_tune_s (stamps around
    a pipeline step, docs/metrics.md), so it has that phase's threshold and floor unless one is given for it."""
    return "retrain_tune_s" if name == REGISTRY_KEY else name


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


@dataclasses.dataclass(frozen=True)
class Setting:
    """How one kind of per-metric number is spelled: thresholds in percent, floors in the metric's unit."""

    option: str
    table: str
    what: str
    example: str
    percent: bool


THRESHOLD = Setting("--threshold", "thresholds", "a number of percent", "METRIC=PCT, e.g. total_s=10", True)
FLOOR = Setting("--floor", "floors", "a number in the metric's unit", "METRIC=VALUE, e.g. total_s=0.05", False)


def check_percent(value: Any, where: str, setting: Setting = THRESHOLD) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BenchError(f"{where}: {value!r} is not {setting.what}")
    if not math.isfinite(value) or value < 0:
        at_least = "a percentage of at least 0" if setting.percent else "at least 0"
        raise BenchError(f"{where}: {value!r} must be {at_least}")
    return float(value)


def parse_threshold(spec: str, setting: Setting = THRESHOLD) -> tuple[str, float]:
    """``METRIC=PCT`` (``total_s=12``, ``cpu_avg_mcpu=20%``) → (metric, percent); floors without the ``%``."""
    where = f"{setting.option} {spec!r}"
    name, sep, raw = spec.partition("=")
    if not sep or not name.strip() or not raw.strip():
        raise BenchError(f"{where}: expected {setting.example}; valid metrics: {valid_metrics()}")
    name = check_metric(name.strip(), where)
    text = raw.strip().removesuffix("%") if setting.percent else raw.strip()
    try:
        value = float(text)
    except ValueError:
        raise BenchError(f"{where}: {raw.strip()!r} is not {setting.what}") from None
    return name, check_percent(value, where, setting)


def read_table(path: Path, *, standalone: bool, setting: Setting = THRESHOLD) -> dict[str, float]:
    """The thresholds (or floors) table of a TOML file; {} when it has none."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BenchError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")  # TOML is UTF-8 by definition
    except UnicodeDecodeError as exc:
        raise BenchError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); TOML files are UTF-8"
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{path}: not valid TOML ({exc})") from None
    tool = document.get("tool")
    project = tool.get("retrain-bench") if isinstance(tool, dict) else None
    table = project.get(setting.table) if isinstance(project, dict) else None
    name = f"[tool.retrain-bench.{setting.table}]"
    if standalone and table is not None and setting.table in document:
        # One would silently win over the other: say which file holds both and let the user choose.
        raise BenchError(f"{path}: has both {name} and [{setting.table}]; keep one of them (they would not be merged)")
    if table is None and standalone:
        table, name = document.get(setting.table), f"[{setting.table}]"
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise BenchError(f"{path}: {name} must be a table of {setting.example.split(',')[0].replace('=', ' = ')}")
    where = f"{path}: {name}"
    return {check_metric(k, where): check_percent(v, f"{where} {k}", setting) for k, v in table.items()}


def _layered(
    defaults: Mapping[str, float], specs: Iterable[str], config: str | None, cwd: Path, setting: Setting
) -> dict[str, float]:
    values = dict(defaults)
    if config is not None:
        values.update(read_table(Path(config), standalone=True, setting=setting))
    elif (cwd / "pyproject.toml").is_file():
        values.update(read_table(cwd / "pyproject.toml", standalone=False, setting=setting))
    for spec in specs:
        name, value = parse_threshold(spec, setting)
        values[name] = value
    return values


def resolve(specs: Iterable[str], config: str | None, cwd: Path, floor_specs: Iterable[str] = ()) -> Thresholds:
    return Thresholds(
        _layered(DEFAULTS, specs, config, cwd, THRESHOLD), _layered(FLOOR_DEFAULTS, floor_specs, config, cwd, FLOOR)
    )
