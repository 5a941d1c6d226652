"""``retrain-bench resources``: one scope's cluster figures over a time window, from Prometheus.

Every value is checked here, not by argparse, so a bad one is a ``BenchError``: one line on
stderr and exit 2 (argparse would print the usage block too). The Prometheus modules (requests,
yaml) are imported only when the command runs, so other commands start fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from typing import TYPE_CHECKING, Any

from retrain_bench.errors import BenchError, PrometheusQueryError
from retrain_bench.measure.stats import FIGURES, ResourceStats
from retrain_bench.output.formats import RESOURCES_FORMATS, format_help

if TYPE_CHECKING:
    from retrain_bench.measure.prometheus import Window

#: The longest window read without ``--allow-large``: a week is 168 hour-long queries per metric; a
#: typo (``--start 0``) would otherwise ask for one query per hour since 1970 and hold every sample.
MAX_WINDOW_S = 7 * 86400.0
#: 9999-12-31T23:59:59Z: past it a time cannot be shown (datetime's limit).
LATEST_TIME = 253402300799.0
#: The keys of ``--format json``, in order; ``missing`` follows when any figure is null.
JSON_KEYS = ("memory_peak_gib", "memory_avg_gib", "cpu_peak_mcpu", "cpu_avg_mcpu", "cpu_seconds", "samples")


def add_resources_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``resources`` subcommand on ``make_parser``'s subparsers."""
    parser = commands.add_parser(
        "resources",
        help="CPU and memory of namespaces/pods over a time window, from Prometheus",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    # The spellings of the pytest options and of doctor; the older ones stay as hidden aliases.
    parser.add_argument("--prometheus-url", metavar="URL", help="base URL, e.g. http://127.0.0.1:9090 (required)")
    parser.add_argument("--prometheus", dest="prometheus_url", help=argparse.SUPPRESS)
    parser.add_argument(
        "--prometheus-namespace",
        action="append",
        metavar="NS",
        help="a namespace to measure (repeat, or a comma list; at least one)",
    )
    parser.add_argument("--namespace", dest="prometheus_namespace", action="append", help=argparse.SUPPRESS)
    pods = parser.add_mutually_exclusive_group()
    pods.add_argument(
        "--prometheus-pod-regex", metavar="RE", help="RE2 pattern for pod names, fully anchored (e.g. 'run-.*')"
    )
    pods.add_argument("--pod-regex", dest="prometheus_pod_regex", help=argparse.SUPPRESS)
    pods.add_argument("--pod", action="append", metavar="NAME", help="an exact pod name (repeatable)")
    parser.add_argument("--start", required=True, metavar="T", help="ISO-8601 time with a zone, or unix seconds")
    parser.add_argument("--end", required=True, metavar="T", help="ISO-8601 time with a zone, or unix seconds")
    parser.add_argument(
        "--scrape-interval", metavar="SECONDS", help="override the sample spacing (default: found from the samples)"
    )
    parser.add_argument("--step", metavar="SECONDS", help="evaluate the CPU peak on this grid (default: every sample)")
    parser.add_argument("--rate-window", metavar="SECONDS", help="window of the CPU peak (default: the profile's)")
    parser.add_argument(
        "--lookback",
        metavar="SECONDS",
        help="how long past its last sample a container counts (default: half a spacing)",
    )
    parser.add_argument(
        "--metrics-profile", metavar="FILE", help="YAML metric profile (default: kube-prometheus-stack)"
    )
    parser.add_argument("--timeout", default="30", metavar="SECONDS", help="per request (default 30)")
    parser.add_argument(
        "--prometheus-insecure-skip-verify",
        action="store_true",
        help="do not verify the server's TLS certificate (explicit opt-out)",
    )
    parser.add_argument(
        "--insecure-skip-tls-verify",
        dest="prometheus_insecure_skip_verify",
        action="store_true",
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help=f"read a window longer than {MAX_WINDOW_S / 86400:g} days (one query per hour per metric)",
    )
    parser.add_argument(
        "--format", choices=RESOURCES_FORMATS, default="text", help=format_help(RESOURCES_FORMATS, "text")
    )
    # Before the one --format vocabulary: --json.
    parser.add_argument("--json", dest="format", action="store_const", const="json", help=argparse.SUPPRESS)
    parser.set_defaults(run=cmd_resources)


def cmd_resources(args: argparse.Namespace) -> int:
    from retrain_bench.measure.profile import load_profile
    from retrain_bench.measure.prometheus import PrometheusCollector, PrometheusSettings, Scope, Window

    if args.prometheus_url is None:
        raise BenchError("--prometheus-url is required: the Prometheus to read, e.g. http://127.0.0.1:9090")
    namespaces = [n.strip() for given in args.prometheus_namespace or () for n in given.split(",") if n.strip()]
    if not namespaces:
        raise BenchError("--prometheus-namespace is required: at least one namespace to measure")
    window = Window(parse_time(args.start, "--start"), parse_time(args.end, "--end"))
    _check_not_future(window, time.time())
    if window.duration_s > MAX_WINDOW_S and not args.allow_large:
        raise BenchError(
            f"the window is {window.duration_s / 86400:.4g} days long, above the limit of {MAX_WINDOW_S / 86400:g} "
            f"days (one query per hour of it per metric, every sample held in memory); narrow --start/--end, "
            "or pass --allow-large to read it anyway (docs/reliability.md)"
        )
    pods = tuple(args.pod) if args.pod else None
    scope = Scope(
        tuple(namespaces),
        pod_regex=args.prometheus_pod_regex,
        pods=pods,
        name="execution" if args.prometheus_pod_regex is not None or pods else "platform",
    )
    settings = PrometheusSettings(
        args.prometheus_url,
        scrape_interval_s=_seconds(args.scrape_interval, "--scrape-interval"),
        step_s=_seconds(args.step, "--step"),
        rate_window_s=_seconds(args.rate_window, "--rate-window"),
        lookback_s=_seconds(args.lookback, "--lookback"),
        profile=load_profile(args.metrics_profile),
        verify_tls=not args.prometheus_insecure_skip_verify,
        timeout_s=_seconds(args.timeout, "--timeout") or 30.0,
    )
    with PrometheusCollector(settings) as collector:
        try:
            stats = collector.collect(window, scope, progress=_progress)
        except PrometheusQueryError as exc:
            # A profile bug, not a figure to leave null: say which file, and which metric (in exc).
            raise BenchError(f"metric profile {settings.profile.source}: the server rejects {exc}") from None
    print(json.dumps(as_json(stats), allow_nan=False) if args.format == "json" else render_table(stats, window))
    return 0


def _progress(line: str) -> None:
    print(f"[resources] {line}", file=sys.stderr, flush=True)


def _check_not_future(window: Window, now: float) -> None:
    """A window that has not happened has no samples yet: say that, rather than "no data"."""
    if window.start >= now:
        raise BenchError(
            f"the window has not happened yet: --start {window.start_iso} is in the future; "
            "measure a window that has begun (unix seconds or ISO-8601 with a zone)"
        )
    if window.end > now:
        print(
            f"retrain-bench: warning: the window ends in the future (--end {_iso(window.end)}): "
            "only its part up to now has samples, and the averages still divide by the whole window",
            file=sys.stderr,
        )


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str, option: str) -> float:
    """Unix seconds from ISO-8601 with a zone (``Z`` or ``+02:00``) or from unix seconds."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise BenchError(f"{option}: {text!r} is not a time; give unix seconds or ISO-8601 with a zone")
        if seconds > LATEST_TIME:
            raise BenchError(f"{option}: {text!r} is after the year 9999; give unix seconds or ISO-8601 with a zone")
        return seconds
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BenchError(
            f"{option}: {text!r} is not a time; give unix seconds or ISO-8601 with a zone, e.g. 2024-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise BenchError(f"{option}: {text!r} has no time zone; add one (Z, +02:00) or give unix seconds")
    return moment.timestamp()


def _seconds(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BenchError(f"{option}: {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise BenchError(f"{option}: {text!r} must be a positive number of seconds")
    return value


def as_json(stats: ResourceStats) -> dict[str, Any]:
    """The ``--format json`` object: the figures and samples, plus ``missing`` when any figure is null."""
    data: dict[str, Any] = {key: getattr(stats, key) for key in JSON_KEYS}
    if any(getattr(stats, name) is None for name in FIGURES):
        data["missing"] = dict(stats.missing)
    return data


def render_table(stats: ResourceStats, window: Window) -> str:
    details = stats.details
    rows = [
        ("memory peak", _figure(stats.memory_peak_gib, "{:.3f} GiB")),
        ("memory avg", _figure(stats.memory_avg_gib, "{:.3f} GiB")),
        ("cpu peak", _figure(stats.cpu_peak_mcpu, f"{{:.0f}} mCPU (rate over {stats.cpu_peak_window_s:g} s)")),
        ("cpu avg", _figure(stats.cpu_avg_mcpu, "{:.0f} mCPU")),
        ("cpu seconds", _figure(stats.cpu_seconds, "{:.2f} s")),
        ("samples", str(stats.samples)),
        ("pods seen", str(len(details.get("pods_seen", ())))),
    ]
    head = [
        f"prometheus   {details.get('prometheus', '?')}",
        f"selector     {details.get('selector', '?')}",
        f"window       {window.start_iso} + {window.duration_s:g} s",
        *(
            f"interval     {name} {i['interval_s']:g} s ({i['source']})"
            for name, i in details.get("intervals", {}).items()
        ),
    ]
    lines = head + [f"{name:<12} {value}" for name, value in rows]
    lines += [f"missing      {key}: {reason}" for key, reason in stats.missing.items()]
    return "\n".join(lines)


def _figure(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)
