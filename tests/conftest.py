"""Fixtures for the suite's own tests."""

from __future__ import annotations

import pytest

from tests.helpers import BenchRun
from tests.prometheus import prometheus_url  # noqa: F401 - a session fixture: one server for all tests

pytest_plugins = ("pytester",)


@pytest.fixture
def bench_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> BenchRun:
    return BenchRun(pytester, monkeypatch)
