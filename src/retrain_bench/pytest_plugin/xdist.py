"""pytest-xdist: each platform on its own worker, one merged pytest-benchmark JSON on the controller.

pytest-benchmark (5.3) disables itself on the controller and on every worker when xdist is active,
and the controller, which runs no test, would have nothing to save. So, within that pinned range:

- on a worker that collected our benchmarks, benchmarking is switched back on (unless the user
  disabled it) and saving and displaying are switched off: the controller does both, once;
- each finished benchmark goes to the controller in xdist's ``workeroutput`` as the JSON-ready
  dict pytest-benchmark itself would write, raw rounds included;
- the controller rebuilds pytest-benchmark ``Metadata`` from them (benchmark_api.py), its ``Stats`` recomputing every
  figure from the rounds, and appends them to its ``BenchmarkSession``, which then saves, compares
  and displays them as if they had run in-process;
- progress lines travel live over an execnet channel of their own, handed to each worker in its
  ``workerinput``, and are written by the controller's progress function.

Benchmarks are grouped by platform (``xdist_group``, honoured by ``--dist loadgroup``). A worker
cannot know in advance which platforms it will be given, so there a case runs only the asking
platform's rounds (``PytestBenchSession.per_platform``); interleaving needs one process.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.platforms import registry
from retrain_bench.pytest_plugin import benchmark_api
from retrain_bench.pytest_plugin.session import PytestBenchSession

#: our key in xdist's workerinput (the progress channel) and workeroutput (the benchmarks)
KEY = "retrain_bench"
_NODEID = pytest.StashKey[str]()
_MERGED = pytest.StashKey[set[int]]()

CONTENTION = (
    "pytest-xdist runs the platforms in parallel on this machine: they contend for CPU and memory, "
    "which distorts their time and resource figures; run with -n 0 for numbers to compare"
)

#: pytest-benchmark's options that a worker must not act on
WORKER_OFF: dict[str, Any] = {
    "benchmark_json": None,
    "benchmark_save": None,
    "benchmark_autosave": False,
    "benchmark_compare": False,
    "benchmark_compare_fail": None,
    "benchmark_histogram": None,
}


class ParallelPlatformsWarning(pytest.PytestWarning):
    """Platforms run at once on the local target, so each slows the other down."""


def group_mark(platform: str) -> pytest.MarkDecorator:
    """One xdist group per platform: under ``--dist loadgroup`` each platform gets its own worker."""
    return pytest.mark.xdist_group(name=platform)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def worker_id(config: pytest.Config) -> str:
    return str(config.workerinput["workerid"])  # type: ignore[attr-defined]


def parallel_platforms(config: pytest.Config) -> bool:
    """Whether this run can run platforms at once: xdist spreads it over more than one worker and
    more than one platform is selected (benchmarks are grouped per platform)."""
    if is_worker(config):
        workers = int(config.workerinput.get("workercount", 1))  # type: ignore[attr-defined]
    elif config.getoption("dist", "no") != "no":
        workers = len(config.getoption("tx", None) or [])
    else:
        workers = 0
    raw = config.getoption("platform", None) or ""
    # Unvalidated on purpose: callable before the options are parsed; bad names fail there.
    platforms = {name.strip() for name in raw.split(",") if name.strip()} or set(registry.names())
    return workers > 1 and len(platforms) > 1


def configure(config: pytest.Config, bench: PytestBenchSession) -> None:
    """After the BenchSession exists: a worker runs per platform and reports progress to the
    controller; the controller warns once when local platforms would contend for the CPU."""
    if not config.pluginmanager.hasplugin("xdist"):
        # `-p no:xdist`: the mark is still on every benchmark and must be known to --strict-markers.
        config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's group for --dist loadgroup")
    if is_worker(config):
        bench.per_platform = True
        # Before pytest-benchmark builds its session (trylast): the controller loads the runs to
        # compare with, compares, saves and displays, once, for the merged run.
        for option, off in WORKER_OFF.items():
            setattr(config.option, option, off)
        channel = config.workerinput.get(KEY)  # type: ignore[attr-defined]
        if channel is not None:
            bench.progress = channel.send
    elif parallel_platforms(config) and bench.options.target == "local":
        config.issue_config_time_warning(ParallelPlatformsWarning(CONTENTION), stacklevel=2)


def distributing(config: pytest.Config) -> bool:
    """This process is pytest-xdist's controller: it runs no test, its workers do."""
    # Called at configure, maybe before pytest-xdist registers its DSession: the options say it
    # (pytest-xdist turns -n into --tx entries before configure).
    return not is_worker(config) and config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


def hold_signals_for_workers(config: pytest.Config) -> None:
    """Controller: a signal never interrupts it at once (its workers' rounds would be lost with the
    events still queued: issue 26 item 3). It is passed on to the workers, which stop as without xdist
    and report what ran; the controller merges their reports, saves and exits 2 (pytest-xdist raises
    ``Interrupted`` once a worker stops). A SIGTERM to the controller's PID alone reaches the workers too."""
    from retrain_bench.harness.stopping import STOP

    def never() -> bool:
        return False

    def pass_on(signum: int) -> None:
        import psutil

        # The controller's direct children are its workers (execnet popen gateways); launchers are
        # the workers' children.
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                child.send_signal(signum)

    STOP.nothing_to_lose = never
    STOP.on_first.append(pass_on)


def worker_finished_interrupted(session: pytest.Session, bench: PytestBenchSession) -> None:
    """Worker, at session finish, stopped by a signal: tell the controller through pytest-xdist's
    ``shouldstop`` (remote.py ``pytest_sessionfinish`` sends ``workeroutput`` after this hook) and not
    through exit status 2, which dsession.py takes for a crashed worker and replaces."""
    config = session.config
    output = config.workeroutput  # type: ignore[attr-defined]
    output["shouldstop"] = output.get("shouldstop") or "interrupted: rounds run so far are saved"
    if output.get("exitstatus") == int(pytest.ExitCode.INTERRUPTED):
        output["exitstatus"] = int(pytest.ExitCode.OK)


def open_progress_channel(node: Any, bench: PytestBenchSession) -> None:
    """Controller, before a worker starts: a channel whose lines the controller prints as they come.

    execnet calls the callback in its receiver thread; the controller's main thread is then mostly
    waiting for xdist events, and a failed write must not take the gateway down.
    """
    reporter = node.config.pluginmanager.get_plugin("terminalreporter")

    def show(line: object) -> None:
        try:
            # xdist writes its status letters without a path prefix, so write_line would not
            # start a fresh line after them.
            if not benchmark_api.at_line_start(reporter):
                reporter.write("\n")
            bench.progress(str(line))
        except Exception:  # noqa: BLE001 - a lost progress line must not kill the worker's gateway
            pass

    channel = node.gateway.newchannel()
    channel.setcallback(show)
    node.workerinput[KEY] = channel


def enable_worker_benchmarks(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    """Worker, before xdist renames items for loadgroup: keep each benchmark's own node id, and
    undo pytest-benchmark's xdist auto-disable when our benchmarks are here."""
    if not is_worker(config):
        return
    ours = [item for item in items if item.get_closest_marker("retrain_bench") is not None]
    for item in ours:
        item.stash[_NODEID] = item.nodeid
    if ours:
        benchmark_api.enable_under_xdist(config)


@dataclasses.dataclass(frozen=True)
class ShippedBenchmark:
    """What pytest-benchmark's ``Metadata`` reads from its fixture, rebuilt from a worker's output."""

    name: str
    fullname: str
    group: str | None
    param: str | None
    params: dict[str, Any] | None
    extra_info: dict[str, Any]
    options: dict[str, Any]
    iterations: int
    data: tuple[float, ...]
    has_error: bool
    #: position in the collection (the same on every worker): the order without xdist
    order: int
    cprofile_stats: None = None

    def __post_init__(self) -> None:
        # A benchmark without an ok round has no data by design (pytest_plugin/replay.py), and has_error.
        usable = bool(self.data) or self.has_error
        if not usable or not all(isinstance(v, int | float) for v in self.data) or self.iterations < 1:
            raise BenchError(f"{self.fullname}: a worker shipped a benchmark without usable rounds")

    def metadata(self) -> Any:
        """pytest-benchmark's own record of this benchmark; its Stats recompute every figure."""
        return benchmark_api.metadata(self, self.data)

    @classmethod
    def from_output(cls, shipped: Mapping[str, Any]) -> ShippedBenchmark:
        try:
            return cls(
                name=shipped["name"],
                fullname=shipped["fullname"],
                group=shipped["group"],
                param=shipped["param"],
                params=shipped["params"],
                extra_info=shipped["extra_info"],
                options=shipped["options"],
                iterations=benchmark_api.shipped_fields(shipped)[0],
                data=benchmark_api.shipped_fields(shipped)[1],
                has_error=bool(shipped["has_error"]),
                order=int(shipped["order"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchError(f"a worker shipped a malformed benchmark ({exc!r})") from None


def ship(session: pytest.Session, bench: PytestBenchSession) -> None:
    """Worker, at session finish: every benchmark run here, as pytest-benchmark would write it."""
    config = session.config
    if not is_worker(config):
        return
    order = {item.nodeid: index for index, item in enumerate(session.items)}
    original = {item.nodeid: item.stash.get(_NODEID, item.nodeid) for item in session.items}
    shipped = []
    for meta in benchmark_api.benchmarks(config):
        if not meta and not meta.has_error:
            continue
        # The JSON round trip gives what pytest-benchmark writes, and what execnet can carry.
        flat = benchmark_api.flat(meta)
        flat["fullname"] = original.get(meta.fullname, meta.fullname)
        flat.update(has_error=bool(meta.has_error), order=order.get(meta.fullname, len(order)))
        shipped.append(flat)
    ran = sorted(f"{platform}/{case}" for platform, case in bench.results)
    config.workeroutput[KEY] = {  # type: ignore[attr-defined]
        "benchmarks": shipped,
        "ran": ran,
        "interrupted": bench.interrupted,
        "worker": worker_id(config),
        # the platforms' manifests and Prometheus plans are only known where their rounds ran
        "cluster": bench.cluster.run_level() if bench.cluster else None,
    }
    benchmark_api.hide_table(config)  # the controller displays the merged table; the worker's would be partial


def merge(node: Any, bench: PytestBenchSession) -> None:
    """Controller, when a worker is done: its benchmarks join the BenchmarkSession, in collection
    order, and its run-level facts join ours."""
    output = getattr(node, "workeroutput", None) or {}
    ours = output.get(KEY)
    if not ours:
        return  # crashed before session finish, or ran none of our benchmarks
    merged = node.config.stash.setdefault(_MERGED, set())
    if id(output) in merged:
        # pytest-xdist calls pytest_testnodedown twice for a worker that finished interrupted
        # (dsession.py worker_workerfinished, then worker_errordown): its benchmarks count once.
        return
    merged.add(id(output))
    shipped = [ShippedBenchmark.from_output(flat).metadata() for flat in ours["benchmarks"]]
    benchmark_api.add_benchmarks(node.config, shipped, order_key=lambda meta: meta.fixture.order)
    bench.workers.update({key: ours["worker"] for key in ours["ran"]})
    bench.interrupted = bench.interrupted or bool(ours["interrupted"])
    if ours.get("cluster"):
        bench.worker_clusters.append(ours["cluster"])


def run_level(bench: PytestBenchSession) -> dict[str, Any]:
    """The run-level JSON; under xdist it says which worker ran what and that they overlapped."""
    bench.stopping()  # a signal the controller received marks the run interrupted
    level = bench.run_level()
    if not bench.workers:
        level["xdist"] = None
        return level
    level["xdist"] = {"workers": dict(sorted(bench.workers.items()))}
    if bench.worker_clusters:
        level["cluster"] = merged_cluster(bench.worker_clusters)
    level["order"] = (
        "pytest-xdist: each platform's rounds one after another on the worker it was scheduled on; "
        "platforms on different workers at the same time"
    )
    if len(set(bench.workers.values())) > 1 and bench.options.target == "local":
        level["notes"] = [*level.get("notes", []), CONTENTION]
    return level


def merged_cluster(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The workers' cluster run levels as one: each platform's manifest and Prometheus plan from the
    worker that ran it, and the fairness warnings over all of them."""
    from retrain_bench.cluster.manifest import fairness_warnings

    manifests: dict[str, Any] = {}
    prometheus: dict[str, Any] = {}
    for part in parts:
        manifests.update(part.get("manifests") or {})
        prometheus.update(part.get("prometheus") or {})
    return {
        **parts[0],
        "manifests": manifests,
        "prometheus": prometheus,
        "fairness_warnings": fairness_warnings(list(manifests.values())),
    }
