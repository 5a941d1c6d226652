"""Where the run writes, checked before any round, and pytest-benchmark's saving made atomic.

A run can take an hour; a ``--benchmark-json`` whose directory is missing, a ``--round-logs`` that
is a file or a read-only storage would otherwise be found at the end, with every result lost. So
pytest_configure refuses them (a usage error naming the option and the path), and the JSON files
pytest-benchmark writes (``--benchmark-json``, ``--benchmark-save``/``--benchmark-autosave`` into a
file storage) go through a temporary file and a rename: a full disk leaves the previous file, and
the run exits non-zero with one line saying what was not written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.pytest_plugin import benchmark_api
from retrain_bench.results.files import atomic_write_bytes, check_directory, check_file

_FAILED = pytest.StashKey[list[str]]()


def benchmark_disabled(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_disable", False)) and not config.getoption("benchmark_enable", False)


def check_outputs(config: pytest.Config, log_dir: Path, *, round_logs_option: str = "--round-logs") -> None:
    """Every output path of the run, before any round; BenchError naming the option and the path."""
    json_path = config.getoption("benchmark_json", None)
    saving = config.getoption("benchmark_save", None) or config.getoption("benchmark_autosave", None)
    if benchmark_disabled(config) and (json_path or saving):
        given = "--benchmark-json" if json_path else "--benchmark-save/--benchmark-autosave"
        raise BenchError(
            f"--benchmark-disable turns pytest-benchmark off, so {given} would get nothing; drop one of the two"
        )
    if json_path:
        check_file("--benchmark-json", Path(json_path))
    if saving:
        storage = str(config.getoption("benchmark_storage", "") or "")
        if "://" not in storage:
            storage = "file://" + storage
        if storage.startswith("file://"):
            check_directory("--benchmark-storage", Path(storage[len("file://") :]))
    check_directory(round_logs_option, log_dir)


def make_saving_atomic(config: pytest.Config) -> None:
    """Route pytest-benchmark's JSON writes through ``atomic_write_bytes`` (benchmark_api: its session's
    ``save_json`` and its file storage's ``save``); written as pytest-benchmark writes them."""
    if benchmark_api.session(config) is None:
        return
    config.stash[_FAILED] = []
    from pytest_benchmark.utils import safe_dumps

    def encoded(output_json: dict[str, Any]) -> bytes:
        return bytes(safe_dumps(output_json, ensure_ascii=True, indent=4).encode())

    def save_json(output_json: dict[str, Any]) -> None:
        path = benchmark_api.json_path(config)
        if path is not None and _saved(config, Path(path), encoded(output_json)):
            benchmark_api.log_info(config, f"Wrote benchmark data in: {path}", purple=True)

    def save(output_json: dict[str, Any], save: str) -> None:
        path = benchmark_api.storage_file(config, save)
        if _saved(config, Path(path), encoded(output_json)):
            benchmark_api.log_info(config, f"Saved benchmark data in: {path}")

    benchmark_api.replace_save_json(config, save_json)
    benchmark_api.replace_storage_save(config, save)


def _saved(config: pytest.Config, path: Path, data: bytes) -> bool:
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        config.stash[_FAILED].append(f"could not write {path} ({exc.strerror or exc}); the previous file is untouched")
        return False
    return True


def write_failures(config: pytest.Config) -> list[str]:
    """What ``make_saving_atomic`` could not write, one line each."""
    failed: list[str] = config.stash.get(_FAILED, [])
    return list(failed)
