"""The wheel a user installs: one top-level package, the pytest11 entry point and the console script.

Installing the project must not shadow anything of the user's: ``bench`` and ``fixtures`` are real PyPI
packages (``fixtures`` is a dependency of testtools), so only ``retrain_bench`` may land in
site-packages; the benchmark, its fixtures and the tests stay in the repository.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # Built from a copy of what the build reads: setuptools leaves build/ in the source tree.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("retrain_bench-*.whl")
    return zipfile.ZipFile(path)


def test_only_retrain_bench_is_installed_at_the_top_level(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"retrain_bench"}


def test_the_plugin_and_the_command_are_entry_points(wheel: zipfile.ZipFile) -> None:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    points = configparser.ConfigParser()
    points.read_string(wheel.read(name).decode())
    assert dict(points["pytest11"]) == {"retrain_bench": "retrain_bench.pytest_plugin.plugin"}
    assert dict(points["console_scripts"]) == {"retrain-bench": "retrain_bench.cli.main:main"}


def test_the_data_files_ship_with_the_package(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    data = [p for p in (REPO / "src").rglob("*") if p.suffix in {".json", ".yaml"}]
    shipped = {p.relative_to(REPO / "src").as_posix() for p in data}
    assert shipped and shipped <= names
    assert not any(Path(n).name == "test_retraining.py" for n in names)
