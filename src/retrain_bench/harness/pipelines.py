"""Where the benchmark's pipeline code lives (``bench/``), and how a launcher imports it.

The pipelines (``bench/flyte/workflow.py``, ``bench/kfp/pipeline.py``) are not installed: they are
the benchmark, beside ``bench/test_retraining.py`` in the repository. The harness finds that
directory in its own process and hands it to each launcher, which imports the package ``bench``
from there by location. Nothing else of the repository joins the launcher's import path, so
neither a non-editable install nor a repository folder that shares a name with a real
distribution (``docker/``, ``fixtures/``) changes what the round imports.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from retrain_bench.errors import BenchError
from retrain_bench.platforms import registry

PACKAGE = "bench"
#: what makes a directory the benchmark's: the benchmark test itself
MARKER = "test_retraining.py"


def find_pipelines(platforms: Sequence[str], cwd: Path | None = None) -> Path | None:
    """The ``bench`` directory for rounds of ``platforms``: the one this process imports (pytest put
    the repository's root on its path for ``conftest.py``, or ``PYTHONPATH`` names it), else
    ``./bench``. None when no platform needs it; ``BenchError`` when one does and there is none."""
    if not any(registry.platform(p).needs_pipelines for p in platforms):
        return None
    candidates = [*_importable(), (cwd or Path.cwd()) / PACKAGE]
    for candidate in candidates:
        if (candidate / MARKER).is_file():
            return candidate.resolve()
    raise BenchError(
        f"cannot find the benchmark's pipelines (a {PACKAGE}/ directory holding {MARKER}) for "
        f"{', '.join(p for p in platforms if registry.platform(p).needs_pipelines)}: "
        "run from the repository's root, where `pytest bench/` finds them"
    )


def _importable() -> list[Path]:
    """Where ``import bench`` would load from here, without importing it (the plugin asks before
    collection). A distribution of the same name elsewhere lacks the marker and is passed over."""
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None:
        return [Path(p) for p in getattr(loaded, "__path__", ())]
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return []
    return [Path(p) for p in (spec.submodule_search_locations or ())] if spec else []


def import_pipelines(directory: Path) -> None:
    """Import the package ``bench`` from ``directory`` by location, so ``bench.flyte.workflow`` and
    ``bench.kfp.pipeline`` resolve inside it and nothing beside it becomes importable."""
    spec = importlib.util.spec_from_file_location(
        PACKAGE, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"{directory} is not a Python package (no __init__.py)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[PACKAGE]
        raise
