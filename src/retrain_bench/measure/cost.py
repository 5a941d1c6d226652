"""What a round costs in dollars, two ways, each labelled (pure).

USAGE, per measured resource scope: what the round actually consumed, priced per unit of use::

    vcpu_hour × cpu_seconds / 3600  +  gib_hour × memory_avg_gib × window_s / 3600

ALLOCATION (cluster only): what the cluster had to hold for the round, priced per unit reserved::

    Σ over the run's pods of (its requests × how long it ran)
    + the always-on control plane's requests × the round's duration (total_s)

The control plane (Flyte's flyte-binary, KFP's API server, Argo, databases...) runs whether or
not a pipeline does; charging each run for its requests over the run's own duration amortises it
over back-to-back runs, one at a time (concurrent runs would share it, so this is an upper bound for
them). The inputs are read from the JSON: round ``tasks.allocated`` (``cpu_core_seconds`` and
``memory_gib_seconds``: each pod of the run, drivers included, its requests × start-to-finish) and
run level ``cluster.manifests.<platform>.control_plane_requests`` (``cpu`` cores and
``memory_gib`` requested by the deployments of that platform's namespaces). The manifest is written
at the end of the session, so a round record carries allocation null and ``report`` prices it. On
the local target nothing is allocated: allocation is null with a ``not_applicable`` reason. Any
missing or unreadable input makes the cost null with the reason, never 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from retrain_bench.errors import BenchError
from retrain_bench.measure.quantities import parse_quantity
from retrain_bench.measure.stats import SCOPES

GIB = 1024**3
SECONDS_PER_HOUR = 3600.0
USAGE = "usage"
ALLOCATION = "allocation_usd"

#: AWS Fargate on-demand list prices, us-east-1 (N. Virginia), Linux/x86, as listed in 2026 on
#: https://aws.amazon.com/fargate/pricing/ (the same figures are quoted e.g. by
#: https://www.vantage.sh/blog/fargate-pricing). Fargate's "GB" memory sizes are 1024 MiB, so the
#: memory price is applied per GiB. List prices: no savings plan, no spot, no free tier.
DEFAULT_SOURCE = "AWS Fargate on-demand list price, us-east-1, Linux/x86 (aws.amazon.com/fargate/pricing, 2026)"


@dataclasses.dataclass(frozen=True)
class Prices:
    """Dollars per vCPU-hour and per GiB-hour, and where they come from."""

    vcpu_hour: float
    gib_hour: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        return f"${self.vcpu_hour:g} per vCPU-hour, ${self.gib_hour:g} per GiB-hour ({self.source})"


DEFAULT_PRICES = Prices(vcpu_hour=0.04048, gib_hour=0.004445, source=DEFAULT_SOURCE)
GIVEN_SOURCE = "given on the command line"
#: Dollars per vCPU-hour or GiB-hour above which a price is a typo: list prices are cents (Fargate's
#: $0.04048 and $0.004445). A million leaves room for round test prices ($3600 = $1 per vCPU-second)
#: while 1e308 (300-digit costs in the report) is refused.
MAX_PRICE = 1e6


def _price(option: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BenchError(f"{option}: {raw!r} is not a number; give dollars, e.g. {option}=0.04") from None
    if not math.isfinite(value) or value < 0:
        raise BenchError(f"{option}: {raw!r} must be a finite number ≥ 0 (dollars)")
    if value > MAX_PRICE:
        raise BenchError(
            f"{option}: {raw!r} is above {MAX_PRICE:,.0f} dollars per hour; give the price of one unit-hour"
        )
    return value


def parse_prices(vcpu_hour: Any = None, gib_hour: Any = None, base: Prices = DEFAULT_PRICES) -> Prices:
    """``base`` with the prices given (None = keep); the source says which were given."""
    if vcpu_hour is None and gib_hour is None:
        return base
    vcpu = base.vcpu_hour if vcpu_hour is None else _price("--price-vcpu-hour", vcpu_hour)
    gib = base.gib_hour if gib_hour is None else _price("--price-gib-hour", gib_hour)
    given = [name for name, raw in (("vCPU", vcpu_hour), ("GiB", gib_hour)) if raw is not None]
    source = (
        GIVEN_SOURCE if len(given) == 2 else f"{' and '.join(given)} price {GIVEN_SOURCE}, the other: {base.source}"
    )
    return Prices(vcpu, gib, source)


def dotted(mapping: Any, key: str) -> Any:
    """The value under a dotted key (``resources.platform.cpu_seconds``); None where any part is missing.
    The one such helper: results/ (a layer above) uses it too."""
    value = mapping
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def prices_from(run_level: Mapping[str, Any] | None) -> Prices | None:
    """The prices a saved run recorded (``options.prices``), or None when it recorded none."""
    recorded = dotted(run_level, "options.prices")
    if not isinstance(recorded, Mapping):
        return None
    try:
        return Prices(float(recorded["vcpu_hour"]), float(recorded["gib_hour"]), str(recorded["source"]))
    except (KeyError, TypeError, ValueError):
        return None


@dataclasses.dataclass(frozen=True)
class Requests:
    """CPU cores and memory GiB a pod (or a set of pods) requests."""

    cpu: float
    memory_gib: float

    @classmethod
    def parse(cls, mapping: Any) -> Requests:
        if not isinstance(mapping, Mapping) or "cpu" not in mapping or "memory" not in mapping:
            raise ValueError(f"{mapping!r} is not a mapping with cpu and memory")
        return cls(parse_quantity(mapping["cpu"]), parse_quantity(mapping["memory"]) / GIB)

    def dollars(self, seconds: float, prices: Prices) -> float:
        return (self.cpu * prices.vcpu_hour + self.memory_gib * prices.gib_hour) * seconds / SECONDS_PER_HOUR


# --- costs of one round -------------------------------------------------------------------------


def usage_cost(stats: Mapping[str, Any], prices: Prices) -> tuple[float | None, str | None]:
    """(dollars, None) or (None, why) for one scope's resource figures."""
    cpu: Any = stats.get("cpu_seconds")
    memory: Any = stats.get("memory_avg_gib")
    window: Any = stats.get("window_s")
    gone = [
        name
        for name, value in (("cpu_seconds", cpu), ("memory_avg_gib", memory), ("window_s", window))
        if value is None
    ]
    if gone:
        reasons = stats.get("missing", {})
        why = "; ".join(f"{name}: {reasons[name]}" if name in reasons else f"no {name}" for name in gone)
        return None, f"no usage cost: {why}"
    dollars = (
        prices.vcpu_hour * float(cpu) / SECONDS_PER_HOUR
        + prices.gib_hour * float(memory) * float(window) / SECONDS_PER_HOUR
    )
    return dollars, None


def allocation_cost(
    round_: Mapping[str, Any], platform: str, target: str, run_level: Mapping[str, Any] | None, prices: Prices
) -> tuple[float | None, str | None]:
    """(dollars, None) or (None, why): the pods' requests × their durations + control plane × total_s."""
    if target != "cluster":
        return None, f"not_applicable: {target} target, nothing is allocated (no pods, no requests)"
    if not round_.get("ok"):
        return None, "round failed"
    held = dotted(round_, "tasks.allocated")
    if not isinstance(held, Mapping) or held.get("cpu_core_seconds") is None or held.get("memory_gib_seconds") is None:
        return None, "no pod of this round stated requests and ran to the end (tasks.allocated)"
    total = round_.get("total_s")
    if total is None:
        return None, "no total_s in this round"
    control = dotted(run_level, f"cluster.manifests.{platform}.control_plane_requests")
    if not isinstance(control, Mapping) or control.get("cpu") is None or control.get("memory_gib") is None:
        return None, f"no control-plane requests for {platform} in the run's fairness manifest"
    pods = Requests(float(held["cpu_core_seconds"]), float(held["memory_gib_seconds"])).dollars(1.0, prices)
    return pods + Requests(float(control["cpu"]), float(control["memory_gib"])).dollars(float(total), prices), None


def round_cost(
    round_: Mapping[str, Any], platform: str, target: str, run_level: Mapping[str, Any] | None, prices: Prices
) -> tuple[dict[str, Any], dict[str, str]]:
    """The round's ``cost`` entry and the reasons for its nulls, under their dotted keys."""
    usage: dict[str, float | None] = {}
    missing: dict[str, str] = {}
    for scope, stats in (round_.get("resources") or {}).items():
        dollars, why = usage_cost(stats, prices)
        usage[f"{scope}_usd"] = dollars
        if why is not None:
            missing[f"cost.{USAGE}.{scope}_usd"] = why
    allocation, why = allocation_cost(round_, platform, target, run_level, prices)
    if why is not None:
        missing[f"cost.{ALLOCATION}"] = why
    return {USAGE: usage, ALLOCATION: allocation}, missing


def cost_keys(scopes: Any) -> list[str]:
    """Summary keys of the costs, scopes in the metrics' order."""
    present = [s for s in SCOPES if s in set(scopes)]
    return [*(f"cost.{USAGE}.{scope}_usd" for scope in present), f"cost.{ALLOCATION}"]
