"""Names read from a run file must be printable: no newline, no terminal escape (issue 26, item 24).

A case named ``"base\\n| injected | row |"`` added rows to ``report``'s Markdown table, and one holding
``ESC ]0;title BEL`` changed the terminal's title when printed. Names are printed raw in tables,
charts' titles and the job summary, so a run holding a control character in one is refused when it
is read, with the name shown escaped (``repr``). Free text (errors, notes, reasons) may hold
newlines and is not a name.
"""

from __future__ import annotations

import re
from typing import Any

from retrain_bench.errors import BenchError

#: C0 and C1 control characters (and DEL): what a terminal or a Markdown table acts on.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Keys whose string values (or lists of strings) name something: benchmarks, groups, platforms, cases.
NAME_KEYS = frozenset(
    {"name", "fullname", "group", "param", "params", "platform", "platforms", "case", "cases", "target"}
    | {"spec", "specs", "label", "key", "order"}
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []


def check_names(path: str, document: Any, where: str = "") -> None:
    """BenchError naming the first key or name in ``document`` that holds a control character."""
    if isinstance(document, list):
        for index, item in enumerate(document):
            check_names(path, item, f"{where}/{index}")
        return
    if not isinstance(document, dict):
        return
    for key, value in document.items():
        at = f"{where}/{key}"
        bad = [str(key)] if CONTROL.search(str(key)) else []
        if key in NAME_KEYS:
            bad += [s for s in _strings(value) if CONTROL.search(s)]
        if bad:
            raise BenchError(
                f"{path}: the name {bad[0]!r} at {at.lstrip('/')} holds a control character; names must be "
                "printable (a newline or a terminal escape would be printed raw): fix the name and re-run"
            )
        check_names(path, value, at)
