"""GitHub Actions' job summary: ``compare``'s verdict and table, in Markdown, on the run's page.

GitHub sets ``GITHUB_STEP_SUMMARY`` to a file per step and renders whatever Markdown the step
appends to it on the workflow run's summary page (GitHub's "Adding a job summary" docs). Outside
Actions the variable is unset and nothing is written.

The summary is best effort: a file that cannot be appended to (a missing directory, a full disk) is
one warning on stderr, and the command's exit code stays the verdict's (0 ok, 1 regression).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from retrain_bench.redaction import redact

VARIABLE = "GITHUB_STEP_SUMMARY"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def append_job_summary(
    markdown: str, environ: Mapping[str, str] = os.environ, warn: Callable[[str], None] = _stderr
) -> Path | None:
    """Append to the job summary file when there is one; the path written, or None (also when it
    could not be written: ``warn`` hears why)."""
    target = environ.get(VARIABLE)
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as summary:
            summary.write(markdown if markdown.endswith("\n") else markdown + "\n")
    except OSError as exc:
        warn(
            redact(
                f"retrain-bench: warning: {VARIABLE}={target}: cannot append the job summary "
                f"({exc.strerror or exc}); the verdict and its exit code stand"
            )
        )
        return None
    return path
