"""Run the KFP pipeline with ``kfp.local``: a subprocess per task, this interpreter, no venvs."""

from __future__ import annotations

from pathlib import Path

from retrain_bench.workload.cases import Case


def prepare() -> None:
    """Import kfp and the pipeline: start-up work the harness keeps out of the timer."""
    import kfp.local  # noqa: F401

    import bench.kfp.pipeline  # noqa: F401


def run(case: Case, workdir: Path) -> None:
    from kfp import local

    from bench.kfp.pipeline import retrain

    # Artifacts (the parquet datasets, the model) land under the round's own directory, which
    # the harness removes with the round; tests that inspect them pass their own.
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(workdir / "kfp-outputs"),
        enable_caching=False,
        raise_on_error=True,
    )
    # The pipeline has no outputs of its own: the round's outcome is read from the task stamps.
    retrain(case_json=case.to_json(), grid=list(case.grid))
