"""Fixtures for the suite's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.envs_fixtures import flyte_1_15  # noqa: F401 - a session fixture: one real uv build for all tests
from tests.helpers import BenchRun
from tests.inline_run import InlineBenchRun
from tests.k8s_standin import KubeStandin
from tests.prometheus import prometheus_url  # noqa: F401 - a session fixture: one server for all tests

if TYPE_CHECKING:  # the kubernetes client: imported by the tests that use it, not at every collection
    from retrain_bench.cluster.kube import Kube

pytest_plugins = ("pytester",)


@pytest.fixture
def bench_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> BenchRun:
    return BenchRun(pytester, monkeypatch)


@pytest.fixture
def inline_bench(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> InlineBenchRun:
    return InlineBenchRun(pytester, monkeypatch)


@pytest.fixture
def standin() -> Iterator[KubeStandin]:
    """The Kubernetes API stand-in, empty; tests add what they need."""
    with KubeStandin() as server:
        yield server


@pytest.fixture
def kube(standin: KubeStandin, tmp_path: Path) -> Iterator[Kube]:
    """A client of ``standin`` with a 2 s connect timeout."""
    from retrain_bench.cluster.kube import Kube, KubeTarget

    with Kube(KubeTarget(str(standin.kubeconfig(tmp_path / "config")), None, 2.0)) as k:
        yield k
