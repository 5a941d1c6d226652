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

#: Fixtures that start processes: a child pytest running the benchmark, a real Prometheus, a uv-built
#: SDK environment. A test using one is an ``e2e`` test (pytest.ini), left out by ``-m "not e2e"``.
E2E_FIXTURES = frozenset({"bench_run", "prometheus_url", "flyte_1_15"})
#: Modules whose tests start processes themselves (a pipeline's executor, a control plane, a child
#: CLI or pytest, a Prometheus, a uv build) rather than through one of E2E_FIXTURES.
E2E_MODULES = frozenset(
    {
        "tests.test_cli",
        "tests.test_cluster_scopes",
        "tests.test_doctor_prometheus",
        "tests.test_environments",
        "tests.test_gate",
        "tests.test_gating",
        "tests.test_groups",
        "tests.test_own_env_platforms_harness",
        "tests.test_packaging",
        "tests.test_pipelines",
        "tests.test_plain_session",
        "tests.test_platform_airflow",
        "tests.test_platform_dagster",
        "tests.test_platform_flyte2",
        "tests.test_platform_prefect",
        "tests.test_platforms",
        "tests.test_prometheus",
        "tests.test_prometheus_cases",
        "tests.test_profile_rejected",
        "tests.test_resources_command",
        "tests.test_server_airflow",
        "tests.test_server_dagster",
        "tests.test_server_faults",
        "tests.test_server_prefect",
        "tests.test_server_target",
        "tests.test_service_platforms_harness",
        "tests.test_soak",
        "tests.test_versions",
        "tests.test_xdist",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        module = getattr(item, "module", None)
        if fixtures & E2E_FIXTURES or (module is not None and module.__name__ in E2E_MODULES):
            item.add_marker(pytest.mark.e2e)


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


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server for the module (harness/registry_service.py), its URL: one per module,
    so one module's registered versions never meet another's champion rule."""
    pytest.importorskip("mlflow")
    from retrain_bench.harness import registry_service

    home = tmp_path_factory.mktemp("registry")
    with registry_service.mlflow_server(home, home / "mlflow-server.log", lambda line: None) as url:
        yield url
