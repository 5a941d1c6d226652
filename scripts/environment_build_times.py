"""What a platform environment costs to get: cold (empty uv cache), warm (uv cache filled) and reused.

    python scripts/environment_build_times.py [--platform flyte] [--version 1.15.4] [--warm-builds 3]

Cold downloads everything from the index into a fresh uv cache; warm builds a fresh environment from
that cache (what a changed constraints file costs); reused asks again for an environment already
built (what every later session costs). Prints seconds, medians where there are several builds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from retrain_bench.platforms import registry
from retrain_bench.platforms.environments import EnvironmentRequest, ensure

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--platform", default="flyte", choices=sorted(n for n in registry.names() if registry.sdk_of(n))
    )
    parser.add_argument("--version", default="1.15.4")
    parser.add_argument("--warm-builds", type=int, default=3)
    args = parser.parse_args()
    sdk = registry.sdk_of(args.platform)
    assert sdk is not None  # the parser's choices have one
    request = EnvironmentRequest(sdk, args.version, REPO / "constraints.txt", REPO)
    with tempfile.TemporaryDirectory(prefix="retrain-bench-build-times-") as tmp:
        os.environ["UV_CACHE_DIR"] = str(Path(tmp) / "uv-cache")
        cold = ensure(request, Path(tmp) / "cold")
        warm = [ensure(request, Path(tmp) / f"warm-{i}").build_s for i in range(args.warm_builds)]
        reused = [ensure(request, Path(tmp) / "cold").build_s for _ in range(5)]
    print(f"{request.label}: {len(cold.freeze)} packages, freeze {cold.freeze_hash[:19]}")
    print(f"cold build (empty uv cache): {cold.build_s:.1f} s")
    print(f"warm build (uv cache filled), median of {len(warm)}: {statistics.median(warm):.1f} s  {warm}")
    print(f"reused, median of {len(reused)}: {statistics.median(reused):.3f} s")


if __name__ == "__main__":
    main()
