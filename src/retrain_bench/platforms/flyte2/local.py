"""Run the Flyte 2 pipeline with ``flyte.run`` in local mode: one process, no server, no network.

Flyte 2.12 writes a local run's metadata (every action's inputs and outputs) under the hard-coded
``/tmp/flyte/metadata/<run name>`` whatever TMPDIR says; only the private ``_Runner`` takes another
place. So the run goes through the public ``flyte.with_runcontext``: its raw data (the parquet
frames, the model) under the round's own directory, and a run name chosen here, so the run's
metadata directory is known before the run starts and removed after it, failed or not. The
shared parents (``/tmp/flyte/metadata``, ``/tmp/flyte``) go too when this run created them and
nothing else is left in them; another process's runs are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from retrain_bench.workload.cases import Case

#: Where flyte 2.12's local runner puts a run's metadata (``flyte._run._Runner._run_local``).
METADATA_ROOT = Path("/tmp/flyte/metadata")


def prepare() -> None:
    """Import flyte and the pipeline, and initialise local mode: start-up, kept out of the timer."""
    # Sentry is used by flyte's CLI and remote paths only; off all the same, the round is offline.
    os.environ.setdefault("FLYTE_DISABLE_TELEMETRY", "true")
    import flyte

    import bench.flyte2.pipeline  # noqa: F401

    # No endpoint: local mode. root_dir joins sys.path; the launcher's cwd is the round's own
    # directory, and naming it spares flyte's search for a project root (a `git rev-parse`).
    flyte.init(root_dir=Path.cwd())


def run(case: Case, workdir: Path) -> tuple[float, float | None]:
    """One local run; (final accuracy, best C), which the harness ignores (it reads the stamps)."""
    import flyte

    from bench.flyte2.pipeline import retrain

    name = f"retrain-bench-{uuid.uuid4().hex[:16]}"
    with _metadata_removed(METADATA_ROOT / name):
        runner = flyte.with_runcontext(name=name, raw_data_path=str(workdir / "flyte2-raw"), disable_run_cache=True)
        done = runner.run(retrain, case.to_json(), list(case.grid))
        if Path(done.url) != METADATA_ROOT / name:
            raise RuntimeError(
                f"flyte wrote the run's metadata to {done.url}, not {METADATA_ROOT / name}:"
                " update METADATA_ROOT in retrain_bench/platforms/flyte2/local.py for this flyte version"
            )
        accuracy, best_c = done.outputs()
    return float(accuracy), None if best_c is None else float(best_c)


@contextlib.contextmanager
def _metadata_removed(metadata: Path) -> Iterator[None]:
    """Remove the run's metadata directory afterwards, and the parents this run created if empty."""
    created = [p for p in (metadata.parent.parent, metadata.parent) if not p.exists()]
    try:
        yield
    finally:
        shutil.rmtree(metadata, ignore_errors=True)
        for parent in reversed(created):
            # Only if empty: another flyte process may have started a run of its own meanwhile.
            with contextlib.suppress(OSError):
                parent.rmdir()
