"""A pytest plugin for the suite's own tests: ``-p tests.slow_tune`` adds the case ``smoke:slow_tune``.

It is smoke made measurably slower (0.5 s in every ``tune`` body, same name, same hash, same
results), so a gating test can show ``compare`` catching a slowdown without patching any code. It
lives here and not in the shipped case registry, so ``retrain-bench cases`` and the ``--case`` error
never offer it.
"""

from __future__ import annotations

import dataclasses

import pytest

from retrain_bench.workload.cases import CASES, add_case

SLOW_TUNE = dataclasses.replace(CASES["smoke"], variant="slow_tune", tune_delay_s=0.5)


def pytest_addoption(parser: pytest.Parser) -> None:
    # Called as ``-p`` registers the plugin, before any plugin's pytest_configure checks --case;
    # importing this module (as test_cases does) registers nothing.
    add_case(SLOW_TUNE)
