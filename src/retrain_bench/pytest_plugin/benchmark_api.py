"""Every place retrain-bench reaches into pytest-benchmark (and pytest's terminal) beyond its hooks.

pytest-benchmark has hooks for what goes into its JSON, but none to write the file atomically, to run
benchmarks under pytest-xdist, or to hand it benchmarks that ran in another process. Each function
here is one such reach, with the upstream code it relies on named (pytest-benchmark 5.3.1 unless
said otherwise) and a contract test in tests/test_benchmark_api.py. ``check_version`` refuses, in one
line, a pytest-benchmark outside the tested range, so an upgrade says which release to use instead
of breaking in one of these places. Nothing outside this module touches pytest-benchmark's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

#: The pytest-benchmark releases these reaches were read against and tested with (pyproject.toml pins the same).
TESTED = ((5, 3), (5, 4))
TESTED_TEXT = ">=5.3,<5.4"


def installed_version() -> str:
    from importlib.metadata import version

    return version("pytest-benchmark")


def check_version(found: str | None = None) -> str | None:
    """Why this pytest-benchmark cannot be used (one line), or None for a tested release."""
    found = installed_version() if found is None else found
    try:
        parts = tuple(int(p) for p in found.split(".")[:2])
    except ValueError:
        parts = ()
    if len(parts) == 2 and TESTED[0] <= parts < TESTED[1]:
        return None
    return (
        f"retrain-bench was tested with pytest-benchmark{TESTED_TEXT}, found {found}: it reaches into "
        f"pytest-benchmark's internals (src/retrain_bench/pytest_plugin/benchmark_api.py); "
        f"install a tested one: pip install 'pytest-benchmark{TESTED_TEXT}'"
    )


def session(config: pytest.Config) -> Any | None:
    """pytest-benchmark's ``BenchmarkSession``; None when the plugin is off (``-p no:benchmark``).

    plugin.py ``pytest_configure`` (trylast) registers it with the plugin manager under the name
    ``pytest-benchmark``; that public lookup replaces ``config._benchmarksession``."""
    return config.pluginmanager.get_plugin("pytest-benchmark")


def benchmarks(config: pytest.Config) -> list[Any]:
    """The session's ``Metadata`` list (session.py ``BenchmarkSession.benchmarks``, appended by the fixture)."""
    bs = session(config)
    return list(bs.benchmarks) if bs is not None else []


def json_path(config: pytest.Config) -> str | None:
    """Where ``--benchmark-json`` writes (session.py ``BenchmarkSession.json``, an open-file-less path in 5.x)."""
    bs = session(config)
    return None if bs is None or not bs.json else str(bs.json)


def replace_save_json(config: pytest.Config, save: Callable[[dict[str, Any]], None]) -> bool:
    """Route ``--benchmark-json`` writes through ``save``: session.py ``BenchmarkSession.save_json(output_json)``
    is the one method ``handle_saving`` calls to write it; no hook gets the bytes. False without a session."""
    bs = session(config)
    if bs is None:
        return False
    bs.save_json = save
    return True


def replace_storage_save(config: pytest.Config, save: Callable[[dict[str, Any], str], None]) -> bool:
    """Route ``--benchmark-save``/``--benchmark-autosave`` writes through ``save(output_json, name)`` when the
    storage is a directory (storage/file.py ``FileStorage.save``); False for another storage (elasticsearch)."""
    bs = session(config)
    if bs is None or type(bs.storage).__name__ != "FileStorage":
        return False
    bs.storage.save = save
    return True


def storage_file(config: pytest.Config, name: str) -> str:
    """The path ``FileStorage.save`` would write ``name`` to: storage/file.py ``get(f'{_next_num}_{save}.json')``,
    ``_next_num`` being the next free ``NNNN`` prefix."""
    storage = session(config).storage  # type: ignore[union-attr]
    return str(storage.get(f"{storage._next_num}_{name}.json"))


def log_info(config: pytest.Config, line: str, **style: bool) -> None:
    """A line through pytest-benchmark's logger (logger.py ``Logger.info``), as its own saving writes it."""
    session(config).logger.info(line, **style)  # type: ignore[union-attr]


def enable_under_xdist(config: pytest.Config) -> None:
    """Switch benchmarking back on on an xdist worker. session.py ``BenchmarkSession.__init__`` sets
    ``disabled`` whenever xdist is active, and ``xdist_warning`` (``note_xdist_benchmark`` and
    ``pytest_unconfigure`` then warn that benchmarks were disabled); plugin.py's ``benchmark`` fixture
    reads ``disabled`` when each test asks for it, so setting it before the first test is enough."""
    bs = session(config)
    if bs is None or bs.skip:
        return
    bs.disabled = bool(config.getoption("benchmark_disable")) and not config.getoption("benchmark_enable")
    bs.xdist_warning = False


def hide_table(config: pytest.Config) -> None:
    """No table from this process (a worker's would be partial): session.py ``display`` prints nothing
    while ``groups`` is empty; ``finish`` sets it, so this runs after ``finish`` (session finish)."""
    bs = session(config)
    if bs is not None:
        bs.groups = None


def machine_info(config: pytest.Config) -> dict[str, Any]:
    """session.py ``BenchmarkSession.get_machine_info`` (the hook result, cached per session)."""
    found: dict[str, Any] = session(config).get_machine_info()  # type: ignore[union-attr]
    return found


def flat(meta: Any) -> dict[str, Any]:
    """A ``Metadata`` as pytest-benchmark writes it into its JSON (stats.py ``Metadata.as_dict(include_data=True)``,
    through utils.py ``safe_dumps``, which turns what JSON cannot carry into strings)."""
    import json

    from pytest_benchmark.utils import safe_dumps

    loaded: dict[str, Any] = json.loads(safe_dumps(meta.as_dict(include_data=True)))
    return loaded


def metadata(fixture: Any, data: tuple[float, ...]) -> Any:
    """pytest-benchmark's own record of a benchmark that ran in another process: stats.py
    ``Metadata(fixture, iterations, options)`` reads name, fullname, group, param, params, extra_info and
    cprofile_stats from ``fixture``; ``stats.update`` recomputes every figure from the data."""
    from pytest_benchmark.stats import Metadata

    meta = Metadata(fixture, iterations=fixture.iterations, options=fixture.options)
    for value in data:
        meta.stats.update(value)
    return meta


def add_benchmarks(config: pytest.Config, metas: Iterable[Any], order_key: Callable[[Any], Any]) -> None:
    """Append ``Metadata`` to the session's list (what ``handle_saving``, ``finish`` and ``display`` read), sorted."""
    bs = session(config)
    if bs is None:
        return
    bs.benchmarks.extend(metas)
    bs.benchmarks.sort(key=order_key)


def shipped_fields(shipped: Mapping[str, Any]) -> tuple[int, tuple[float, ...]]:
    """(iterations, per-iteration data) of a flat benchmark: stats.py ``Stats.as_dict`` plus ``data``."""
    return int(shipped["stats"]["iterations"]), tuple(shipped["stats"]["data"])


def at_line_start(reporter: Any) -> bool:
    """Whether pytest's terminal is at the start of a line: _pytest/terminal.py ``TerminalReporter._tw``
    (a ``TerminalWriter``, _pytest/_io/terminalwriter.py ``width_of_current_line``), pytest 9.2 as pinned."""
    return reporter is None or not reporter._tw.width_of_current_line


def set_written_options(benchmark: Any, **options: Any) -> None:
    """Overwrite ``benchmarks[].options`` of one benchmark: fixture.py ``BenchmarkFixture.stats`` is its
    ``Metadata`` after ``pedantic`` (None when benchmarking is disabled: nothing is written then), and
    stats.py ``Metadata.as_dict`` writes ``options`` as this dict holds it."""
    stats = benchmark.stats
    if stats is not None:
        stats.options.update(options)
