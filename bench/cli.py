"""``python -m bench`` / ``retrain-bench``: commands over the suite's JSON and cases.

Every user error is a ``BenchError``, caught once here: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cases import CASES, DEFAULT_CASES
from bench.errors import BenchError


def load_run(path: str) -> dict[str, Any]:
    """A saved run, checked against the schema; BenchError naming the file and the problem."""
    import jsonschema

    from bench.results import validate

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise BenchError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise BenchError(f"{path}: not valid JSON ({exc}); pass a file written with --benchmark-json") from None
    if not isinstance(document, dict) or "benchmarks" not in document:
        raise BenchError(
            f"{path}: not pytest-benchmark JSON (no 'benchmarks'); pass a file written with --benchmark-json"
        )
    _check_schema_version(path, document)
    try:
        validate(document)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise BenchError(f"{path}: does not match the retrain-bench schema at {where}: {exc.message}") from None
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_schema_version(path: str, document: dict[str, Any]) -> None:
    """Name an unsupported schema version plainly, before the schema's generic "1 was expected"."""
    from bench.results import SCHEMA

    records = [document.get("retrain_bench")]
    for benchmark in document["benchmarks"] if isinstance(document["benchmarks"], list) else []:
        extra = benchmark.get("extra_info") if isinstance(benchmark, dict) else None
        records.append(extra.get("retrain_bench") if isinstance(extra, dict) else None)
    found = {r.get("schema") for r in records if isinstance(r, dict)}
    other = sorted(v for v in found if isinstance(v, int) and not isinstance(v, bool) and v != SCHEMA)
    if other:
        raise BenchError(
            f"{path}: written with retrain-bench JSON schema {other[0]}; this release reads schema {SCHEMA}: "
            "use the release that wrote it, or re-run the benchmark"
        )


def cmd_cases(args: argparse.Namespace) -> int:
    for case in CASES.values():
        default = "" if case.name in DEFAULT_CASES else "  (not run by default)"
        grid = ",".join(f"{c:g}" for c in case.grid)
        print(f"{case.name:<9} {case.hash}  rows={case.rows} grid=[{grid}] drift={case.drift}{default}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    for path in args.files:
        document = load_run(path)
        print(f"{path}: ok, {len(document['benchmarks'])} benchmarks")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrain-bench", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cases = commands.add_parser("cases", help="list the cases with their hashes")
    cases.set_defaults(run=cmd_cases)
    validate = commands.add_parser("validate", help="check saved runs against the JSON schema")
    validate.add_argument("files", nargs="+", metavar="RUN.json")
    validate.set_defaults(run=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except BenchError as exc:
        print(f"retrain-bench: error: {exc}", file=sys.stderr)
        return 2
    return code
