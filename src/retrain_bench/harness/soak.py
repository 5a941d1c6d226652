"""The soak: many local rounds of one platform spec x case through the real harness, probing the harness.

``python -m retrain_bench soak --platform bare --case smoke --rounds 50`` runs its rounds through a
``BenchSession`` exactly as a benchmark session does (the spec's own environment, its platform's
session services, sampler on, one fresh launcher per round) and, after each round, probes the
harness process itself: its Python heap (tracemalloc, started before round 1, after a
``gc.collect()`` so that garbage not yet collected does not read as a leak) and gc-tracked objects,
open file descriptors, threads, the round directories left in the temp dir, and processes left
behind (children, zombies included, and anything still in a finished round's process group). The
first rounds fill caches (imports, psutil's, the allocator's), so verdicts look at rounds
``--from-round`` (5, or the last but one of fewer rounds) to R only.

What the session holds before round 1 is the session's, not a round's leak: a platform's session
services start before it (Prefect's server and its children, their directory), and the processes
descended from them and the directories that existed then are not counted.

What it cannot see: a process that left its round's process group and was re-parented to init
(neither a child of the harness nor in the group any more), memory outside Python's allocators (C
libraries' own mallocs are not traced), and a leak inside a session service.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import gc
import os
import shutil
import signal
import sys
import tempfile
import threading
import tracemalloc
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from retrain_bench import early_signals
from retrain_bench.errors import BenchError
from retrain_bench.harness.session import BenchSession
from retrain_bench.harness.stopping import STOP
from retrain_bench.options import DEFAULT_RUN_TIMEOUT, BenchOptions, number
from retrain_bench.platforms import registry
from retrain_bench.platforms.specs import PackageIndex, VersionSource, parse_specs
from retrain_bench.results.files import check_directory
from retrain_bench.workload.cases import Case, case_for

#: Growth allowed per round (least-squares slope over rounds from..R) before a probe counts as
#: leaking. Zero means exact: no value after the first verdict round may exceed it.
#:
#: heap: with a gc.collect() before each probe, a bare smoke round leaves the traced heap within
#: about +-1 KiB of the previous round, and the soak's own bookkeeping (seven probe values and a
#: process-group number per round) adds under 0.5 KiB. 20 KiB/round is far above that noise, and
#: a one-off step such as the 0.4 MiB cache fill seen after round 1, had it landed in the middle
#: of a 50-round soak, reads as about 13 KiB/round and does not fail; a real leak of 100 KiB per
#: round is five times the bound. Over 50 rounds the bound admits at most ~1 MiB of drift.
#: gc objects: the harness keeps none per round (its bookkeeping is untracked ints in lists);
#: measured flat to the object. 10/round catches one retained round result (a dataclass with its
#: dicts, paths and outcome is more than 10 tracked objects) while a one-off cache fill of a few
#: hundred objects mid-soak stays under it.
BOUNDS: dict[str, float] = {
    "heap_bytes": 20 * 1024,
    "gc_objects": 10,
    "fds": 0,
    "threads_python": 0,
    "threads_os": 0,
    "temp_dirs": 0,
    "processes": 0,
}
PROBES = tuple(BOUNDS)
DEFAULT_FROM_ROUND = 5
ROUND_DIR_GLOB = "retrain-bench-*"


@dataclasses.dataclass(frozen=True)
class SoakSettings:
    #: the platform spec: ``bare``, ``prefect``, ``flyte@1.15.4``
    platform: str
    case: Case
    rounds: int
    from_round: int = DEFAULT_FROM_ROUND
    run_timeout: float = DEFAULT_RUN_TIMEOUT
    sample_hz: float = 10.0
    log_dir: Path = Path(".retrain-bench/logs/soak")

    def options(self, index: VersionSource | None = None) -> BenchOptions:
        """The session's options: this spec and case, the soak's rounds, no warm-up."""
        specs = parse_specs(self.platform, registry.names(), target="local", index=index)
        return BenchOptions(
            platforms=tuple(dict.fromkeys(s.platform for s in specs)),
            cases=(self.case.key,),
            rounds=self.rounds,
            warmup=0,
            target="local",
            run_timeout=self.run_timeout,
            min_success_rate=0.0,
            sample_hz=self.sample_hz,
            specs=specs,
        )


@dataclasses.dataclass(frozen=True)
class ProbeVerdict:
    """One probe over the whole soak; ``values[i]`` was taken after round i + 1."""

    name: str
    values: tuple[int, ...]
    from_round: int
    #: least-squares growth per round over rounds from_round..R
    slope: float
    #: the largest value in rounds from_round..R minus the value at from_round
    growth: int
    bound: float

    @property
    def exact(self) -> bool:
        return self.bound == 0

    @property
    def leaks(self) -> bool:
        return self.growth > 0 if self.exact else self.slope >= self.bound


@dataclasses.dataclass(frozen=True)
class SoakReport:
    platform: str
    case: str
    rounds: int
    ok_rounds: int
    #: "round N: first line of the error" for each failed round
    failures: tuple[str, ...]
    #: empty when the soak was stopped before its last round: too few rounds to judge
    verdicts: tuple[ProbeVerdict, ...]
    #: how many rounds ran (``rounds`` unless stopped)
    ran: int = 0
    #: the stop (``Ctrl-C``, ``SIGTERM``) that ended the soak early; None when it ran to the end
    interrupted: str | None = None

    @property
    def leaking(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.verdicts if v.leaks)

    @property
    def passed(self) -> bool:
        return not self.leaking and not self.failures and self.interrupted is None


def slope(values: Sequence[float]) -> float:
    """Least-squares growth per step of ``values`` (0 for fewer than two values)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    spread = sum((x - mean_x) ** 2 for x in range(n))
    return sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values)) / spread


def judge(name: str, values: Sequence[int], from_round: int, bound: float) -> ProbeVerdict:
    tail = list(values[from_round - 1 :])
    return ProbeVerdict(
        name=name,
        values=tuple(values),
        from_round=from_round,
        slope=slope(tail),
        growth=max(tail) - tail[0] if tail else 0,
        bound=bound,
    )


def _group_members(groups: Collection[int]) -> set[int]:
    found = set()
    for pid in psutil.pids():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) in groups:
                found.add(pid)
    return found


def _descendants(pids: Collection[int]) -> set[int]:
    """``pids`` and every live process descended from them."""
    found = set()
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found |= {pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))}
    return found


@dataclasses.dataclass(frozen=True)
class SessionHeld:
    """What the session held before round 1 (its services' processes, their directories): not a round's leak."""

    processes: frozenset[int] = frozenset()
    temp_dirs: frozenset[str] = frozenset()

    @classmethod
    def now(cls, temp_root: Path) -> SessionHeld:
        return cls(
            frozenset(p.pid for p in psutil.Process().children(recursive=True)),
            frozenset(p.name for p in temp_root.glob(ROUND_DIR_GLOB)),
        )


def probe_harness(
    temp_root: Path, finished_groups: Collection[int], held: SessionHeld = SessionHeld()
) -> dict[str, int]:
    """The harness process's own resources right now, what the session held before round 1 aside
    (and what those processes have started since: a service's children are the service's)."""
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0]  # before the probe's own allocations below
    objects = len(gc.get_objects())
    me = psutil.Process()
    leftovers = {p.pid for p in me.children(recursive=True)} | _group_members(finished_groups)
    return {
        "heap_bytes": heap,
        "gc_objects": objects,
        "fds": me.num_fds(),
        "threads_python": threading.active_count(),
        "threads_os": me.num_threads(),
        "temp_dirs": sum(1 for p in temp_root.glob(ROUND_DIR_GLOB) if p.name not in held.temp_dirs),
        "processes": len(leftovers - _descendants(held.processes)),
    }


@contextlib.contextmanager
def _private_temp_root() -> Iterator[Path]:
    """Round directories go to a temp root of our own, so other runs on the host cannot be counted."""
    root = Path(tempfile.mkdtemp(prefix="soak-root-"))
    previous, tempfile.tempdir = tempfile.tempdir, str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(root, ignore_errors=True)


def soak(
    settings: SoakSettings,
    *,
    progress: Callable[[str], None] = print,
    after_round: Callable[[int], None] | None = None,
    index: VersionSource | None = None,
) -> SoakReport:
    """Run the soak. ``after_round(index)`` runs after each round, before the probe: a seam for the
    suite's own tests to inject a known leak into the harness, never set on a user's path.
    ``index`` checks that a NAME@VERSION spec's version exists (None: not checked)."""
    values: dict[str, list[int]] = {name: [] for name in PROBES}
    groups: set[int] = set()
    failures: list[str] = []
    ok = ran = 0
    options = settings.options(index)
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    try:
        with (
            _private_temp_root() as temp_root,
            BenchSession.open(options, settings.log_dir, progress, warn=progress) as session,
        ):
            session.start_services(settings.platform)
            held = SessionHeld.now(temp_root)
            for index_ in range(settings.rounds):
                if session.stopping():
                    break
                try:
                    result = session.run_round(settings.platform, settings.case, index_, warmup=False)
                except KeyboardInterrupt:  # a stop after the round's cleanup, before it returned
                    break
                ran += 1
                groups.update(result.process_groups)
                ok += result.ok
                if not result.ok:
                    failures.append(f"round {index_ + 1}: {(result.error or '').splitlines()[0]}")
                seconds = f"{result.total_s:.2f}s" if result.total_s is not None else "-"
                status = "ok" if result.ok else "FAILED"
                del result  # nothing of a round may outlive it, or the heap probe measures us
                if after_round is not None:
                    after_round(index_)
                probed = probe_harness(temp_root, groups, held)
                for name in PROBES:
                    values[name].append(probed[name])
                shown = " ".join(f"{name}={probed[name]}" for name in PROBES)
                progress(
                    f"[soak] {settings.platform}/{settings.case.key} round {index_ + 1}/{settings.rounds} "
                    f"{seconds} {status} {shown}"
                )
            interrupted = STOP.label if session.interrupted else None
    finally:
        if started_tracing:
            tracemalloc.stop()
    return SoakReport(
        platform=settings.platform,
        case=settings.case.key,
        rounds=settings.rounds,
        ok_rounds=ok,
        failures=tuple(failures),
        verdicts=()
        if interrupted
        else tuple(judge(name, values[name], settings.from_round, BOUNDS[name]) for name in PROBES),
        ran=ran,
        interrupted=interrupted,
    )


def _fmt(name: str, value: float) -> str:
    return f"{value / 1024:.1f}" if name == "heap_bytes" else f"{value:g}" if isinstance(value, int) else f"{value:.2f}"


def render(report: SoakReport) -> str:
    if report.interrupted is not None:
        lines = [
            f"soak: {report.platform}/{report.case}, {report.ran} of {report.rounds} rounds ({report.ok_rounds} ok)",
            *(f"FAILED {failure}" for failure in report.failures),
            f"verdict: none: stopped ({report.interrupted}) before the last round",
        ]
        return "\n".join(lines) + "\n"
    first = report.verdicts[0].from_round
    last = report.rounds
    caveat = (
        f" (from round {first}, before round {DEFAULT_FROM_ROUND}: a cache still filling reads as growth)"
        if first < DEFAULT_FROM_ROUND
        else ""
    )
    lines = [
        f"soak: {report.platform}/{report.case}, {report.rounds} rounds ({report.ok_rounds} ok); "
        f"verdicts over rounds {first}..{last}{caveat}",
        f"{'probe':<16}{'round 1':>10}{f'round {first}':>10}{f'round {last}':>10}{'slope/round':>13}  "
        f"{'allowed':<22}verdict",
    ]
    for v in report.verdicts:
        name = "heap_kib" if v.name == "heap_bytes" else v.name
        rule = "no growth" if v.exact else f"slope < {_fmt(v.name, v.bound)}"
        verdict = "LEAK" if v.leaks else "flat"
        if v.exact and v.leaks:
            verdict += f" (+{v.growth} by round {last})"
        lines.append(
            f"{name:<16}{_fmt(v.name, v.values[0]):>10}{_fmt(v.name, v.values[first - 1]):>10}"
            f"{_fmt(v.name, v.values[-1]):>10}{_fmt(v.name, v.slope):>13}"
            f"  {rule:<22}{verdict}"
        )
    for failure in report.failures:
        lines.append(f"FAILED {failure}")
    if report.leaking:
        lines.append(f"verdict: LEAK in {', '.join(report.leaking)}")
    elif report.failures:
        lines.append(f"verdict: no leak, but {len(report.failures)} rounds failed")
    else:
        lines.append("verdict: no leak")
    return "\n".join(lines) + "\n"


def parse_soak_settings(args: argparse.Namespace, index: VersionSource | None = None) -> SoakSettings:
    """The soak's settings from its command line; ``index`` checks a NAME@VERSION spec's version."""
    specs = parse_specs(args.platform, registry.names(), target="local", index=index)
    if len(specs) != 1:
        raise BenchError(f"--platform: {args.platform!r} is not one platform spec; give NAME or NAME@VERSION")
    (spec,) = specs
    try:
        case = case_for(args.case)
    except KeyError:
        raise BenchError(f"--case: unknown {args.case!r}; `python -m retrain_bench cases` lists them") from None
    if args.from_round is None:
        # By default round 5 on, or the last but one of fewer rounds: two judged rounds at the least.
        rounds = number("--rounds", args.rounds, int, 3)
        from_round = min(DEFAULT_FROM_ROUND, rounds - 1)
    else:
        from_round = number("--from-round", args.from_round, int, 2)
        rounds = number("--rounds", args.rounds, int, from_round + 1)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = Path(args.round_logs or Path(".retrain-bench") / "logs" / f"soak-{stamp}")
    check_directory("--round-logs", log_dir)  # a file or a read-only place: one line now, not a traceback later
    return SoakSettings(
        platform=spec.label,
        case=case,
        rounds=rounds,
        from_round=from_round,
        run_timeout=number("--run-timeout", args.run_timeout, float, 0.001),
        sample_hz=number("--sample-hz", args.sample_hz, float, 0.0, 1000.0),
        log_dir=log_dir,
    )


def _never() -> bool:
    return False


def cmd_soak(args: argparse.Namespace) -> int:
    # From here a signal only asks to stop (the session checks before each round and ends a running
    # one); one that came while the CLI was importing (held by early_signals) counts as asked.
    STOP.install(nothing_to_lose=_never)
    try:
        held = early_signals.take()
        if held is not None:
            STOP.requested = signal.Signals(held).name
        index = PackageIndex(Path(".retrain-bench") / "index")
        settings = parse_soak_settings(args, index)
        report = soak(settings, progress=lambda line: print(line, file=sys.stderr, flush=True))
        print(render(report), end="")
        if report.interrupted is not None or STOP.requested is not None:
            return 2
        return 0 if report.passed else 1
    finally:
        STOP.uninstall()


def add_soak_command(commands: Any) -> None:
    soak_parser = commands.add_parser(
        "soak", help="many local rounds through a real session; exit 1 when the harness leaks"
    )
    soak_parser.add_argument(
        "--platform",
        required=True,
        metavar="SPEC",
        help=f"{', '.join(registry.names())}, or NAME@VERSION (its own environment, as in a session)",
    )
    soak_parser.add_argument("--case", default="smoke", metavar="NAME", help="Default: smoke")
    soak_parser.add_argument("--rounds", default=50, metavar="N", help="Default: 50")
    soak_parser.add_argument(
        "--from-round",
        default=None,
        metavar="N",
        help=f"judge growth from this round on; earlier rounds fill caches. Default: {DEFAULT_FROM_ROUND}, or the"
        " last round but one of fewer rounds",
    )
    soak_parser.add_argument("--run-timeout", default=DEFAULT_RUN_TIMEOUT, metavar="SECONDS")
    soak_parser.add_argument(
        "--sample-hz", default=10.0, metavar="HZ", help="the sampler, as in a session. Default: 10"
    )
    soak_parser.add_argument(
        "--round-logs", default=None, metavar="DIR", help="Default: .retrain-bench/logs/soak-<UTC>/"
    )
    soak_parser.set_defaults(run=cmd_soak)
