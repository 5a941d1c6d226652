"""What an SDK is to the suite: the package a platform runs on and what its versions need.

Each platform's own value is its definition's ``Platform.sdk`` (``platforms/<name>/definition.py``), read
through ``registry.sdk_of``; ``--platform NAME@VERSION`` (``specs.py``) and the platform environments
(``environments.py``) ask it. A platform without one (bare Python) has no SDK to pin. The figures come from
running this project's own pipeline under each version on the local target (``docs/environments.md``).
"""

from __future__ import annotations

import dataclasses

# packaging is imported where a version is compared, not here: every platform's definition imports this
# module, and a launcher imports its definition (packaging.utils brings packaging.tags and sysconfig).


@dataclasses.dataclass(frozen=True)
class Floor:
    """The first SDK version that runs the pipeline on a target, and what the older ones lack."""

    version: str
    missing: str


@dataclasses.dataclass(frozen=True)
class LetGo:
    """Pins of the project's constraints an SDK version older than ``below`` cannot accept."""

    below: str
    pins: tuple[str, ...]
    why: str


@dataclasses.dataclass(frozen=True)
class Sdk:
    platform: str
    #: The distribution pinned in an environment (``flytekit``, not the platform's name).
    package: str
    #: Per target: versions below the floor cannot run the pipeline there and are refused up front.
    floors: tuple[tuple[str, Floor], ...] = ()
    let_go: tuple[LetGo, ...] = ()
    #: The version ``--platform NAME`` runs when the SDK is not part of the main environment (it
    #: conflicts with it, or would weigh on every user): such a platform always runs in an
    #: environment of its own (``environments.py``). None: ``NAME`` runs in the main environment.
    own_version: str | None = None
    #: The platform's own constraints file, relative to the repository root: its pins replace the
    #: main file's pins of the same names and add the packages only this SDK brings, so its
    #: environment is as reproducible as the main one without editing the main file.
    constraints: str | None = None
    #: Packages its own environment needs beside the SDK and the workload (a database driver of its
    #: control plane, ``--target=server``), pinned by ``constraints``.
    requires: tuple[str, ...] = ()

    def floor(self, target: str) -> Floor | None:
        return dict(self.floors).get(target)

    def released_pins(self, version: str) -> frozenset[str]:
        """Constraint names to drop for ``version``: the SDK's own pin, and those it cannot accept."""
        from packaging.utils import canonicalize_name
        from packaging.version import Version

        wanted = Version(version)
        names = {self.package}
        for rule in self.let_go:
            if wanted < Version(rule.below):
                names.update(rule.pins)
        return frozenset(canonicalize_name(n) for n in names)


def version_order(version: str | None) -> tuple[int, ...]:
    """The main environment first, then versions in release order (1.9 before 1.15)."""
    from packaging.version import InvalidVersion, Version

    if version is None:
        return ()
    try:
        return (1, *Version(version).release)
    except InvalidVersion:
        return (2,)


#: What the workload itself imports in an environment (retrain_bench goes in without dependencies):
#: scipy for the data_drift trigger (workload/triggers.py imports it directly, not only through
#: scikit-learn); the MLflow client for the registry step (workload/registry.py, only under
#: ``--registry``), in every environment so one serves runs with and without it (its key does not
#: depend on the option). The client is mlflow-skinny plus skops (the sklearn flavour's default
#: serialisation), not mlflow: that one adds the server's packages (Flask, SQLAlchemy, alembic,
#: matplotlib, ...), which the session's server runs from the main environment. All pinned by the
#: main constraints.txt.
WORKLOAD_PACKAGES: tuple[str, ...] = (
    "scikit-learn",
    "pandas",
    "pyarrow",
    "numpy",
    "joblib",
    "scipy",
    "mlflow-skinny",
    "skops",
)
