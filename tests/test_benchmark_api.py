"""One contract test per reach into pytest-benchmark (src/retrain_bench/pytest_plugin/benchmark_api.py):
each asserts, against the installed pytest-benchmark, the behaviour the reach relies on, so an upgrade
that moves it fails here by name rather than somewhere in a run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retrain_bench.pytest_plugin import benchmark_api

# Our own plugin stays out: these are pytest-benchmark's behaviours, not ours.
NO_OURS = ("-p", "no:retrain_bench")


@pytest.fixture
def config(pytester: pytest.Pytester) -> pytest.Config:
    return pytester.parseconfigure(*NO_OURS, "--benchmark-json", str(pytester.path / "out.json"))


def test_the_installed_pytest_benchmark_is_a_tested_one() -> None:
    assert benchmark_api.check_version() is None


@pytest.mark.parametrize("version", ["5.2.3", "5.4.0", "6.0", "not-a-version"])
def test_an_untested_pytest_benchmark_is_one_line_naming_the_range(version: str) -> None:
    why = benchmark_api.check_version(version)
    assert why is not None and "\n" not in why
    assert why.startswith(f"retrain-bench was tested with pytest-benchmark>=5.3,<5.4, found {version}: ")
    assert why.endswith("pip install 'pytest-benchmark>=5.3,<5.4'")


def test_an_untested_pytest_benchmark_stops_pytest_in_one_line(pytester: pytest.Pytester) -> None:
    """The plugin refuses at configure; the version is faked through importlib.metadata."""
    pytester.makeconftest(
        "import importlib.metadata as m\n"
        "real = m.version\n"
        "m.version = lambda name: '5.4.0' if name == 'pytest-benchmark' else real(name)\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert errors == [
        "ERROR: retrain-bench was tested with pytest-benchmark>=5.3,<5.4, found 5.4.0: it reaches into "
        "pytest-benchmark's internals (src/retrain_bench/pytest_plugin/benchmark_api.py); install a tested one: "
        "pip install 'pytest-benchmark>=5.3,<5.4'"
    ]


def test_session_is_the_registered_benchmark_session(config: pytest.Config) -> None:
    from pytest_benchmark.session import BenchmarkSession

    assert isinstance(benchmark_api.session(config), BenchmarkSession)
    assert benchmark_api.benchmarks(config) == []


def test_session_is_none_with_pytest_benchmark_off(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure(*NO_OURS, "-p", "no:benchmark")
    assert benchmark_api.session(config) is None and benchmark_api.benchmarks(config) == []


def test_json_path_is_the_option(config: pytest.Config, pytester: pytest.Pytester) -> None:
    assert benchmark_api.json_path(config) == str(pytester.path / "out.json")


def test_machine_info_is_the_sessions(config: pytest.Config) -> None:
    info = benchmark_api.machine_info(config)
    assert {"node", "python_version", "cpu"} <= info.keys()


def test_save_json_is_what_handle_saving_calls(config: pytest.Config) -> None:
    """session.py ``handle_saving`` writes ``--benchmark-json`` through ``save_json`` and nothing else."""
    got: list[dict[str, Any]] = []
    assert benchmark_api.replace_save_json(config, got.append)
    bs: Any = benchmark_api.session(config)
    bs.benchmarks.append(_metadata([1.0, 2.0]))
    bs.handle_saving()
    assert len(got) == 1 and got[0]["benchmarks"][0]["stats"]["data"] == [1.0, 2.0]
    assert not Path(benchmark_api.json_path(config) or "").exists()


def test_storage_save_and_its_next_file(pytester: pytest.Pytester) -> None:
    storage = pytester.path / "store"
    config = pytester.parseconfigure(*NO_OURS, "--benchmark-storage", str(storage), "--benchmark-save", "x")
    first = Path(benchmark_api.storage_file(config, "x"))
    assert first.name == "0001_x.json"
    first.write_text("{}")
    assert Path(benchmark_api.storage_file(config, "x")).name == "0002_x.json"
    got: list[tuple[dict[str, Any], str]] = []
    assert benchmark_api.replace_storage_save(config, lambda output, name: got.append((output, name)))
    bs: Any = benchmark_api.session(config)
    bs.benchmarks.append(_metadata([1.0]))
    bs.handle_saving()
    assert [name for _, name in got] == ["x"]


def test_log_info_goes_to_the_benchmark_logger(config: pytest.Config) -> None:
    import io

    from _pytest._io import TerminalWriter

    written = io.StringIO()
    # logger.py: Logger.term, a TerminalWriter on the stderr of its creation
    benchmark_api.session(config).logger.term = TerminalWriter(file=written)  # type: ignore[union-attr]
    benchmark_api.log_info(config, "Wrote benchmark data in: somewhere", purple=True)
    assert "Wrote benchmark data in: somewhere" in written.getvalue()


def test_xdist_disables_benchmarks_and_enable_under_xdist_undoes_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    config = pytester.parseconfigure(*NO_OURS)
    bs: Any = benchmark_api.session(config)
    assert (bs.disabled, bs.xdist_warning) == (True, True)  # what the reach undoes
    benchmark_api.enable_under_xdist(config)
    assert (bs.disabled, bs.xdist_warning) == (False, False)
    disabled = pytester.parseconfigure(*NO_OURS, "--benchmark-disable")
    benchmark_api.enable_under_xdist(disabled)
    assert benchmark_api.session(disabled).disabled is True  # type: ignore[union-attr]


def test_hide_table_leaves_display_nothing_to_print(config: pytest.Config) -> None:
    bs: Any = benchmark_api.session(config)
    benchmark_api.replace_save_json(config, lambda output: None)
    bs.benchmarks.append(_metadata([1.0, 2.0]))
    bs.finish()
    assert bs.groups  # finish groups the benchmarks for display
    benchmark_api.hide_table(config)

    class Terminal:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"display wrote to the terminal ({name})")

    bs.display(Terminal())


def test_flat_is_what_the_json_holds_and_metadata_rebuilds_it(config: pytest.Config) -> None:
    from retrain_bench.pytest_plugin.xdist import ShippedBenchmark

    shipped = benchmark_api.flat(_metadata([3.0, 1.0, 2.0]))
    assert shipped["stats"]["data"] == [3.0, 1.0, 2.0] and shipped["stats"]["median"] == 2.0
    assert benchmark_api.shipped_fields(shipped) == (1, (3.0, 1.0, 2.0))
    fixture = ShippedBenchmark.from_output({**shipped, "has_error": False, "order": 0})
    later = ShippedBenchmark.from_output({**shipped, "has_error": False, "order": 1})
    metas = [benchmark_api.metadata(f, f.data) for f in (later, fixture)]
    benchmark_api.add_benchmarks(config, metas, order_key=lambda meta: meta.fixture.order)
    first, second = benchmark_api.benchmarks(config)
    assert (first.fixture.order, second.fixture.order) == (0, 1)
    assert benchmark_api.flat(first)["stats"] == shipped["stats"]


def test_set_written_options_reach_the_json(config: pytest.Config) -> None:
    class Fixture:
        stats = _metadata([1.0])

    benchmark_api.set_written_options(Fixture, rounds=7, timer="replayed")
    written = benchmark_api.flat(Fixture.stats)
    assert (written["options"]["rounds"], written["options"]["timer"]) == (7, "replayed")

    class Disabled:
        stats = None

    benchmark_api.set_written_options(Disabled, rounds=7)  # nothing to write to, no error


def test_at_line_start_reads_the_terminal_writer(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from retrain_bench.pytest_plugin.benchmark_api import at_line_start\n"
        "def pytest_sessionfinish(session):\n"
        "    reporter = session.config.pluginmanager.get_plugin('terminalreporter')\n"
        "    reporter.write('partial')\n"
        "    mid = at_line_start(reporter)\n"
        "    reporter.write('\\n')\n"
        "    print('AT-LINE-START', mid, at_line_start(reporter), at_line_start(None))\n"
    )
    result = pytester.runpytest_subprocess(*NO_OURS, "-p", "no:cacheprovider", "-s")
    assert "AT-LINE-START False True True" in result.stdout.str()


def test_no_module_but_the_adapter_reaches_into_pytest_benchmark() -> None:
    src = Path(benchmark_api.__file__).parents[1]
    found = subprocess.run(
        ["grep", "-rnE", r"_benchmarksession|_next_num|_tw\b|stats\.Metadata|\.xdist_warning", str(src)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    assert all(line.startswith(benchmark_api.__file__) for line in found), json.dumps(found, indent=1)
    assert sys.modules["retrain_bench.pytest_plugin.benchmark_api"] is benchmark_api


def _metadata(data: list[float]) -> Any:
    """A pytest-benchmark ``Metadata`` as its fixture leaves one after ``pedantic``."""
    from pytest_benchmark.stats import Metadata

    class Fixture:
        name = fullname = "test_x"
        group = param = params = None
        extra_info: dict[str, Any] = {}
        cprofile_stats = None
        has_error = False

    meta = Metadata(Fixture(), iterations=1, options={"min_rounds": 1})
    for value in data:
        meta.stats.update(value)
    return meta
