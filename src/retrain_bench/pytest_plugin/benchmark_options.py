"""pytest-benchmark's own options that this suite overrides, named instead of silently ignored.

Every benchmark here replays rounds the harness already ran (pytest_plugin/replay.py): the number of
rounds and warm-ups is ``--rounds``/``--warmup``, the clock is the harness's, and each round is
one pipeline run. pytest-benchmark's calibration, timer and profiling options therefore change
nothing; a user who passes them gets a warning that says so. pytest-codspeed's ``--codspeed``
replaces the ``benchmark`` fixture and would time the replay callback, so it is refused.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

#: dest -> (flag, its default as pytest-benchmark parses it), from pytest_benchmark/plugin.py
#: ``pytest_addoption`` (5.x): a value other than the default was given by the user.
OVERRIDDEN: dict[str, tuple[str, str]] = {
    "benchmark_min_rounds": ("--benchmark-min-rounds", "5"),
    "benchmark_min_time": ("--benchmark-min-time", "0.000005"),
    "benchmark_max_time": ("--benchmark-max-time", "1.0"),
    "benchmark_precision": ("--benchmark-precision", "None"),
    "benchmark_timer": ("--benchmark-timer", "time.perf_counter"),
    "benchmark_calibration_precision": ("--benchmark-calibration-precision", "10"),
    "benchmark_warmup": ("--benchmark-warmup", "False"),
    "benchmark_warmup_iterations": ("--benchmark-warmup-iterations", "100000"),
    "benchmark_disable_gc": ("--benchmark-disable-gc", "False"),
    "benchmark_cprofile": ("--benchmark-cprofile", "None"),
}

CODSPEED = (
    "--codspeed: pytest-codspeed replaces pytest-benchmark's benchmark fixture and would measure the "
    "suite's replay of already-measured rounds (microseconds), not the pipeline; run retrain-bench without it "
    "(under the CodSpeed action, add -p no:codspeed)"
)


class OverriddenOptionWarning(pytest.PytestWarning):
    """A pytest-benchmark option was given that this suite's replayed rounds do not use."""


def overridden(config: pytest.Config) -> list[str]:
    """The flags of OVERRIDDEN the user set, in table order."""
    given = []
    for dest, (flag, default) in OVERRIDDEN.items():
        value: Any = config.getoption(dest, None)
        # parse_seconds gives a Decimal subclass, parse_timer a NameWrapper: compare their text.
        shown = str(float(value)) if dest in ("benchmark_min_time", "benchmark_max_time") else str(value)
        expected = str(float(default)) if dest in ("benchmark_min_time", "benchmark_max_time") else default
        if value is not None and shown != expected:
            given.append(flag)
    return given


def check_benchmark_options(config: pytest.Config) -> None:
    """Refuse --codspeed; warn once about the overridden pytest-benchmark options given."""
    codspeed = config.pluginmanager.hasplugin("codspeed") and bool(os.environ.get("CODSPEED_ENV"))
    if config.getoption("codspeed", False) or codspeed:
        raise pytest.UsageError(CODSPEED)
    given = overridden(config)
    if given:
        config.issue_config_time_warning(
            OverriddenOptionWarning(
                f"{', '.join(given)} have no effect here: every benchmark replays the rounds the harness ran, "
                "one pipeline run each, timed by the harness; set the rounds with --rounds and --warmup"
            ),
            stacklevel=2,
        )
