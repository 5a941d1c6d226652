"""Platform environments: a real uv build of flytekit 1.15.4, reuse while the key holds, rebuilds, failures.

The one real build is shared by the session and kept between runs in ``RETRAIN_BENCH_TEST_ENVS``
(default ``~/.cache/retrain-bench/test-envs``, outside the clone, so CI on one machine reuses it).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from retrain_bench.errors import BenchError
from retrain_bench.platforms import registry
from retrain_bench.platforms.environments import (
    RECORD,
    Environment,
    EnvironmentRequest,
    SdkVersion,
    ensure,
    freeze_hash,
    main_sdk,
    prepare_all,
)
from retrain_bench.platforms.sdks import WORKLOAD_PACKAGES
from retrain_bench.platforms.specs import PlatformSpec
from tests.envs_fixtures import CONSTRAINTS, Built, sdk_of
from tests.helpers import REPO


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = str(requirement.specifier).removeprefix("==")
    return pins


def _inside(env: Environment, cwd: Path) -> dict[str, Any]:
    """What the environment's interpreter itself reports, run from a directory of no importance."""
    code = (
        "import importlib.metadata as m, json, sys, retrain_bench;"
        "print(json.dumps({'file': retrain_bench.__file__, 'path': sys.path,"
        " 'dists': sorted(f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions())}))"
    )
    done = subprocess.run([str(env.python), "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _version(dists: list[str], name: str) -> str:
    (found,) = [d.split("==")[1] for d in dists if canonicalize_name(d.split("==")[0]) == canonicalize_name(name)]
    return found


def test_the_environment_holds_the_requested_sdk_and_the_projects_own_code(flyte_1_15: Built, tmp_path: Path) -> None:
    env = flyte_1_15.env
    assert env.sdk.to_json() == {"name": "flytekit", "version": "1.15.4"}
    inside = _inside(env, tmp_path)
    assert _version(inside["dists"], "flytekit") == "1.15.4"
    # flytekit 1.15.4 requires grpcio<=1.68.0, so the project's grpcio==1.85.3 must have been let go.
    assert Version(_version(inside["dists"], "grpcio")) <= Version("1.68.0")
    # The workload's own packages keep the project's pins.
    pins = _pins(CONSTRAINTS)
    for package in WORKLOAD_PACKAGES:
        assert _version(inside["dists"], package) == pins[canonicalize_name(package)], package
    # retrain_bench is the checkout's src/, and the repository root (docker/, bench/) is not on sys.path.
    assert Path(inside["file"]) == REPO / "src" / "retrain_bench" / "__init__.py"
    assert str(REPO) not in inside["path"]
    # The project's own dependencies were not pulled in: it went in without them.
    assert not any(canonicalize_name(d.split("==")[0]) in {"kfp", "pytest", "matplotlib"} for d in inside["dists"])


def test_the_freeze_is_what_is_installed_and_its_hash_covers_it(flyte_1_15: Built, tmp_path: Path) -> None:
    env = flyte_1_15.env
    installed = {_canonical(d) for d in _inside(env, tmp_path)["dists"]}
    # Every distribution but the project itself (an editable path, not a version) is in the freeze.
    assert {_canonical(line) for line in env.freeze} == installed - {"retrain-bench==0.1.0"}
    assert "flytekit==1.15.4" in env.freeze
    assert env.freeze_hash == freeze_hash(tuple(reversed(env.freeze)))  # order does not matter
    assert env.freeze_hash != freeze_hash(env.freeze[1:])


def test_a_second_request_builds_nothing(flyte_1_15: Built) -> None:
    record = flyte_1_15.env.python.parents[2] / RECORD
    written = record.stat().st_mtime_ns
    again = ensure(flyte_1_15.request, flyte_1_15.envs_dir, progress=_no_progress)
    assert again.built is False
    assert (again.python, again.freeze_hash) == (flyte_1_15.env.python, flyte_1_15.env.freeze_hash)
    assert record.stat().st_mtime_ns == written


def test_the_key_follows_the_pins_that_apply_and_nothing_else(tmp_path: Path) -> None:
    request = EnvironmentRequest(sdk_of("flyte"), "1.15.4", tmp_path / "constraints.txt", REPO)
    text = CONSTRAINTS.read_text()
    request.constraints.write_text(text)
    key = request.key()
    # A comment changes no pin.
    request.constraints.write_text("# regenerated\n" + text)
    assert request.key() == key
    # flytekit 1.15 lets go of the grpcio pin, so changing it changes nothing for this environment...
    request.constraints.write_text(text.replace("grpcio==1.85.3", "grpcio==1.80.0"))
    assert request.key() == key
    # ...but it does for flytekit 1.16, which keeps the pin.
    newer = dataclasses.replace(request, version="1.16.0")
    request.constraints.write_text(text)
    key_1_16 = newer.key()
    request.constraints.write_text(text.replace("grpcio==1.85.3", "grpcio==1.80.0"))
    assert newer.key() != key_1_16
    # A pin that applies changes the key, and so does another SDK version.
    request.constraints.write_text(text.replace("joblib==1.6.0", "joblib==1.5.3"))
    assert request.key() != key
    request.constraints.write_text(text)
    assert dataclasses.replace(request, version="1.15.3").key() != key


def test_a_changed_constraints_file_rebuilds(flyte_1_15: Built, tmp_path: Path) -> None:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(CONSTRAINTS.read_text().replace("joblib==1.6.0", "joblib==1.5.3"))
    request = dataclasses.replace(flyte_1_15.request, constraints=constraints)
    lines: list[str] = []
    rebuilt = ensure(request, tmp_path / "envs", progress=lines.append)
    assert rebuilt.built is True
    assert "joblib==1.5.3" in rebuilt.freeze and "joblib==1.6.0" not in rebuilt.freeze
    assert rebuilt.freeze_hash != flyte_1_15.env.freeze_hash
    assert len(lines) == 2 and lines[0].startswith("building the flyte@1.15.4 environment (flytekit==1.15.4)")
    assert ensure(request, tmp_path / "envs", progress=_no_progress).built is False


def test_a_build_cut_short_is_not_taken_for_a_finished_one(flyte_1_15: Built, tmp_path: Path) -> None:
    # What an interrupted build leaves: the venv without its record, written last.
    request = flyte_1_15.request
    home = tmp_path / "envs" / f"flyte-1.15.4-{request.key()[:16]}"
    (home / "venv" / "bin").mkdir(parents=True)
    (home / "venv" / "bin" / "python").symlink_to(flyte_1_15.env.python)
    lines: list[str] = []
    env = ensure(request, tmp_path / "envs", progress=lines.append)
    assert env.built is True and (home / RECORD).exists()
    assert env.freeze == flyte_1_15.env.freeze


def test_a_resolution_conflict_is_one_line_with_uvs_reason(flyte_1_15: Built, tmp_path: Path) -> None:
    # The same SDK with no pins let go: grpcio==1.85.3 against flytekit 1.15.4's grpcio<=1.68.0.
    stubborn = dataclasses.replace(sdk_of("flyte"), let_go=())
    request = dataclasses.replace(flyte_1_15.request, sdk=stubborn)
    with pytest.raises(BenchError) as raised:
        ensure(request, tmp_path / "envs", progress=_no_progress)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("cannot build the flyte@1.15.4 environment: No solution found when resolving")
    assert "flytekit==1.15.4 depends on grpcio" in message
    # Nothing half-built stays; uv's whole output does, for whoever wants more than the line.
    assert [p.name for p in (tmp_path / "envs").iterdir() if p.is_dir()] == []
    (log,) = (tmp_path / "envs").glob("*.failed.log")
    assert str(log) in message and "No solution found" in log.read_text()


def test_offline_with_nothing_cached_is_one_line(
    flyte_1_15: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    with pytest.raises(BenchError) as raised:
        ensure(flyte_1_15.request, tmp_path / "envs", progress=_no_progress)
    message = str(raised.value)
    assert "\n" not in message
    assert "flytekit was not found in the cache" in message and "the network was disabled" in message


def test_an_unusable_constraints_file_is_one_line(tmp_path: Path) -> None:
    request = EnvironmentRequest(sdk_of("flyte"), "1.15.4", tmp_path / "missing.txt", REPO)
    with pytest.raises(BenchError, match=r"^cannot read the constraints file .*missing\.txt: No such file"):
        request.key()
    request.constraints.write_text("pandas==3.1.1\nthis is not a pin\n")
    with pytest.raises(BenchError) as raised:
        request.key()
    assert str(raised.value).startswith(f"{request.constraints}:2: 'this is not a pin' is not a pin (Expected")
    assert "\n" not in str(raised.value)


def _canonical(pin: str) -> str:
    name, _, version = pin.partition("==")
    return f"{canonicalize_name(name)}=={version}"


def _no_progress(line: str) -> None:
    pass


def test_only_specs_with_a_version_get_an_environment(flyte_1_15: Built) -> None:
    specs = (PlatformSpec("flyte"), PlatformSpec("flyte", "1.15.4"), PlatformSpec("bare"))
    found = prepare_all(specs, REPO, flyte_1_15.envs_dir, progress=_no_progress)
    assert list(found) == ["flyte@1.15.4"]
    assert found["flyte@1.15.4"].built is False and found["flyte@1.15.4"].python == flyte_1_15.env.python


def test_the_main_environment_sdk_is_the_installed_one() -> None:
    # The suite is installed with -c constraints.txt, which pins flytekit and kfp exactly.
    pins = _pins(CONSTRAINTS)
    assert main_sdk("flyte") == SdkVersion("flytekit", pins["flytekit"])
    assert main_sdk("kfp") == SdkVersion("kfp", pins["kfp"])
    # bare Python has no SDK: what it runs on is the interpreter.
    assert main_sdk("bare") == SdkVersion("python", "{}.{}.{}".format(*sys.version_info[:3]))


def test_a_platforms_own_constraints_replace_and_add_pins(tmp_path: Path) -> None:
    # A platform whose SDK clashes with two main pins and brings a package the main file lacks.
    project = tmp_path / "project"
    (project / "constraints").mkdir(parents=True)
    (project / "constraints.txt").write_text("# main\nrich-click==1.9.9\njoblib==1.6.0\nnumpy==2.3.5\n")
    own = project / "constraints" / "toy.txt"
    own.write_text("# toy's own\nrich-click==1.8.9\nNumPy==2.2.0  # another spelling of the same name\nanyio==4.9.0\n")
    (project / "pyproject.toml").write_text("[project]\nname = 'toy'\n")
    sdk = dataclasses.replace(
        sdk_of("flyte"), platform="toy", package="toy-sdk", own_version="2.0", constraints="constraints/toy.txt"
    )
    request = EnvironmentRequest(sdk, "2.0", project / "constraints.txt", project)
    assert request.kept_constraints() == ("joblib==1.6.0", "rich-click==1.8.9", "NumPy==2.2.0", "anyio==4.9.0")
    # Another version: the own pins were frozen for 2.0 and do not bind it; the main pins they replace
    # stay released (2.0 could not take them, an older toy may need yet another version).
    other = dataclasses.replace(request, version="1.9")
    assert other.kept_constraints() == ("joblib==1.6.0",)
    assert other.key() != request.key()
    key = request.key()
    own.write_text(own.read_text().replace("anyio==4.9.0", "anyio==4.10.0"))
    assert request.key() != key  # the platform's own file is an input of its environment
    own.write_text("rich-click==1.8.9\nnot a pin!\n")
    with pytest.raises(BenchError, match=r"constraints/toy.txt:2: 'not a pin!' is not a pin"):
        request.kept_constraints()


def test_a_platform_with_its_own_version_gets_an_environment_without_naming_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import retrain_bench.platforms.environments as environments

    toy_sdk = dataclasses.replace(sdk_of("flyte"), platform="toy", package="toy-sdk", own_version="2.1.0")
    toy = dataclasses.replace(registry.platform("flyte"), name="toy", sdk=toy_sdk)
    known = registry.platforms()
    monkeypatch.setattr(registry, "platforms", lambda: {**known, "toy": toy})
    asked: list[tuple[str, str]] = []

    def fake_ensure(request: EnvironmentRequest, envs_dir: Path, progress: Any) -> str:
        asked.append((request.sdk.platform, request.version))
        return f"env of {request.label}"

    monkeypatch.setattr(environments, "ensure", fake_ensure)
    specs = (PlatformSpec("toy"), PlatformSpec("toy", "2.0.0"), PlatformSpec("flyte"), PlatformSpec("bare"))
    found = prepare_all(specs, REPO, tmp_path, progress=_no_progress)
    # "toy" alone runs its own version in its own environment; flyte and bare stay in the main one
    assert found == {"toy": "env of toy@2.1.0", "toy@2.0.0": "env of toy@2.0.0"}
    assert asked == [("toy", "2.1.0"), ("toy", "2.0.0")]
