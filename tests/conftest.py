"""Fixtures for the suite's own tests."""

from __future__ import annotations

import pytest

from tests.helpers import BenchRun

pytest_plugins = ("pytester",)


@pytest.fixture
def bench_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> BenchRun:
    return BenchRun(pytester, monkeypatch)
