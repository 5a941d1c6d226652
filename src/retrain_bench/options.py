"""The suite's options, validated once at the boundary into a frozen dataclass."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from retrain_bench.errors import BenchError
from retrain_bench.measure.cost import DEFAULT_PRICES, Prices, parse_prices
from retrain_bench.platforms import registry
from retrain_bench.platforms.definition import AddOption, ClusterSide
from retrain_bench.platforms.specs import PlatformSpec, VersionSource, parse_specs
from retrain_bench.workload.cases import CASES, DEFAULT_CASES, sweep_keys

TARGETS = ("local", "cluster", "server")
DEFAULT_RUN_TIMEOUT = 1800.0
#: the server target's status polls: each costs the control plane a request (in the platform scope),
#: so no faster than this unless asked; a cluster's default is its remote options' (1 s)
SERVER_POLL_INTERVAL_S = 0.25
#: Sizes above these are refused unless ``--allow-large`` says the user means it (docs/reliability.md):
#: what one round would then ask of a machine or a cluster is rarely what was meant.
SIZE_BOUNDS = {
    # base@scale=K has K x 2,000 rows (times 20 float64 features, twice: ~0.6 GiB of data at 1000)
    "--scale": (1000, "x 2,000 rows of train and drifted data per round"),
    # base@fanout=K runs K tune tasks per round; kfp.local also passes a task's inputs on its command line
    "--fanout": (1000, "tune tasks per round"),
    # N launchers (local) or N runs (cluster) at once
    "--concurrency": (100, "executions at once per round"),
    # a round takes seconds at the least: 10,000 of them per platform x case is most of a day
    "--rounds": (10_000, "measured rounds per platform x case"),
    "--warmup": (10_000, "warm-up rounds per platform x case"),
}


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    #: the platforms' names, each once, in the order given
    platforms: tuple[str, ...]
    cases: tuple[str, ...]
    rounds: int
    warmup: int
    target: str
    run_timeout: float
    min_success_rate: float
    #: process-tree samples per second on the local target; 0 turns the sampler off
    sample_hz: float = 10.0
    #: what a vCPU-hour and a GiB-hour cost, for each round's cost (retrain_bench.measure.cost)
    prices: Prices = DEFAULT_PRICES
    #: executions submitted at once per round; 1 is a round of one execution
    concurrency: int = 1
    #: what --platform asked for: a name (the main environment) or NAME@VERSION (its own environment)
    specs: tuple[PlatformSpec, ...] = ()
    #: server target: how often the harness asks a control plane for a run's state (None elsewhere;
    #: the cluster target's is in its remote options)
    poll_interval_s: float | None = None
    #: ``mlflow``: a registry step after select_best, against the session's MLflow server (local target only)
    registry: str | None = None

    def __post_init__(self) -> None:
        if not self.specs:
            object.__setattr__(self, "specs", tuple(PlatformSpec(p) for p in self.platforms))

    @property
    def labels(self) -> tuple[str, ...]:
        """The benchmarks' platform columns: ``flyte``, ``flyte@1.15.4``."""
        return tuple(s.label for s in self.specs)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["platforms"], data["cases"], data["specs"] = list(self.platforms), list(self.cases), list(self.labels)
        if self.poll_interval_s is None:
            del data["poll_interval_s"]
        if self.registry is None:
            del data["registry"]
        return data


def _given_but_empty(option: str, raw: str | None, valid: Sequence[str]) -> None:
    """``--platform=`` (what ``--platform=$PLATFORM`` gives when the variable is unset) is refused, not
    read as "the defaults": leaving the option out is how to ask for those."""
    if raw is not None and not raw.strip():
        raise BenchError(
            f"{option}: {raw!r} names nothing (an unset variable?); leave {option} out for the defaults, "
            f"or choose from {', '.join(valid)}"
        )


#: What ``--registry`` accepts: the model registry the registry step talks to.
REGISTRIES = ("mlflow",)


def _choices(option: str, raw: str | None, valid: Sequence[str], default: Sequence[str]) -> tuple[str, ...]:
    _given_but_empty(option, raw, valid)
    if raw is None:
        return tuple(default)
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names:
        raise BenchError(f"{option}: {raw!r} names nothing; choose from {', '.join(valid)}")
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise BenchError(f"{option}: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(valid)}")
    return tuple(dict.fromkeys(names))


def number(option: str, raw: Any, kind: type, low: float, high: float | None = None) -> Any:
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise BenchError(f"{option}: {raw!r} is not a{'n integer' if kind is int else ' number'}") from None
    if value < low or (high is not None and value > high) or value != value:
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise BenchError(f"{option}: {raw!r} must be {bound}")
    return value


def parse_options(
    *,
    platform: str | None,
    case: str | None,
    rounds: Any,
    warmup: Any,
    target: str,
    run_timeout: Any,
    min_success_rate: Any,
    sample_hz: Any = 10.0,
    scale: str | None = None,
    fanout: str | None = None,
    price_vcpu_hour: Any = None,
    price_gib_hour: Any = None,
    concurrency: Any = 1,
    index: VersionSource | None = None,
    allow_large: bool = False,
    poll_interval: Any = None,
    model_registry: str | None = None,
) -> BenchOptions:
    """Check every option; raise BenchError naming the option, the bad value and the valid ones."""
    if target not in TARGETS:
        raise BenchError(f"--target: unknown {target!r}; choose from {', '.join(TARGETS)}")
    # A platform without a cluster side (bare Python, the local reference) runs only locally.
    on_cluster = registry.cluster_names()
    # The platforms that run in an environment of their own stay out of the default list: a plain
    # `pytest bench/` builds nothing and downloads nothing (docs/platforms.md).
    on_server = registry.server_names()
    _given_but_empty("--platform", platform, registry.names())
    default_platforms = {"cluster": on_cluster, "server": on_server}.get(target, registry.default_names())
    specs = (
        parse_specs(platform, registry.names(), target=target, index=index)
        if platform and platform.strip()
        else tuple(PlatformSpec(p) for p in default_platforms)
    )
    if not specs:
        raise BenchError(f"--platform: {platform!r} names no platform; choose from {', '.join(registry.names())}")
    platforms = tuple(dict.fromkeys(s.platform for s in specs))
    pinned = [s.label for s in specs if s.version is not None]
    if target == "cluster" and pinned:
        raise BenchError(
            f"--platform: {', '.join(pinned)}: a version runs in its own environment on the local target only; "
            "on a cluster the SDK installed here submits the runs"
        )
    if target == "server" and pinned:
        raise BenchError(
            f"--platform: {', '.join(pinned)}: --target=server runs each platform's own pinned version; "
            "other versions run on the local target"
        )
    not_here = [p for p in platforms if target == "server" and p not in on_server]
    if not_here:
        raise BenchError(
            f"--platform: {'; '.join(_production_path(p) for p in not_here)}; "
            f"with --target=server choose from {', '.join(on_server)}"
        )
    local_only = [p for p in platforms if target == "cluster" and p not in on_cluster]
    if local_only:
        raise BenchError(
            f"--platform: {', '.join(local_only)} runs only on the local target; "
            f"with --target=cluster choose from {', '.join(on_cluster)}"
        )
    if model_registry is not None and model_registry not in REGISTRIES:
        raise BenchError(f"--registry: unknown {model_registry!r}; choose from {', '.join(REGISTRIES)}")
    if model_registry is not None and target != "local":
        raise BenchError(f"--registry: runs on the local target only; drop it or use --target=local (not {target})")
    with_step = registry.registry_step_names()
    without_step = [p for p in platforms if p not in with_step]
    if model_registry is not None and without_step:
        raise BenchError(
            f"--registry: {', '.join(without_step)} has no registry step yet; with --registry choose from "
            f"{', '.join(with_step)} (docs/metrics.md)"
        )
    concurrent = number("--concurrency", concurrency, int, 1)
    measured, warmups = number("--rounds", rounds, int, 1), number("--warmup", warmup, int, 0)
    if not allow_large:
        _within_bounds("--concurrency", [concurrent])
        _within_bounds("--rounds", [measured])
        _within_bounds("--warmup", [warmups])
    return BenchOptions(
        platforms=platforms,
        cases=_cases(case, scale, fanout, allow_large),
        rounds=measured,
        warmup=warmups,
        target=target,
        run_timeout=number("--run-timeout", run_timeout, float, 0.001),
        min_success_rate=number("--min-success-rate", min_success_rate, float, 0.0, 1.0),
        sample_hz=number("--sample-hz", sample_hz, float, 0.0, 1000.0),
        prices=parse_prices(price_vcpu_hour, price_gib_hour),
        concurrency=concurrent,
        specs=specs,
        poll_interval_s=(
            number(
                "--poll-interval", SERVER_POLL_INTERVAL_S if poll_interval is None else poll_interval, float, 0.01, 3600
            )
            if target == "server"
            else None
        ),
        registry=model_registry,
    )


def _server_poll_interval(raw: Any) -> float:
    value: float = number("--poll-interval", SERVER_POLL_INTERVAL_S if raw is None else raw, float, 0.01, 3600)
    return value


def _production_path(platform: str) -> str:
    """Where a platform without a control plane on this machine runs as deployed, in a few words."""
    if platform in registry.cluster_names():
        return f"{platform}'s control plane runs on Kubernetes: use --target=cluster"
    return f"no control plane of {platform} runs on this machine: use --target=local"


def _factors(option: str, raw: str | None) -> list[int]:
    values = [v.strip() for v in (raw or "").split(",") if v.strip()]
    bad = [v for v in values if not v.isdigit() or int(v) < 1]
    if bad:
        raise BenchError(f"{option}: {', '.join(map(repr, bad))} not a positive integer; e.g. {option}=1,3,10")
    return list(dict.fromkeys(int(v) for v in values))


def _within_bounds(option: str, values: Sequence[int]) -> None:
    bound, what = SIZE_BOUNDS[option]
    large = [v for v in values if v > bound]
    if large:
        raise BenchError(
            f"{option}: {large[0]} is above {bound} ({large[0]} {what}); "
            "pass --allow-large to run it anyway (docs/reliability.md)"
        )


def _cases(case: str | None, scale: str | None, fanout: str | None, allow_large: bool = False) -> tuple[str, ...]:
    """--case, plus the sweeps around base; with a sweep and no --case, only the sweep runs."""
    scales, fanouts = _factors("--scale", scale), _factors("--fanout", fanout)
    if not allow_large:
        _within_bounds("--scale", scales)
        _within_bounds("--fanout", fanouts)
    sweep = sweep_keys(scales, fanouts)
    if sweep and not (case and case.strip()):
        return sweep
    return tuple(dict.fromkeys((*_choices("--case", case, list(CASES), DEFAULT_CASES), *sweep)))


# -- the cluster target: the generic options (retrain_bench.cluster) and each cluster side's own -----
# The cluster modules import the kubernetes client: imported here only when a cluster option is read.


def cluster_sides() -> dict[str, ClusterSide[Any]]:
    """Every registered platform that runs on a cluster, by name, in display order."""
    return {name: p.cluster for name, p in registry.platforms().items() if p.cluster is not None}


def add_cluster_target_options(add: AddOption, *, remote: bool = True) -> None:
    """Register the cluster target's options on a pytest option group or an argparse parser: the
    generic ones, with ``remote`` those of remote runs (``--task-image``, ``--<name>-image``...), and
    every cluster side's own (``--flyte-endpoint``, ``--kfp-host``...)."""
    from retrain_bench.cluster.options import add_cluster_options
    from retrain_bench.cluster.remote_options import add_remote_options

    sides = cluster_sides()
    add_cluster_options(add)
    if remote:
        add_remote_options(add, {name: side.label for name, side in sides.items()})
    for side in sides.values():
        side.add_options(add)


def parse_cluster_side_options(get: Callable[[str], Any]) -> dict[str, Any]:
    """Each cluster side's own options (``get`` reads one by its dest name), validated by the side."""
    return {name: side.parse_options(get) for name, side in cluster_sides().items()}
