"""``--platform`` values: ``NAME`` (the main environment) or ``NAME@VERSION`` (that SDK version, in its own).

``parse_specs`` checks, in this order and before any round: the syntax, the platform's name, one
version per spec and no spec twice; whether the version can run on the target (``Sdk.floors``,
e.g. ``kfp@2.16.1`` on ``local``); and whether the version exists, by asking the package index
(PEP 691 JSON, answers cached under the state directory). Each failure is one ``BenchError`` line.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from retrain_bench.errors import BenchError
from retrain_bench.measure.promapi import redact_url
from retrain_bench.platforms import registry

# Defined beside the SDKs, which the registry reads (it orders specs by it); still imported from here.
from retrain_bench.platforms.sdks import version_order as version_order

#: uv's own variables for the index it installs from, so versions are checked where they are installed from.
INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL")
DEFAULT_INDEX = "https://pypi.org/simple"
#: An answer younger than this is trusted even for a version it lacks (it was just asked).
FRESH_S = 600.0
INDEX_TIMEOUT_S = 20.0


@dataclasses.dataclass(frozen=True)
class PlatformSpec:
    platform: str
    #: None: the platform as installed in the main environment.
    version: str | None = None

    @property
    def label(self) -> str:
        """The spec as written in test ids and tables: ``flyte`` or ``flyte@1.15.4``."""
        return self.platform if self.version is None else f"{self.platform}@{self.version}"


def platform_of(label: str) -> str:
    """The platform's name of a spec's label: ``flyte@1.15.4`` -> ``flyte``."""
    return label.partition("@")[0]


class VersionSource(Protocol):
    def versions(self, package: str, *, refresh: bool) -> tuple[Version, ...]: ...


def parse_specs(
    text: str,
    known: Sequence[str],
    *,
    target: str,
    index: VersionSource | None = None,
) -> tuple[PlatformSpec, ...]:
    """The specs of a comma list, in order; ``index`` checks that versions exist (None: not checked)."""
    specs: list[PlatformSpec] = []
    seen: dict[tuple[str, Version | None], str] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        spec, version = _parse_one(item, known)
        identity = (spec.platform, version)
        if identity in seen:
            raise BenchError(f"--platform: {item!r} is the same as {seen[identity]!r}; give each platform spec once")
        seen[identity] = item
        specs.append(spec)
    for spec in specs:
        _check_runs_on(spec, target)
    if index is not None:
        for spec in specs:
            _check_exists(spec, index)
    return tuple(specs)


def _parse_one(item: str, known: Sequence[str]) -> tuple[PlatformSpec, Version | None]:
    name, at, raw = item.partition("@")
    name = name.strip()
    if not name:
        raise BenchError(f"--platform: {item!r} is not NAME or NAME@VERSION (e.g. flyte or flyte@1.15.4)")
    if name not in known:
        raise BenchError(f"--platform: unknown {name!r}; choose from {', '.join(known)}")
    if not at:
        return PlatformSpec(name), None
    sdk = registry.sdk_of(name)
    if sdk is None:
        raise BenchError(f"--platform: {name} has no SDK to pin, so {item!r} cannot take a version; write {name}")
    try:
        version = Version(raw.strip())
    except InvalidVersion:
        raise BenchError(
            f"--platform: {item!r}: {raw.strip()!r} is not an exact version of {sdk.package} (e.g. {name}@1.2.3)"
        ) from None
    return PlatformSpec(name, raw.strip()), version


def _check_runs_on(spec: PlatformSpec, target: str) -> None:
    if spec.version is None:
        return
    sdk = registry.sdk_of(spec.platform)
    floor = sdk.floor(target) if sdk is not None else None
    if floor is not None and Version(spec.version) < Version(floor.version):
        raise BenchError(
            f"--platform: {spec.label} cannot run on the {target} target: {floor.missing};"
            f" the first version that has them is {floor.version}"
        )


def _check_exists(spec: PlatformSpec, index: VersionSource) -> None:
    if spec.version is None:
        return
    sdk = registry.sdk_of(spec.platform)
    assert sdk is not None  # _parse_one refused a version for a platform without one
    package = sdk.package
    wanted = Version(spec.version)
    versions = index.versions(package, refresh=False)
    if wanted not in versions:
        versions = index.versions(package, refresh=True)  # released since the answer was cached?
    if wanted not in versions:
        raise BenchError(
            f"--platform: {package} has no version {spec.version}; the nearest are "
            + ", ".join(str(v) for v in nearest(versions, wanted))
        )


def nearest(versions: Sequence[Version], wanted: Version, each_side: int = 2) -> tuple[Version, ...]:
    """Up to ``each_side`` versions just below ``wanted`` and as many just above, in order; pre-releases
    only when ``wanted`` is one (as installers choose)."""
    ordered = sorted({v for v in versions if wanted.is_prerelease or not v.is_prerelease})
    at = bisect.bisect_left(ordered, wanted)
    return tuple(ordered[max(0, at - each_side) : at + each_side])


class PackageIndex:
    """Released versions of a package from a PEP 691 simple index, cached as JSON under ``cache_dir``."""

    def __init__(self, cache_dir: Path, url: str | None = None) -> None:
        self.cache_dir = cache_dir
        self.url = (url or next(filter(None, map(os.environ.get, INDEX_VARIABLES)), DEFAULT_INDEX)).rstrip("/")

    def cache_file(self, package: str) -> Path:
        # One cache per index: two indexes need not agree on what exists.
        return self.cache_dir / hashlib.sha256(self.url.encode()).hexdigest()[:16] / f"{package}.json"

    def versions(self, package: str, *, refresh: bool) -> tuple[Version, ...]:
        cache = self.cache_file(package)
        cached = self._cached(cache)
        if cached is not None and (not refresh or time.time() - cached[0] < FRESH_S):
            return cached[1]
        try:
            found = self._ask(package)
        except BenchError:
            if cached is not None:
                return cached[1]  # offline: the last answer is the best there is
            raise
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"asked": time.time(), "versions": [str(v) for v in found]}))
        return found

    def _cached(self, path: Path) -> tuple[float, tuple[Version, ...]] | None:
        try:
            data = json.loads(path.read_text())
            return float(data["asked"]), tuple(Version(v) for v in data["versions"])
        except (OSError, ValueError, KeyError, TypeError, InvalidVersion):
            return None

    def _ask(self, package: str) -> tuple[Version, ...]:
        url = f"{self.url}/{package}/"
        # PEP 691: the JSON form of the simple API, which PyPI and its mirrors serve on request.
        request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        try:
            with urllib.request.urlopen(request, timeout=INDEX_TIMEOUT_S) as response:
                data = json.load(response)
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise BenchError(
                f"cannot check which versions of {package} exist: the package index {redact_url(url)} did not"
                f" answer ({reason}); connect to it, or set UV_DEFAULT_INDEX to one that answers"
            ) from None
        return _released(data)


def _released(data: dict[str, object]) -> tuple[Version, ...]:
    """Versions with at least one file that is not yanked (PEP 592), read from the files' names."""
    live: set[Version] = set()
    files = data.get("files")
    for file in files if isinstance(files, list) else ():
        if not isinstance(file, dict) or file.get("yanked"):
            continue
        name = str(file.get("filename", ""))
        try:
            live.add(parse_wheel_filename(name)[1] if name.endswith(".whl") else parse_sdist_filename(name)[1])
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue  # eggs and installers of old releases: not installable by uv anyway
    return tuple(sorted(live))
