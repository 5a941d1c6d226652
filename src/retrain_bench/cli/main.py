"""``python -m retrain_bench`` / ``retrain-bench``: commands over the suite's JSON and cases.

Every user error is a ``BenchError``, caught once here: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain_bench import early_signals
from retrain_bench.cli.doctor import add_doctor_command
from retrain_bench.cli.resources import add_resources_command
from retrain_bench.errors import BenchError, OutputFailed
from retrain_bench.harness.soak import add_soak_command
from retrain_bench.output.formats import COMPARE_FORMATS, REPORT_FORMATS, REPORT_SUFFIX, format_help
from retrain_bench.results.files import check_directory, check_file, write_text
from retrain_bench.results.runs import Run
from retrain_bench.workload.cases import CASES, DEFAULT_CASES

if TYPE_CHECKING:
    from retrain_bench.analysis.compare import CompareOptions, CompareResult
    from retrain_bench.measure.cost import Prices


def cmd_cases(args: argparse.Namespace) -> int:
    width = max(len(name) for name in CASES)
    for case in CASES.values():
        default = "" if case.name in DEFAULT_CASES else "  (not run by default)"
        grid = ",".join(f"{c:g}" for c in case.grid)
        knobs = f"rows={case.rows} grid=[{grid}] drift={case.drift} trigger={case.trigger}"
        print(f"{case.name:<{width}} {case.hash}  {knobs}{default}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from retrain_bench.results.model import benchmarks_of

    for path in args.files:
        document = Run.load(path).document
        total, failed = (
            len(benchmarks_of(document)),
            len((document.get("retrain_bench") or {}).get("failed_benchmarks", [])),
        )
        counted = f"{total} benchmark{'' if total == 1 else 's'}"
        print(f"{path}: ok, {counted}" + (f" ({failed} without an ok round)" if failed else ""))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from retrain_bench.analysis.report import build_report
    from retrain_bench.output.render import render_report
    from retrain_bench.results.runs import entries

    out = None if args.out_dir is None else Path(args.out_dir)
    if out is not None:
        check_directory("--out-dir", out)
    runs = [Run.load(path) for path in args.files]
    prices = report_prices(runs, args.price_vcpu_hour, args.price_gib_hour)
    report = build_report(runs, entries(runs, merge_rounds=args.merge_rounds), prices)
    text = render_report(report, args.format)
    print(text, end="")
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            charts = _write_report_files(out, f"report.{REPORT_SUFFIX[args.format]}", text, report)
        except OSError as exc:
            raise OutputFailed(
                f"--out-dir: {out}: cannot write the report ({exc.strerror or exc}); "
                "what the directory held before is left as it was"
            ) from None
        print(f"retrain-bench: wrote the report and {len(charts)} charts to {out}", file=sys.stderr)
    return 0


def _write_report_files(out: Path, name: str, text: str, report: Any) -> list[Path]:
    """The report file and its charts, all or none: written into a staging directory inside ``out``
    and renamed into place only when every one was written (renames need no space), so a full disk
    leaves the previous report (or none), never half of a new one."""
    import shutil
    import tempfile

    from retrain_bench.output.charts import draw_charts

    staging = Path(tempfile.mkdtemp(dir=out, prefix=".report-"))
    try:
        (staging / name).write_bytes(text.encode("utf-8"))
        charts = draw_charts(report, staging)
        for written in [staging / name, *charts]:
            os.replace(written, out / written.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / chart.name for chart in charts]


def report_prices(runs: Sequence[Run], vcpu_hour: str | None, gib_hour: str | None) -> Prices | None:
    """The given prices over the runs' recorded ones (or the defaults); None when neither: no cost shown."""
    from retrain_bench.measure.cost import DEFAULT_PRICES, parse_prices, prices_from

    recorded = list(dict.fromkeys(p for run in runs if (p := prices_from(run.document.get("retrain_bench")))))
    if vcpu_hour is None and gib_hour is None:
        if len(recorded) > 1:
            raise BenchError(
                "the runs were priced differently; pass --price-vcpu-hour and --price-gib-hour to price them alike"
            )
        return recorded[0] if recorded else None
    return parse_prices(vcpu_hour, gib_hour, recorded[0] if len(recorded) == 1 else DEFAULT_PRICES)


def add_price_options(parser: Any) -> None:
    parser.add_argument(
        "--price-vcpu-hour",
        metavar="USD",
        help="re-price the runs: dollars per vCPU-hour (default: the runs' recorded price, else Fargate's list price)",
    )
    parser.add_argument(
        "--price-gib-hour",
        metavar="USD",
        help="re-price the runs: dollars per GiB-hour (default: the runs' recorded price, else Fargate's list price)",
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from retrain_bench.analysis.compare import compare_runs, compare_versions

    options = compare_options(args, Path.cwd())
    if args.versions is not None:
        if args.current_runs is not None:
            raise BenchError(
                "--current-runs splits several files into baseline and current runs; --versions compares two "
                "specs inside one run: drop one of them"
            )
        if len(args.files) != 1:
            raise BenchError(f"--versions compares two specs inside ONE run: give one file, not {len(args.files)}")
        specs = [s.strip() for s in args.versions.split(",")]
        if len(specs) != 2 or not all(specs):
            raise BenchError(f"--versions: {args.versions!r}: give BASE,CURRENT, e.g. flyte@1.15.4,flyte@1.16.31")
        baseline_paths, current_paths = list(args.files), list[str]()
    else:
        baseline_paths, current_paths = split_compare_files(args.files, args.current_runs or "1")
    baselines = [Run.load(path) for path in baseline_paths]
    currents = [Run.load(path) for path in current_paths]
    if args.price_vcpu_hour is not None or args.price_gib_hour is not None:
        from retrain_bench.results.records import reprice

        # Both sides at the same prices, recomputed from their resources: a price change is not a regression.
        prices = report_prices((currents or baselines)[:1], args.price_vcpu_hour, args.price_gib_hour)
        if prices is not None:
            baselines = [Run(run.path, reprice(run.document, prices)) for run in baselines]
            currents = [Run(run.path, reprice(run.document, prices)) for run in currents]
    if args.versions is not None:
        return _print_compare(compare_versions(baselines[0], specs[0], specs[1], options), args)
    return _print_compare(compare_runs(baselines, currents, options), args)


def _print_compare(result: CompareResult, args: argparse.Namespace) -> int:
    from retrain_bench.output.job_summary import append_job_summary
    from retrain_bench.output.render import render_compare

    for warning in result.warnings:
        print(f"retrain-bench: warning: {warning}", file=sys.stderr)
    print(render_compare(result, args.format), end="")
    append_job_summary(render_compare(result, "md"))
    return result.exit_code


def split_compare_files(files: Sequence[str], current_runs: str) -> tuple[list[str], list[str]]:
    """The baseline runs and the last ``--current-runs`` files, the current runs."""
    try:
        count = int(current_runs)
    except ValueError:
        raise BenchError(f"--current-runs: {current_runs!r} is not a whole number") from None
    if count < 1:
        raise BenchError(f"--current-runs: {current_runs!r} must be at least 1")
    if len(files) <= count:
        raise BenchError(
            f"compare needs at least one baseline run before the {count} current run(s); got {len(files)} file(s)"
        )
    baselines, currents = list(files[:-count]), list(files[-count:])
    for side in (baselines, currents):
        twice = sorted({f for f in side if side.count(f) > 1})
        if twice:
            raise BenchError(f"{twice[0]} is given twice on one side; each run counts once")
    return baselines, currents


def compare_options(args: argparse.Namespace, cwd: Path) -> CompareOptions:
    from retrain_bench.analysis.compare import CompareOptions
    from retrain_bench.analysis.thresholds import check_metric, resolve

    alpha = _fraction("--alpha", args.alpha, inclusive=False)
    floor = None if args.min_success_rate is None else _fraction("--min-success-rate", args.min_success_rate)
    gate = frozenset(check_metric(m.strip(), f"--gate-metric {m!r}") for m in args.gate_metric)
    return CompareOptions(
        thresholds=resolve(args.threshold, args.config, cwd, args.floor),
        alpha=alpha,
        min_success_rate=floor,
        allow_missing=args.allow_missing,
        allow_output_change=args.allow_output_change,
        gate_metrics=gate,
        interleaved=args.interleaved,
    )


def _fraction(option: str, raw: str, *, inclusive: bool = True) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BenchError(f"{option}: {raw!r} is not a number") from None
    inside = 0 <= value <= 1 if inclusive else 0 < value < 1
    if not inside:
        bound = "between 0 and 1" if inclusive else "strictly between 0 and 1"
        raise BenchError(f"{option}: {raw!r} must be {bound}")
    return value


def cmd_export(args: argparse.Namespace) -> int:
    from retrain_bench.output.export import bmf, github_action_benchmark, left_out
    from retrain_bench.output.render import dumps
    from retrain_bench.results.runs import entries

    if args.format == "bmf" and args.direction is not None:
        raise BenchError("--direction: only for --format github-action-benchmark; BMF carries every metric at once")
    _check_out(args.out)
    runs = [Run.load(path) for path in args.files]
    found = entries(runs, merge_rounds=args.merge_rounds)
    if args.format == "github-action-benchmark":
        text = dumps(github_action_benchmark(found, args.direction or "smaller"))
    else:
        text = dumps(bmf(found))
    for line in left_out(found):
        print(f"retrain-bench: warning: {line}", file=sys.stderr)
    _emit(text, args.out)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from retrain_bench.results.contract import validate
    from retrain_bench.results.runs import merged_document

    _check_out(args.out)
    merged = Run(args.out or "<stdout>", merged_document([Run.load(path) for path in args.files]))
    validate(merged.document)
    _emit(merged.text(), args.out)
    return 0


def _check_out(out: str | None) -> None:
    """Before any run is read: an --out that cannot be written is found now, not after the work."""
    if out is not None:
        check_file("--out", Path(out))


def _emit(text: str, out: str | None) -> None:
    if out is None:
        print(text, end="")
        return
    write_text(Path(out), text, "--out")


def add_report_command(commands: Any) -> None:
    report = commands.add_parser("report", help="the study's tables per case (mean ± std dev) and PNG charts")
    report.add_argument("files", nargs="+", metavar="RUN.json", help="runs to put in one report")
    report.add_argument(
        "--out-dir", metavar="DIR", help="also write report.<ext> and one PNG chart per metric into this directory"
    )
    # Before --out-dir, --out named the directory; --out is a file everywhere else (export, merge).
    report.add_argument("--out", dest="out_dir", metavar="DIR", help=argparse.SUPPRESS)
    report.add_argument("--format", choices=REPORT_FORMATS, default="md", help=format_help(REPORT_FORMATS, "md"))
    report.add_argument(
        "--merge-rounds", action="store_true", help="pool the rounds of a benchmark found in several files"
    )
    add_price_options(report)
    add_input_limit(report)
    report.set_defaults(run=cmd_report)


def add_compare_command(commands: Any) -> None:
    compare = commands.add_parser(
        "compare", help="baseline vs current per metric: change, significance, verdict; exit 1 on regression"
    )
    compare.add_argument(
        "files",
        nargs="+",
        metavar="RUN.json",
        help="baseline run(s), then the current run(s): BASELINE.json [BASELINE.json ...] CURRENT.json; "
        "with --versions, one run",
    )
    compare.add_argument(
        "--versions",
        metavar="BASE,CURRENT",
        help="compare two specs of one platform inside one run, e.g. flyte@1.15.4,flyte@1.16.31 (one file)",
    )
    compare.add_argument(
        "--current-runs",
        default=None,
        metavar="N",
        help="how many of the last files are current runs. Default: 1. With several runs on a side the "
        "test is over run means",
    )
    compare.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="METRIC=PCT",
        help="regression threshold in percent for a metric (repeatable); overrides the TOML config",
    )
    compare.add_argument(
        "--floor",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="noise floor in the metric's unit (repeatable): a smaller change is never a regression",
    )
    compare.add_argument(
        "--gate-metric",
        action="append",
        default=[],
        metavar="METRIC",
        help="let an informational metric (startup_s, the node scope) fail the build (repeatable)",
    )
    compare.add_argument(
        "--interleaved",
        action="store_true",
        help="the two sides' rounds were interleaved in one job (as .ci/bench-gate does)",
    )
    compare.add_argument("--alpha", default="0.05", metavar="A", help="significance level. Default: 0.05")
    compare.add_argument(
        "--min-success-rate", default=None, metavar="R", help="also fail a success rate below R (0..1). Default: off"
    )
    compare.add_argument("--allow-missing", action="store_true", help="a benchmark or metric missing now does not fail")
    compare.add_argument("--allow-output-change", action="store_true", help="a changed output does not fail")
    compare.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file with [tool.retrain-bench.thresholds] / [tool.retrain-bench.floors] or [thresholds] / "
        "[floors] tables. Default: ./pyproject.toml",
    )
    compare.add_argument("--format", choices=COMPARE_FORMATS, default="md", help=format_help(COMPARE_FORMATS, "md"))
    add_price_options(compare)
    add_input_limit(compare)
    compare.set_defaults(run=cmd_compare)


def add_export_command(commands: Any) -> None:
    from retrain_bench.output.export import DIRECTIONS, FORMATS

    export = commands.add_parser(
        "export", help="the numbers as github-action-benchmark (one file per direction) or Bencher BMF JSON"
    )
    export.add_argument("files", nargs="+", metavar="RUN.json")
    # Not the table vocabulary (output/formats.py): this names whose JSON schema is written.
    export.add_argument("--format", choices=FORMATS, required=True, help="the consumer whose JSON schema to write")
    export.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default=None,
        help="github-action-benchmark: smaller (times, memory, CPU, cost, failure rate; for customSmallerIsBetter) "
        "or bigger (accuracy, success rate, throughput; for customBiggerIsBetter). Default: smaller",
    )
    export.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    export.add_argument(
        "--merge-rounds", action="store_true", help="pool the rounds of a benchmark found in several files"
    )
    add_input_limit(export)
    export.set_defaults(run=cmd_export)


def add_merge_command(commands: Any) -> None:
    merge = commands.add_parser("merge", help="pool the rounds of several runs into one pytest-benchmark JSON file")
    merge.add_argument("files", nargs="+", metavar="RUN.json")
    merge.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    add_input_limit(merge)
    merge.set_defaults(run=cmd_merge)


def package_version() -> str:
    """The installed distribution's version (its metadata, so it cannot drift from pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("retrain-bench")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown (not installed)"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain-bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cases = commands.add_parser("cases", help="list the cases with their hashes")
    cases.set_defaults(run=cmd_cases)
    validate = commands.add_parser("validate", help="check saved runs against the JSON schema")
    validate.add_argument("files", nargs="+", metavar="RUN.json")
    add_input_limit(validate)
    validate.set_defaults(run=cmd_validate)
    add_resources_command(commands)
    add_doctor_command(commands)
    add_report_command(commands)
    add_compare_command(commands)
    add_export_command(commands)
    add_merge_command(commands)
    add_soak_command(commands)
    return parser


def add_input_limit(parser: Any) -> None:
    from retrain_bench.results.reading import DEFAULT_INPUT_LIMIT_MB

    parser.add_argument(
        "--max-input-mb",
        type=int,
        default=None,
        metavar="MIB",
        help=f"refuse a run file larger than this, before or after gunzip. Default: {DEFAULT_INPUT_LIMIT_MB}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    from retrain_bench.cli.streams import StdoutClosed, prepare_streams

    prepare_streams()
    args = make_parser().parse_args(argv)
    if args.command != "soak":  # the soak takes a signal held since start-up as its stop request
        early_signals.release()
    try:
        if getattr(args, "max_input_mb", None) is not None:
            from retrain_bench.results.reading import set_input_limit

            set_input_limit(args.max_input_mb)
        code: int = args.run(args)
        sys.stdout.flush()
    except StdoutClosed:
        print(
            f"retrain-bench: error: {args.command}: standard output is closed, so nothing was written; "
            "redirect it to a file (or pass --out where the command has it)",
            file=sys.stderr,
        )
        return 1
    except BenchError as exc:
        # Redacted when made; its exit code: 2 for bad input, 1 for an output that could not be written.
        print(f"retrain-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        early_signals.release()
    return code
