"""The CLI's standard streams: a terminal that cannot show '±' and a closed stdout.

``report`` and ``compare`` print ``±``, ``×``, ``…`` and ``–``. Under ``PYTHONIOENCODING=ascii`` (or a
``C`` locale on an old Python) printing them raised ``UnicodeEncodeError``; now every character the
stream's encoding lacks is written as its ASCII spelling (``+/-``, ``x``, ``...``), or ``?``.

A stdout closed before the start (``retrain-bench export run.json >&-``) is ``None`` in Python, and
``print`` then writes nothing without a word: the command exited 0 having written nothing. Now the
first write to it is a ``StdoutClosed`` and the command exits 1.
"""

from __future__ import annotations

import codecs
import io
import sys

#: The non-ASCII characters the CLI prints, spelled in ASCII.
ASCII_SPELLINGS = {
    "±": "+/-",
    "×": "x",
    "…": "...",
    "–": "-",
    "—": "-",
    "−": "-",
    "≥": ">=",
    "≤": "<=",
    "≈": "~",
    "µ": "u",
    "·": ".",
    "→": "->",
    "←": "<-",
    "Δ": "delta ",
    "σ": "sigma",
    "✓": "ok",
    "✗": "x",
}
HANDLER = "retrain-bench-ascii"


def _spell(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    return "".join(ASCII_SPELLINGS.get(c, "?") for c in text), error.end


codecs.register_error(HANDLER, _spell)


class StdoutClosed(OSError):
    """Something was to be printed on a standard output that is closed."""


class _Closed(io.TextIOBase):
    def write(self, text: str) -> int:
        raise StdoutClosed("standard output is closed")

    def flush(self) -> None:
        pass


def prepare_streams() -> None:
    """ASCII spellings where the encoding lacks a character; a closed stdout that says so when written."""
    if sys.stdout is None:
        sys.stdout = _Closed()
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        if stream is None or encoding is None:
            continue
        try:
            "".join(ASCII_SPELLINGS).encode(encoding)
        except (UnicodeEncodeError, LookupError):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors=HANDLER)
