"""PromQL text: literals escaped for RE2 and for PromQL strings, label matchers, durations.

Two layers of escaping meet in ``pod=~"..."``: the pattern is RE2 (fully anchored by PromQL:
``pod=~"ab"`` means ``^(?:ab)$``), and the pattern sits in a double-quoted PromQL string whose
backslashes and quotes must be escaped again. ``escape_re2`` does the first layer and
``escape_for_promql`` the second; ``pod_matcher`` and ``label_matcher`` do both.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

from retrain_bench.errors import BenchError

# Go's regexp.QuoteMeta set. re.escape would also be accepted (Go reads any escaped ASCII
# non-alphanumeric as itself) but it escapes '-' and spaces, which clutters every pod pattern.
_RE2_META = frozenset("\\.+*?()|[]{}^$")
# Escapes a PromQL double-quoted string understands (Go's strconv rules).
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Python accepts these but RE2 has no lookaround and no backreferences: Prometheus would reject
# the query later, far from the option that caused it.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


def escape_re2(literal: str) -> str:
    """An RE2 pattern matching exactly ``literal`` (what Go's ``regexp.QuoteMeta`` gives)."""
    return "".join("\\" + c if c in _RE2_META else c for c in literal)


def escape_for_promql(text: str) -> str:
    """``text`` (e.g. an RE2 pattern) as the inside of a double-quoted PromQL string."""
    out = []
    for c in text:
        if c in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return "".join(out)


def label_matcher(label: str, pattern: str) -> str:
    """``label=~"pattern"``, the pattern escaped for the PromQL string (not for RE2)."""
    return f'{label}=~"{escape_for_promql(pattern)}"'


def label_equals(label: str, value: str) -> str:
    """``label="value"``, the value escaped for the PromQL string."""
    return f'{label}="{escape_for_promql(value)}"'


def names_pattern(names: Sequence[str], *, prefix: bool = False) -> str:
    """An RE2 pattern matching exactly these names, or with ``prefix`` any ``<name>-<anything>``."""
    if not names or any(not n for n in names):
        raise ValueError("names must be non-empty strings")
    alternatives = "|".join(escape_re2(n) for n in names)
    if prefix:
        return f"(?:{alternatives})-.*"
    return alternatives


def pod_matcher(names: Sequence[str], *, prefix: bool = False) -> str:
    """``pod=~"..."`` matching exactly these pods, or with ``prefix`` the pods of these runs.

    A run ``ab`` owns ``ab-n0-0`` but never ``abc-1`` or ``xab-1``: PromQL anchors the pattern.
    """
    return label_matcher("pod", names_pattern(names, prefix=prefix))


def check_regex(pattern: str, option: str) -> str:
    """``pattern`` if Python can compile it and it uses no construct RE2 lacks; else BenchError."""
    if _NOT_RE2.search(pattern):
        raise BenchError(
            f"{option}: {pattern!r} uses lookaround or a backreference, which PromQL's RE2 does not support"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning on '[[' is Python's concern, not RE2's
            re.compile(pattern)
    except re.error as exc:
        raise BenchError(f"{option}: {pattern!r} is not a valid regular expression ({exc})") from None
    return pattern


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: str) -> float | None:
    """Seconds of a Prometheus duration such as ``10s``, ``1m30s`` or ``500ms``; None if it is not one."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def duration(seconds: float) -> str:
    """A PromQL duration: ``30s``, or ``1500ms`` when not whole seconds."""
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"duration must be positive, got {seconds!r}")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
