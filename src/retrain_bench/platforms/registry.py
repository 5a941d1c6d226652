"""The one registry of platforms: the rest of the suite asks it and names no platform itself.

The built-in platforms are the packages ``platforms/<name>/`` with a ``definition.py``. Another
distribution adds one through the entry point group ``retrain_bench.platforms``: the entry
point's name is the platform's name, its object a ``Platform``
(``src/retrain_bench/platforms/definition.py``), e.g. in its ``pyproject.toml``::

    [project.entry-points."retrain_bench.platforms"]
    prefect = "retrain_bench_prefect.definition:PREFECT"

Loading is strict: a broken or clashing registration is a ``BenchError`` naming it, not a
platform that silently goes missing.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from retrain_bench.errors import BenchError
from retrain_bench.platforms.definition import Platform
from retrain_bench.platforms.sdks import Sdk, version_order

ENTRY_POINT_GROUP = "retrain_bench.platforms"
#: names land in pytest ids, log file names and option names (``--<name>-kube-context``)
NAME = re.compile(r"[a-z][a-z0-9_]*")


#: The built-in platforms are the subpackages of ``retrain_bench.platforms`` with a ``definition``
#: module; each defines one ``Platform`` named after its package. A launcher imports only its own.
PACKAGE = Path(__file__).parent


@functools.cache
def _builtin_names() -> tuple[str, ...]:
    return tuple(sorted(p.parent.name for p in PACKAGE.glob("*/definition.py")))


def _builtin(name: str) -> Platform:
    module = importlib.import_module(f"{__package__}.{name}.definition")
    found = [value for value in vars(module).values() if isinstance(value, Platform)]
    if len(found) != 1 or found[0].name != name:
        raise BenchError(f"{module.__name__} must define exactly one Platform named {name!r}")
    _check_sdk(found[0], module.__name__)
    return found[0]


def _check_sdk(platform: Platform, where: str) -> None:
    # An environment is labelled and kept by its SDK's platform name (``flyte@1.15.4``): one naming
    # another platform would mislabel its rounds' environments and share their cache.
    if platform.sdk is not None and platform.sdk.platform != platform.name:
        raise BenchError(
            f"{where}: the platform {platform.name!r} has an Sdk of the platform {platform.sdk.platform!r};"
            " name its Sdk after it"
        )


def _registered() -> Iterable[tuple[str, Platform]]:
    # Imported here: importlib.metadata cost a launcher of a built-in platform about half a second
    # of start-up on a loaded 2-core machine, and such a launcher never needs the entry points.
    import importlib.metadata

    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"platform entry point {entry.name!r} ({entry.value})"
        try:
            found = entry.load()
        except Exception as exc:  # a third party's import error, whatever its type
            raise BenchError(
                f"{where} failed to load: {type(exc).__name__}: {exc}; fix or uninstall the distribution providing it"
            ) from None
        if not isinstance(found, Platform):
            raise BenchError(f"{where} is a {type(found).__name__}, not a retrain_bench Platform")
        if found.name != entry.name:
            raise BenchError(f"{where} defines the platform {found.name!r}: name the entry point after it")
        _check_sdk(found, where)
        yield entry.name, found


@functools.cache
def platforms() -> Mapping[str, Platform]:
    """Every platform by name, in display order (``order``, then name)."""
    found: dict[str, Platform] = {}
    for name, platform in (*((n, _builtin(n)) for n in _builtin_names()), *_registered()):
        if not NAME.fullmatch(name):
            raise BenchError(f"platform {name!r}: a name is lowercase letters, digits and '_', starting with a letter")
        if name in found and found[name] is not platform:
            raise BenchError(f"platform {name!r} is registered twice; uninstall one of the distributions providing it")
        found[name] = platform
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


def platform(name: str) -> Platform:
    """One platform by name; a built-in one without reading the entry points (the launcher's case)."""
    if NAME.fullmatch(name) and (PACKAGE / name / "definition.py").is_file():
        return _builtin(name)
    try:
        return platforms()[name]
    except KeyError:
        raise BenchError(f"unknown platform {name!r}; choose from {', '.join(platforms())}") from None


def names() -> tuple[str, ...]:
    return tuple(platforms())


def default_names() -> tuple[str, ...]:
    """The platforms a run without ``--platform`` runs on the local target."""
    return tuple(name for name, p in platforms().items() if p.default)


def cluster_names() -> tuple[str, ...]:
    """The platforms that also run on a cluster (the others are local only)."""
    return tuple(name for name, p in platforms().items() if p.cluster is not None)


def server_names() -> tuple[str, ...]:
    """The platforms whose production control plane runs on this machine (``--target=server``)."""
    return tuple(name for name, p in platforms().items() if p.server is not None)


def registry_step_names() -> tuple[str, ...]:
    """The platforms whose pipelines end with the model-registry step (``--registry``), by name."""
    return tuple(sorted(name for name, p in platforms().items() if p.registry_step))


def title(name: str) -> str:
    """How tables print the platform, or a ``NAME@VERSION`` spec ("Flyte 1.15.4"); a saved run may
    name one not installed here: its name then."""
    base, _, version = name.partition("@")
    known = platforms().get(base)
    shown = known.title if known else base
    return f"{shown} {version}" if version else shown


def in_order(present: Iterable[str]) -> tuple[str, ...]:
    """``present`` in display order, each platform's NAME@VERSION specs after its name in release
    order; platforms unknown here (from a saved run) after them, by name."""
    wanted = set(present)
    rank = {name: index for index, name in enumerate(platforms())}

    def order(label: str) -> tuple[int, str, tuple[int, ...]]:
        base, _, version = label.partition("@")
        return (rank.get(base, len(rank)), base, version_order(version or None))

    return tuple(sorted(wanted, key=order))


def reference() -> str | None:
    """The baseline platform every other one is compared with (bare Python), if registered."""
    return next((name for name, p in platforms().items() if p.reference), None)


def ratio_pair() -> tuple[str, str] | None:
    """(numerator, denominator) of the report's ratio row, if a platform asks for one."""
    return next(((name, p.ratio_over) for name, p in platforms().items() if p.ratio_over), None)


def sdk_of(name: str) -> Sdk | None:
    """The SDK a platform runs on (``Platform.sdk``); None: it has none to pin (bare Python)."""
    return platform(name).sdk


def sdk_distributions(only: Iterable[str] | None = None) -> tuple[str, ...]:
    """The SDK distributions whose versions a run records, of ``only`` these platforms or all."""
    chosen = platforms() if only is None else {n: platform(n) for n in only}
    return tuple(dict.fromkeys(d for p in chosen.values() for d in p.sdk_distributions))
