"""pytest wiring: options, parametrisation and pytest-benchmark hooks. State lives in PytestBenchSession."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from retrain_bench.errors import BenchError
from retrain_bench.harness.scopes import PrometheusPlan
from retrain_bench.harness.stopping import STOP
from retrain_bench.options import (
    DEFAULT_RUN_TIMEOUT,
    TARGETS,
    BenchOptions,
    add_cluster_target_options,
    parse_cluster_side_options,
    parse_options,
)
from retrain_bench.platforms import registry
from retrain_bench.platforms.specs import PackageIndex
from retrain_bench.pytest_plugin import benchmark_api, xdist
from retrain_bench.pytest_plugin.benchmark_options import check_benchmark_options
from retrain_bench.pytest_plugin.outputs import check_outputs, make_saving_atomic, write_failures
from retrain_bench.pytest_plugin.replay import REPLAY_CLOCK, failed_benchmarks
from retrain_bench.pytest_plugin.session import PytestBenchSession
from retrain_bench.pytest_plugin.summary import add_summary_option, write_summary
from retrain_bench.workload.cases import CASES

if TYPE_CHECKING:
    from retrain_bench.harness.cluster_target import ClusterTarget

SESSION_KEY = pytest.StashKey[PytestBenchSession]()


class ResourcesWarning(pytest.PytestWarning):
    """A resource source could not measure; the figures are null with the reason in the JSON."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("retrain-bench", "retrain-bench: the retraining pipeline on Flyte, KFP and bare Python")
    group.addoption(
        "--platform",
        default=None,
        metavar="LIST",
        help=f"comma list of platforms to run ({', '.join(registry.names())}). Default: all",
    )
    group.addoption(
        "--case",
        default=None,
        metavar="LIST",
        help=f"comma list of cases ({', '.join(CASES)}). Default: base,scaling,tuning,no_drift",
    )
    group.addoption(
        "--scale", default=None, metavar="LIST", help="sweep: base with N times each factor, e.g. 1,3,10 (base@scale=K)"
    )
    group.addoption(
        "--fanout",
        default=None,
        metavar="LIST",
        help="sweep: base with K C values log-spaced over [0.01, 100], e.g. 1,5,25 (base@fanout=K)",
    )
    group.addoption(
        "--allow-large",
        action="store_true",
        help="run a --scale, --fanout or --concurrency above its sane bound (docs/reliability.md)",
    )
    group.addoption("--rounds", default=5, metavar="N", help="measured rounds per platform x case. Default: 5")
    group.addoption("--warmup", default=1, metavar="N", help="warm-up rounds before them, not summarised. Default: 1")
    group.addoption(
        "--target",
        default="local",
        metavar="NAME",
        help=f"where the pipelines run ({', '.join(TARGETS)}). Default: local",
    )
    group.addoption(
        "--run-timeout",
        default=DEFAULT_RUN_TIMEOUT,
        metavar="SECONDS",
        help="kill a round's processes and record it as failed after this long. Default: %(default)s",
    )
    group.addoption(
        "--min-success-rate",
        default=1.0,
        metavar="RATE",
        help="fail a benchmark whose share of ok rounds is below this (0..1). Default: 1.0",
    )
    group.addoption(
        "--sample-hz",
        default=10.0,
        metavar="HZ",
        help="process-tree samples per second for local CPU and memory; 0 turns sampling off. Default: 10",
    )
    group.addoption(
        "--concurrency",
        default=1,
        metavar="N",
        help="executions of the same case submitted at once per round; total_s is then the makespan. Default: 1",
    )
    group.addoption(
        "--registry",
        default=None,
        metavar="NAME",
        help="mlflow: register each retrained model in a session MLflow server, promote the better (docs/metrics.md)",
    )
    group.addoption(
        "--prometheus-url",
        default=None,
        metavar="URL",
        help="Prometheus to measure a platform scope over every round (credentials in the URL are never stored)",
    )
    group.addoption(
        "--prometheus-namespace",
        action="append",
        default=[],
        metavar="NS",
        help="namespace of the measured platform scope; repeat for several",
    )
    group.addoption(
        "--prometheus-pod-regex", default=None, metavar="RE", help="only pods matching this (fully anchored) RE2"
    )
    group.addoption(
        "--metrics-profile",
        default=None,
        metavar="FILE",
        help="YAML metric profile replacing the default kube-prometheus-stack one",
    )
    group.addoption(
        "--scrape-interval",
        default=None,
        metavar="SECONDS",
        help="override the sample spacing Prometheus data is read with. Default: found from the samples",
    )
    group.addoption(
        "--prometheus-timeout",
        default=None,
        metavar="SECONDS",
        help="limit for every Prometheus request; after the first that fails the run skips Prometheus. Default: 5",
    )
    group.addoption(
        "--prometheus-insecure-skip-verify",
        action="store_true",
        help="do not verify Prometheus's TLS certificate (explicit opt-out)",
    )
    group.addoption(
        "--price-vcpu-hour",
        default=None,
        metavar="USD",
        help="dollars per vCPU-hour for each round's cost. Default: AWS Fargate us-east-1 list price 0.04048",
    )
    group.addoption(
        "--price-gib-hour",
        default=None,
        metavar="USD",
        help="dollars per GiB-hour for each round's cost. Default: AWS Fargate us-east-1 list price 0.004445",
    )
    add_cluster_target_options(group.addoption)
    for platform in registry.platforms().values():
        if platform.add_options is not None:
            platform.add_options(group.addoption)
    group.addoption(
        "--round-logs",
        default=None,
        metavar="DIR",
        help="where each round's SDK output goes. Default: .retrain-bench/logs/<UTC time>/",
    )
    add_summary_option(group.addoption)


def pytest_configure(config: pytest.Config) -> None:
    def progress(line: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            # Before the terminal exists (an environment built while configuring): stderr, uncaptured.
            with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                print(line, file=sys.stderr, flush=True)
            return
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    def warn(message: str) -> None:
        warnings.warn(ResourcesWarning(message), stacklevel=1)

    # First: from here on SIGTERM stops the run as Ctrl-C does (harness/stopping.py).
    STOP.install()
    untested = benchmark_api.check_version()
    if untested:
        raise pytest.UsageError(untested)
    check_benchmark_options(config)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = Path(config.getoption("round_logs") or config.rootpath / ".retrain-bench" / "logs" / stamp)
    try:
        check_outputs(config, log_dir)
        options = parse_options(
            platform=config.getoption("platform"),
            case=config.getoption("case"),
            rounds=config.getoption("rounds"),
            warmup=config.getoption("warmup"),
            target=config.getoption("target"),
            run_timeout=config.getoption("run_timeout"),
            min_success_rate=config.getoption("min_success_rate"),
            sample_hz=config.getoption("sample_hz"),
            scale=config.getoption("scale"),
            fanout=config.getoption("fanout"),
            price_vcpu_hour=config.getoption("price_vcpu_hour"),
            price_gib_hour=config.getoption("price_gib_hour"),
            concurrency=config.getoption("concurrency"),
            allow_large=config.getoption("allow_large"),
            poll_interval=config.getoption("poll_interval"),
            model_registry=config.getoption("registry"),
            index=PackageIndex(config.rootpath / ".retrain-bench" / "index"),
        )
        cluster = _cluster_target(config, options, progress, log_dir) if options.target == "cluster" else None
        # On a cluster the scopes come from the platforms themselves (src/retrain_bench/harness/cluster_target.py).
        prometheus = (
            None
            if cluster
            else PrometheusPlan.from_options(
                url=config.getoption("prometheus_url"),
                namespaces=[ns for value in config.getoption("prometheus_namespace") for ns in value.split(",") if ns],
                pod_regex=config.getoption("prometheus_pod_regex"),
                profile=config.getoption("metrics_profile"),
                scrape_interval=config.getoption("scrape_interval"),
                insecure_skip_verify=config.getoption("prometheus_insecure_skip_verify"),
                timeout=config.getoption("prometheus_timeout"),
            )
        )
        # Own environments built or reused, pipelines found: before any round (harness/session.py).
        # Pipelines not found are an error only once a benchmark is collected (pytest_collection_finish):
        # the plugin loads in every pytest run where it is installed, a user's own test suite included.
        # Under pytest-xdist the controller collects nothing itself, so it checks now.
        bench = PytestBenchSession.open(
            options, log_dir, progress, warn=warn, prometheus=prometheus, cluster=cluster, defer_pipelines=True
        )
        if xdist.distributing(config):
            bench.check_pipelines()
    except BenchError as exc:
        raise pytest.UsageError(str(exc)) from None

    if cluster is not None:
        for note in cluster.remote.warnings():
            warn(note)
    config.stash[SESSION_KEY] = bench
    xdist.configure(config, config.stash[SESSION_KEY])
    # A signal outside a round or wait only waits for the next check while rounds that ran are
    # still to be handed to pytest-benchmark; with none, it interrupts pytest at once.
    STOP.nothing_to_lose = config.stash[SESSION_KEY].all_replayed
    if xdist.distributing(config):
        xdist.hold_signals_for_workers(config)
    config.addinivalue_line("markers", "retrain_bench: a platform x case benchmark of the retraining pipeline")


def _cluster_target(
    config: pytest.Config, options: BenchOptions, progress: Callable[[str], None], log_dir: Path
) -> ClusterTarget:
    """Validate the cluster and remote options and reach every platform's cluster now, within
    --connect-timeout, so a missing cluster is one line and not a failure per test."""
    # Imported here, not at plugin load: they pull in kubernetes, which every pytest process
    # of an environment with the plugin would otherwise pay for (scripts/startup_cost.py).
    from retrain_bench.cluster.endpoints import cluster_preflight
    from retrain_bench.cluster.options import parse_cluster_options
    from retrain_bench.cluster.remote_options import check_separate_clusters, parse_remote_options, platform_servers
    from retrain_bench.harness.cluster_target import ClusterTarget, PrometheusChoice
    from retrain_bench.harness.scopes import ClusterPrometheusPlan, prometheus_timeout_s, scrape_interval_s
    from retrain_bench.measure.profile import load_profile
    from retrain_bench.measure.prometheus import FALLBACK_INTERVAL_S

    cluster = parse_cluster_options(config.getoption)
    profile = load_profile(config.getoption("metrics_profile"))
    scrape_interval = scrape_interval_s(config.getoption("scrape_interval"))
    remote = parse_remote_options(
        config.getoption,
        parse_cluster_side_options(config.getoption),
        scrape_interval_s=scrape_interval or FALLBACK_INTERVAL_S,
        rate_window_s=profile.rate_window_s,
    )
    prometheus = PrometheusChoice(
        profile=config.getoption("metrics_profile"),
        insecure_skip_verify=config.getoption("prometheus_insecure_skip_verify"),
        nodes=config.getoption("node_resources"),
        scrape_interval_s=scrape_interval,
        timeout_s=prometheus_timeout_s(config.getoption("prometheus_timeout")),
    )
    # Profiles and the inventory file are checked now, before anything connects.
    ClusterPrometheusPlan.from_options(
        url=None,
        profile=prometheus.profile,
        scrape_interval=scrape_interval,
        insecure_skip_verify=prometheus.insecure_skip_verify,
        inventory=remote.platform_inventory,
        nodes=prometheus.nodes,
        timeout=prometheus.timeout_s,
    )
    check_separate_clusters(
        platform_servers(remote, cluster.kubeconfig, options.platforms),
        parallel=xdist.parallel_platforms(config),
        allow_shared=remote.allow_shared_cluster,
    )
    target = ClusterTarget(
        cluster, remote, run_timeout=options.run_timeout, progress=progress, prometheus=prometheus, log_dir=log_dir
    )
    for platform in options.platforms:
        side = registry.platform(platform).cluster
        assert side is not None  # parse_options refused a local-only platform on --target=cluster
        cluster_preflight(target.options_for(platform), [side.reaching(remote.platform_options[platform])])
    return target


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_platform" not in metafunc.fixturenames:
        return
    options = metafunc.config.stash[SESSION_KEY].options
    metafunc.parametrize(
        ("bench_platform", "bench_case"),
        [
            pytest.param(
                spec,
                case,
                id=f"{spec}-{case}",
                marks=[
                    pytest.mark.benchmark(group=case, timer=REPLAY_CLOCK.now),
                    pytest.mark.retrain_bench,
                    xdist.group_mark(spec),
                ],
            )
            for case in options.cases
            for spec in options.labels
        ],
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    bench = session.config.stash[SESSION_KEY]
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "bench_platform" in callspec.params:
            bench.add_to_plan(callspec.params["bench_platform"], callspec.params["bench_case"])
    if bench.plan and not session.config.option.collectonly:
        try:
            bench.check_pipelines()
        except BenchError as exc:
            raise pytest.UsageError(str(exc)) from None


@pytest.fixture
def retrain_bench(request: pytest.FixtureRequest) -> PytestBenchSession:
    return request.config.stash[SESSION_KEY]


def pytest_runtest_teardown(item: pytest.Item) -> None:
    bench = item.config.stash[SESSION_KEY]
    if bench.stopping() and bench.all_replayed():
        item.session.shouldstop = f"interrupted ({STOP.label}): rounds run so far are saved"


def pytest_sessionstart(session: pytest.Session) -> None:
    make_saving_atomic(session.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    try:
        return (yield)
    finally:
        # Saving the JSON (pytest-benchmark's session finish) must not be cut short: from here a
        # signal is only recorded.
        STOP.nothing_to_lose = _never


def pytest_sessionfinish(session: pytest.Session) -> None:
    # A plain hook: it runs after pytest-benchmark's saving (a hook wrapper) and, on a worker,
    # before pytest-xdist sends the worker's output.
    config = session.config
    bench = config.stash.get(SESSION_KEY, None)
    if bench is not None:
        xdist.ship(session, bench)
    if bench is not None and (STOP.requested or bench.interrupted):
        _save_empty_run(config)
        if xdist.is_worker(config):
            xdist.worker_finished_interrupted(session, bench)
        elif session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.INTERRUPTED
    failures = write_failures(config)
    if failures:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        for line in failures:
            if reporter is not None:
                reporter.write_line(f"ERROR: retrain-bench: {line}", red=True, bold=True)
            else:
                print(f"ERROR: retrain-bench: {line}", file=sys.stderr)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _never() -> bool:
    return False


def _save_empty_run(config: pytest.Config) -> None:
    """Stopped before any benchmark had rounds: pytest-benchmark saves nothing then ("Not saving
    anything"), but a user asked for a JSON; write one with no benchmarks and ``interrupted: true``,
    the way pytest-benchmark's ``handle_saving`` builds it."""
    bs = benchmark_api.session(config)
    if bs is None or not benchmark_api.json_path(config) or benchmark_api.benchmarks(config) or xdist.is_worker(config):
        return
    commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
    config.hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
    output_json = config.hook.pytest_benchmark_generate_json(
        config=config,
        benchmarks=[],
        include_data=True,
        machine_info=benchmark_api.machine_info(config),
        commit_info=commit_info,
    )
    config.hook.pytest_benchmark_update_json(config=config, benchmarks=[], output_json=output_json)
    bs.save_json(output_json)


def pytest_unconfigure(config: pytest.Config) -> None:
    bench = config.stash.get(SESSION_KEY, None)
    if bench is not None:
        bench.close()
    STOP.uninstall()


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    write_summary(terminalreporter, config)


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    output_json["retrain_bench"] = {
        **xdist.run_level(config.stash[SESSION_KEY]),
        "failed_benchmarks": failed_benchmarks(benchmarks),
    }


# -- pytest-xdist: platforms on their own workers, one merged JSON (the logic is in pytest_plugin/xdist.py) --


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    xdist.open_progress_channel(node, node.config.stash[SESSION_KEY])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    xdist.enable_worker_benchmarks(config, items)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object | None) -> None:
    xdist.merge(node, node.config.stash[SESSION_KEY])
