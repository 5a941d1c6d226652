"""The one real platform environment the suite builds: flytekit 1.15.4, shared by the session.

Kept between runs in ``RETRAIN_BENCH_TEST_ENVS`` (default ``~/.cache/retrain-bench/test-envs``,
outside the clone, so CI on one machine builds it once); skipped with the reason when no package
index can be reached and nothing is cached.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms import registry
from retrain_bench.platforms.environments import Environment, EnvironmentRequest, ensure
from retrain_bench.platforms.sdks import Sdk
from tests.helpers import REPO

CONSTRAINTS = REPO / "constraints.txt"


def sdk_of(name: str) -> Sdk:
    """A platform's SDK (``Platform.sdk``), which the environment tests' platforms all have."""
    sdk = registry.sdk_of(name)
    assert sdk is not None, f"{name} has no SDK"
    return sdk


def shared_envs_dir() -> Path:
    return Path(os.environ.get("RETRAIN_BENCH_TEST_ENVS") or Path.home() / ".cache" / "retrain-bench" / "test-envs")


@dataclasses.dataclass(frozen=True)
class Built:
    envs_dir: Path
    request: EnvironmentRequest
    env: Environment


@pytest.fixture(scope="session")
def flyte_1_15(tmp_path_factory: pytest.TempPathFactory) -> Built:
    envs_dir = shared_envs_dir()
    request = EnvironmentRequest(sdk_of("flyte"), "1.15.4", CONSTRAINTS, REPO)
    try:
        env = ensure(request, envs_dir)
    except BenchError as exc:
        if "network" in str(exc) or "Failed to fetch" in str(exc):
            pytest.skip(f"no package index reachable to build an environment: {exc}")
        raise
    return Built(envs_dir, request, env)
