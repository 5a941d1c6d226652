"""Reading a saved run: the file's bytes (plain or gzip), strict JSON with bounded numbers, the schema.

Every problem is a ``BenchError`` naming the file and what to do; no reader of a run parses JSON itself.
"""

from __future__ import annotations

import io
import json
import os
import stat
from typing import Any

from retrain_bench.errors import BenchError
from retrain_bench.names import check_names

#: Past this magnitude a number is no measurement, and sums and squares of it overflow a float.
LARGEST_NUMBER = 1e100
#: The largest run read, in MiB, before or after gunzip: a real run of 7 platforms x 8 cases x 50 rounds is
#: about 20 MiB; /dev/zero or a wrong file would otherwise be read until memory runs out. Raised per command
#: with --max-input-mb (``set_input_limit``).
DEFAULT_INPUT_LIMIT_MB = 256
_limit = {"bytes": DEFAULT_INPUT_LIMIT_MB * 1024 * 1024}
#: gzip's magic bytes: a ``.json.gz`` run (or a compressed file under any name) is read as its content.
GZIP_MAGIC = b"\x1f\x8b"


def load_run(path: str) -> dict[str, Any]:
    """A saved run (plain or gzip), checked against the schema; BenchError naming the file and the problem."""
    import jsonschema

    from retrain_bench.results.contract import validate

    text = read_json_text(path)
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_bounded_float, parse_int=_bounded_int)
    except RecursionError:
        raise BenchError(f"{path}: nested too deeply to be a run; pass a file written with --benchmark-json") from None
    except _TooLarge as exc:
        raise BenchError(f"{path}: {exc}; pass a file written with --benchmark-json") from None
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
    except RecursionError:
        raise BenchError(f"{path}: nested too deeply to be a run; pass a file written with --benchmark-json") from None
    check_names(path, document)  # names are printed raw: no newline, no terminal escape
    check_consistency(path, document)
    return document


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _check_regular(path: str, mode: int) -> None:
    kind = stat.S_IFMT(mode)
    if kind != stat.S_IFREG:
        raise BenchError(f"{path}: not a regular file ({_KINDS.get(kind, 'a special file')}); pass a saved run")


def set_input_limit(megabytes: int) -> None:
    """The largest run (in MiB, after gunzip) every reader of this process accepts."""
    if megabytes < 1:
        raise BenchError(f"--max-input-mb: {megabytes} must be at least 1")
    _limit["bytes"] = megabytes * 1024 * 1024


def read_json_text(path: str) -> str:
    """The file's text: gunzipped when it is gzip, decoded as UTF-8 (JSON's encoding, RFC 8259)."""
    import gzip
    import zlib

    limit = _limit["bytes"]
    too_large = (
        f"{path}: larger than {limit // (1024 * 1024)} MiB, more than a run holds; "
        "pass --max-input-mb to read it anyway"
    )
    try:
        # Before opening: opening a FIFO would wait for a writer.
        _check_regular(path, os.stat(path).st_mode)
        with open(path, "rb") as file:
            _check_regular(path, os.fstat(file.fileno()).st_mode)
            raw = file.read(limit + 1)
    except OSError as exc:
        raise BenchError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise BenchError(too_large)
    if raw.startswith(GZIP_MAGIC):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
                raw = unzipped.read(limit + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise BenchError(f"{path}: a damaged gzip file ({exc}); compress the run again") from None
        if len(raw) > limit:
            raise BenchError(too_large + " (its gunzipped size)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BenchError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "pass a file written with --benchmark-json"
        ) from None


class _TooLarge(ValueError):
    """A number no measurement can be: refused before fsum or a square overflows on it."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _bounded_float(text: str) -> float:
    value = float(text)
    if not abs(value) <= LARGEST_NUMBER:  # also inf, from a literal such as 1e999
        raise _TooLarge(f"the number {text} is too large for a measurement (the limit is {LARGEST_NUMBER:g})")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if abs(value) > LARGEST_NUMBER:
        shown = text if len(text) <= 24 else f"{text[:12]}…({len(text)} digits)"
        raise _TooLarge(f"the number {shown} is too large for a measurement (the limit is {LARGEST_NUMBER:g})")
    return value


def _check_schema_version(path: str, document: dict[str, Any]) -> None:
    """Name an unsupported schema version plainly, before the schema's generic "1 was expected"."""
    from retrain_bench.results.contract import SCHEMA

    run_level = document.get("retrain_bench")
    records = [run_level]
    listed = document["benchmarks"] if isinstance(document["benchmarks"], list) else []
    failed = run_level.get("failed_benchmarks") if isinstance(run_level, dict) else None
    for benchmark in [*listed, *(failed if isinstance(failed, list) else [])]:
        extra = benchmark.get("extra_info") if isinstance(benchmark, dict) else None
        records.append(extra.get("retrain_bench") if isinstance(extra, dict) else None)
    found = {r.get("schema") for r in records if isinstance(r, dict)}
    other = sorted(v for v in found if isinstance(v, int) and not isinstance(v, bool) and v != SCHEMA)
    if other:
        raise BenchError(
            f"{path}: written with retrain-bench JSON schema {other[0]}; this release reads schema {SCHEMA}: "
            "use the release that wrote it, or re-run the benchmark"
        )


def check_consistency(path: str, document: dict[str, Any]) -> None:
    """What the schema cannot say: every benchmark has rounds, and its success rate is its rounds' rate
    (a hand-edited or truncated file would otherwise print ``100% (0/2)`` or drop out of a comparison)."""
    from retrain_bench.results.contract import success_rate

    # results/model.py's benchmarks_of and BenchKey.label, spelled out: model imports this module.
    failed = (document.get("retrain_bench") or {}).get("failed_benchmarks", [])
    for benchmark in [*document["benchmarks"], *failed]:
        record = benchmark["extra_info"]["retrain_bench"]
        version = str(record.get("spec") or "").partition("@")[2]
        column = f"{record['platform']}@{version}" if version else record["platform"]
        label = f"{column}/{record['case']['name']} ({record['target']}, {record['case']['hash']})"
        if not record["rounds"]:
            raise BenchError(f"{path}: {label} has no rounds; a benchmark holds at least one, re-run it")
        recorded, actual = record.get("success_rate"), success_rate(record["rounds"])
        if (recorded is None) != (actual is None) or (
            recorded is not None and actual is not None and abs(recorded - actual) > 1e-9
        ):
            raise BenchError(
                f"{path}: {label}: success_rate {recorded} contradicts its rounds ({_rate(record['rounds'])}); "
                "the file was changed after it was written, re-run it or restore it"
            )


def _rate(rounds: list[dict[str, Any]]) -> str:
    measured = [r for r in rounds if not r["warmup"]]
    return f"{sum(bool(r['ok']) for r in measured)} ok of {len(measured)} measured"
