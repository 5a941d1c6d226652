"""The ``--format`` vocabulary, light enough for the parser to import (no rendering code)."""

from __future__ import annotations

from collections.abc import Sequence

#: One ``--format`` vocabulary for every command that prints tables (report, compare, resources): the
#: same name means the same thing wherever a command accepts it. ``export`` is apart: its ``--format``
#: names the consumer whose JSON schema it writes (github-action-benchmark, bmf).
FORMATS = {
    "text": "aligned plain-text tables, for a terminal",
    "md": "Markdown, for a job summary, a PR comment or a file",
    "csv": "long format, one line per value, numbers at full precision",
    "json": "the same values as data, numbers at full precision",
}
REPORT_FORMATS = ("md", "text", "csv", "json")
COMPARE_FORMATS = ("md", "text", "csv", "json")
RESOURCES_FORMATS = ("text", "json")
#: The file ``report --out-dir`` writes for each format.
REPORT_SUFFIX = {"md": "md", "text": "txt", "csv": "csv", "json": "json"}


def format_help(choices: Sequence[str], default: str) -> str:
    return "; ".join(f"{name}: {FORMATS[name]}" for name in choices) + f". Default: {default}"
