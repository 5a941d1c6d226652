"""GitHub Actions' job summary: ``compare``'s verdict and table, in Markdown, on the run's page.

GitHub sets ``GITHUB_STEP_SUMMARY`` to a file per step and renders whatever Markdown the step
appends to it on the workflow run's summary page (GitHub's "Adding a job summary" docs). Outside
Actions the variable is unset and nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from retrain_bench.errors import BenchError

VARIABLE = "GITHUB_STEP_SUMMARY"


def append_job_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Append to the job summary file when there is one; the path written, or None."""
    target = environ.get(VARIABLE)
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as summary:
            summary.write(markdown if markdown.endswith("\n") else markdown + "\n")
    except OSError as exc:
        raise BenchError(f"{VARIABLE}={target}: cannot append the job summary ({exc.strerror or exc})") from None
    return path
