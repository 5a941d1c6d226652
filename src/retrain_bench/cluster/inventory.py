"""The platform inventory: which pods make up each platform, for the cluster's ``platform`` scope.

Data, not code: ``src/retrain_bench/measure/profiles/platform-inventory.yaml`` by default, or the user's
file (``--platform-inventory FILE``) with the same shape::

    flyte:
      description: flyte-binary, its PostgreSQL and MinIO, the task pods
      namespaces: [flyte, flytesnacks-development]
      pod_regex: optional, fully anchored RE2 over those namespaces' pod names

Loading is strict (unknown keys, empty lists, bad regexes fail with a ``BenchError`` naming the
file and the entry). The inventory is recorded as it was used (run level of the JSON, the report).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from retrain_bench.errors import BenchError
from retrain_bench.measure.prometheus import Scope
from retrain_bench.measure.promql import check_regex

_KEYS = {"description": False, "namespaces": True, "pod_regex": False}


@dataclasses.dataclass(frozen=True)
class PlatformInventory:
    platform: str
    description: str
    namespaces: tuple[str, ...]
    pod_regex: str | None = None

    def scope(self) -> Scope:
        return Scope(self.namespaces, pod_regex=self.pod_regex, name="platform")

    def as_dict(self) -> dict[str, Any]:
        return {"description": self.description, "namespaces": list(self.namespaces), "pod_regex": self.pod_regex}


@dataclasses.dataclass(frozen=True)
class Inventory:
    platforms: Mapping[str, PlatformInventory]
    source: str
    sha256: str

    def of(self, platform: str) -> PlatformInventory:
        try:
            return self.platforms[platform]
        except KeyError:
            raise BenchError(
                f"{self.source}: the platform inventory has no entry {platform!r}; add one (namespaces, pod_regex)"
            ) from None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "platforms": {name: entry.as_dict() for name, entry in self.platforms.items()},
        }


def default_inventory_path() -> Path:
    return Path(str(resources.files("retrain_bench.measure") / "profiles" / "platform-inventory.yaml"))


def load_inventory(
    path: str | Path | None, known: Collection[str], namespaces: Mapping[str, Sequence[str]] | None = None
) -> Inventory:
    """The inventory in ``path`` (None: the packaged one) of some of the ``known`` platforms (those that
    run on a cluster, as the registry says); BenchError naming the file and the entry.

    ``namespaces``: each platform's namespaces as its options say (``ClusterSide.namespaces``: Flyte's
    ``--flyte-project``/``--flyte-domain``/``--flyte-namespace``, ``--kfp-namespace``). They replace the
    packaged file's, which are the defaults; a user's file is taken as written."""
    source = Path(path) if path is not None else default_inventory_path()
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise BenchError(f"{source}: cannot read the platform inventory ({exc.strerror or exc})") from None
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise BenchError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
    inventory = parse_inventory(document, str(source), known, hashlib.sha256(raw).hexdigest())
    if path is not None or not namespaces:
        return inventory
    platforms = {
        name: dataclasses.replace(entry, namespaces=tuple(namespaces[name])) if namespaces.get(name) else entry
        for name, entry in inventory.platforms.items()
    }
    return dataclasses.replace(inventory, platforms=platforms)


def parse_inventory(document: Any, source: str, known: Collection[str], sha256: str = "") -> Inventory:
    if not isinstance(document, dict) or not document:
        raise BenchError(f"{source}: expected a mapping of platform name -> namespaces (and pod_regex)")
    platforms: dict[str, PlatformInventory] = {}
    for name, entry in document.items():
        where = f"{source}: platform {name!r}"
        if name not in known:
            raise BenchError(f"{where}: unknown platform; choose from {', '.join(known)}")
        if not isinstance(entry, dict):
            raise BenchError(f"{where}: expected a mapping with 'namespaces'")
        unknown = [k for k in entry if k not in _KEYS]
        if unknown:
            raise BenchError(f"{where}: unknown key {unknown[0]!r}; expected {', '.join(_KEYS)}")
        namespaces = entry.get("namespaces")
        if (
            not isinstance(namespaces, list)
            or not namespaces
            or not all(isinstance(n, str) and n.strip() for n in namespaces)
        ):
            raise BenchError(f"{where}: 'namespaces' must be a non-empty list of namespace names")
        if len(set(namespaces)) != len(namespaces):
            raise BenchError(f"{where}: 'namespaces' lists a namespace twice")
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise BenchError(f"{where}: 'description' must be a string")
        regex = entry.get("pod_regex")
        if regex is not None and (not isinstance(regex, str) or not regex):
            raise BenchError(f"{where}: 'pod_regex' must be a non-empty string (leave it out for every pod)")
        if regex is not None:
            check_regex(regex, f"{where}: pod_regex")
        platforms[name] = PlatformInventory(name, " ".join(description.split()), tuple(namespaces), regex)
    return Inventory(platforms, source, sha256)
