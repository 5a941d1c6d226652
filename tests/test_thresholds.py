"""Thresholds: defaults from docs/metrics.md, TOML tables, --threshold; every bad input is one BenchError line."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain_bench.analysis.metrics import parse_metric
from retrain_bench.analysis.thresholds import DEFAULTS, parse_threshold, resolve
from retrain_bench.errors import BenchError

VALID = (
    "valid metrics: total_s, retrain_tune_s, queue_s, startup_s, memory_peak_gib, memory_avg_gib, "
    "cpu_seconds, cpu_avg_mcpu, cpu_peak_mcpu (or resources.<scope>.<figure> for one scope, scope one of "
    "process_tree, execution, platform, node)"
)


def percent(thresholds_key: str, *, specs: tuple[str, ...] = (), config: str | None = None, cwd: Path) -> float:
    metric = parse_metric(thresholds_key)
    assert metric is not None
    return resolve(specs, config, cwd).for_metric(metric)


def test_defaults_are_designs(tmp_path: Path) -> None:
    assert DEFAULTS == {
        "total_s": 10.0,
        "retrain_tune_s": 10.0,
        "queue_s": 10.0,
        "startup_s": 10.0,
        "memory_avg_gib": 15.0,
        "cpu_avg_mcpu": 15.0,
        "cpu_seconds": 15.0,
        "memory_peak_gib": 25.0,
        "cpu_peak_mcpu": 25.0,
        "usage_usd": 15.0,
        "allocation_usd": 15.0,
    }
    assert percent("resources.execution.cpu_peak_mcpu", cwd=tmp_path) == 25.0


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("total_s=12", ("total_s", 12.0)),
        ("cpu_avg_mcpu = 20%", ("cpu_avg_mcpu", 20.0)),
        ("queue_s=0", ("queue_s", 0.0)),
    ],
)
def test_parse_threshold(spec: str, expected: tuple[str, float]) -> None:
    assert parse_threshold(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("total_s", f"--threshold 'total_s': expected METRIC=PCT, e.g. total_s=10; {VALID}"),
        ("total_s=", f"--threshold 'total_s=': expected METRIC=PCT, e.g. total_s=10; {VALID}"),
        ("=5", f"--threshold '=5': expected METRIC=PCT, e.g. total_s=10; {VALID}"),
        ("total_s=-5", "--threshold 'total_s=-5': -5.0 must be a percentage of at least 0"),
        ("total_s=ten", "--threshold 'total_s=ten': 'ten' is not a number of percent"),
        ("total_s=nan", "--threshold 'total_s=nan': nan must be a percentage of at least 0"),
        ("latency=5", f"--threshold 'latency=5': unknown metric 'latency'; {VALID}"),
        ("resources.pod.cpu_seconds=5", f"--threshold 'resources.pod.cpu_seconds=5': unknown metric "
         f"'resources.pod.cpu_seconds'; {VALID}"),
        ("success_rate=5", "--threshold 'success_rate=5': success_rate has no threshold (any drop fails); "
         "use --min-success-rate"),
    ],
)  # fmt: skip
def test_bad_threshold_is_one_line(spec: str, message: str) -> None:
    with pytest.raises(BenchError) as raised:
        parse_threshold(spec)
    assert str(raised.value) == message


def test_the_most_specific_and_latest_setting_wins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.retrain-bench.thresholds]\ncpu_avg_mcpu = 30\n"resources.platform.cpu_avg_mcpu" = 40\ntotal_s = 5\n'
    )
    assert percent("resources.execution.cpu_avg_mcpu", cwd=tmp_path) == 30.0
    assert percent("resources.platform.cpu_avg_mcpu", cwd=tmp_path) == 40.0
    assert percent("total_s", cwd=tmp_path) == 5.0
    assert percent("total_s", specs=("total_s=7",), cwd=tmp_path) == 7.0
    # A figure-wide --threshold does not override a more specific TOML setting for one scope.
    assert percent("resources.platform.cpu_avg_mcpu", specs=("cpu_avg_mcpu=1",), cwd=tmp_path) == 40.0


def test_config_file_replaces_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.retrain-bench.thresholds]\ntotal_s = 5\n")
    config = tmp_path / "gate.toml"
    config.write_text("[thresholds]\nretrain_tune_s = 50\n")
    assert percent("total_s", config=str(config), cwd=tmp_path) == 10.0
    assert percent("retrain_tune_s", config=str(config), cwd=tmp_path) == 50.0


def test_pyproject_without_our_table_keeps_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[thresholds]\ntotal_s = 1\n')
    assert percent("total_s", cwd=tmp_path) == 10.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[thresholds\n", "{path}: not valid TOML (Expected ']' at the end of a table declaration "
         "(at line 1, column 12))"),
        ("[thresholds]\nlatency = 5\n", f"{{path}}: [thresholds]: unknown metric 'latency'; {VALID}"),
        ('[thresholds]\ntotal_s = "5%"\n', "{path}: [thresholds] total_s: '5%' is not a number of percent"),
        ("[tool.retrain-bench]\nthresholds = 5\n", "{path}: [tool.retrain-bench.thresholds] must be a table of "
         "METRIC = PCT"),
    ],
)  # fmt: skip
def test_bad_config_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "gate.toml"
    config.write_text(text)
    with pytest.raises(BenchError) as raised:
        resolve((), str(config), tmp_path)
    assert str(raised.value) == message.format(path=config)


def test_unreadable_config(tmp_path: Path) -> None:
    with pytest.raises(BenchError) as raised:
        resolve((), str(tmp_path / "absent.toml"), tmp_path)
    assert str(raised.value) == f"{tmp_path / 'absent.toml'}: cannot read it (No such file or directory)"


def test_floors_default_by_unit_and_layer_like_thresholds(tmp_path: Path) -> None:
    from retrain_bench.analysis.thresholds import FLOOR_DEFAULTS

    # 20 ms for times; 16 MiB = 16/1024 GiB; two 10 ms psutil ticks = 0.02 CPU-s, 20 mCPU over 1 s.
    assert FLOOR_DEFAULTS["total_s"] == FLOOR_DEFAULTS["startup_s"] == 0.02
    assert FLOOR_DEFAULTS["memory_peak_gib"] == FLOOR_DEFAULTS["memory_avg_gib"] == 0.015625
    assert (FLOOR_DEFAULTS["cpu_seconds"], FLOOR_DEFAULTS["cpu_peak_mcpu"]) == (0.02, 20.0)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.retrain-bench.floors]\ntotal_s = 0.5\n"resources.platform.memory_avg_gib" = 0.25\n'
    )
    resolved = resolve((), None, tmp_path, ["total_s=1"])
    metric = parse_metric
    assert resolved.floor_for(metric("total_s")) == 1.0  # type: ignore[arg-type]  # the option wins
    assert resolved.floor_for(metric("resources.platform.memory_avg_gib")) == 0.25  # type: ignore[arg-type]
    assert resolved.floor_for(metric("resources.execution.memory_avg_gib")) == 0.015625  # type: ignore[arg-type]
    # Thresholds are untouched by the floors table.
    assert resolved.for_metric(metric("total_s")) == 10.0  # type: ignore[arg-type]
