"""A platform's own environment: a uv-built virtualenv with one SDK version, cached by a hash of its inputs.

An environment holds the SDK at the requested version, the workload's packages and this project's
``retrain_bench`` (linked from the checkout's ``src/``, without its dependencies), pinned by the
project's ``constraints.txt`` minus the pins that SDK version cannot accept (``Sdk.let_go``), which the
resolver then picks. It lives in
``<envs dir>/<platform>-<version>-<key>/`` and is reused while its key holds: the key hashes the
constraints that apply, the requirements, the Python version and the project's install metadata.
``environment.json`` is written last, so a build cut short is never mistaken for a finished one.
See ``docs/environments.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from retrain_bench.errors import BenchError
from retrain_bench.platforms import definition, registry
from retrain_bench.platforms.sdks import WORKLOAD_PACKAGES, Sdk
from retrain_bench.platforms.specs import PlatformSpec

#: Bump when the layout of an environment changes, so older ones are rebuilt rather than misread.
LAYOUT = 2
#: Overrides the default ``<project>/.retrain-bench/envs`` (CI keeps it outside the clone).
ENVS_DIR_VARIABLE = "RETRAIN_BENCH_ENVS"
RECORD = "environment.json"
BUILD_TIMEOUT_S = 1800.0


@dataclasses.dataclass(frozen=True)
class SdkVersion:
    name: str
    #: None: not installed where it was asked (its rounds then fail and say why)
    version: str | None

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "version": self.version}


@dataclasses.dataclass(frozen=True)
class Environment:
    """A ready environment: its interpreter and what was really installed in it."""

    python: Path
    #: ``uv pip freeze`` of the environment: every distribution but the project (on a ``.pth`` line).
    freeze: tuple[str, ...]
    freeze_hash: str
    sdk: SdkVersion
    #: True when this request built it, False when a cached one was reused.
    built: bool
    #: Seconds this request spent getting the environment: the build, or the reuse check.
    build_s: float

    def launch(self, spec: str) -> definition.Environment:
        """Where the launchers of ``spec``'s rounds run: this environment's interpreter (``Platform.environment``)."""
        return definition.Environment(name=spec, python=str(self.python))

    def to_json(self) -> dict[str, Any]:
        """What the environment really held, for the run level of the JSON (no paths: they are local)."""
        return {
            "sdk": self.sdk.to_json(),
            "freeze_hash": self.freeze_hash,
            "freeze": list(self.freeze),
            "built": self.built,
            "build_s": self.build_s,
        }


@dataclasses.dataclass(frozen=True)
class EnvironmentRequest:
    sdk: Sdk
    version: str
    #: The project's constraints file: exact pins, some of which this SDK version lets go.
    constraints: Path
    #: The repository root: ``pyproject.toml`` and ``src/retrain_bench``.
    project: Path
    #: The interpreter the environment is based on (its Python version is part of the key).
    python: Path = Path(sys.executable)

    @property
    def label(self) -> str:
        return f"{self.sdk.platform}@{self.version}"

    def requirements(self) -> tuple[str, ...]:
        return (f"{self.sdk.package}=={self.version}", *self.sdk.requires, *WORKLOAD_PACKAGES)

    def own_constraints(self) -> Path | None:
        """The platform's own constraints file (``Sdk.constraints``), if it has one."""
        return self.project / self.sdk.constraints if self.sdk.constraints else None

    def kept_constraints(self) -> tuple[str, ...]:
        """The project's pins minus those this SDK version cannot accept and those the platform's own
        file replaces, then the platform's own pins; comments and blanks dropped.

        The own file was frozen from ``Sdk.own_version``'s resolution, so it binds that version only: for
        any other ``NAME@VERSION`` its pins are not applied (``apache-airflow-core==3.3.2`` would make
        ``airflow@3.2.0`` unresolvable) and the main pins it replaces stay released, the resolver then
        choosing what that version accepts; ``freeze`` records what it chose."""
        own_file = self.own_constraints()
        own = _pins(own_file) if own_file else []
        dropped = self.sdk.released_pins(self.version) | {name for name, _ in own}
        applied = own if self.version == self.sdk.own_version else []
        kept = (line for name, line in _pins(self.constraints) if name not in dropped)
        return (*kept, *(line for _, line in applied))

    def inputs(self) -> dict[str, Any]:
        """Everything the environment is made from; its hash is the cache key."""
        return {
            "layout": LAYOUT,
            "constraints": list(self.kept_constraints()),
            "requirements": list(self.requirements()),
            "python": _python_version(self.python),
            # The project is linked, not copied (``_link_project``): its code is the checkout's own at
            # every round, so only where the checkout lives and its metadata decide a rebuild.
            "project": {
                "src": str(self.project.resolve() / "src"),
                "pyproject": _sha256(self.project / "pyproject.toml"),
            },
        }

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.inputs(), sort_keys=True).encode()).hexdigest()


def project_root() -> Path:
    """The repository this ``retrain_bench`` runs from: an environment needs its constraints and ``src/``."""
    root = Path(__file__).resolve().parents[3]
    if not ((root / "constraints.txt").is_file() and (root / "src" / "retrain_bench").is_dir()):
        raise BenchError(
            "NAME@VERSION builds an environment from the repository's constraints.txt and src/, but retrain_bench"
            f" runs from {root}: install it editable from a clone (pip install -e .)"
        )
    return root


def default_envs_dir(project: Path) -> Path:
    return Path(os.environ.get(ENVS_DIR_VARIABLE) or project / ".retrain-bench" / "envs")


def _say(line: str) -> None:
    print(f"[retrain-bench] {line}", file=sys.stderr, flush=True)


def ensure(request: EnvironmentRequest, envs_dir: Path, progress: Callable[[str], None] = _say) -> Environment:
    """The environment ``request`` describes: reused if built before with the same key, else built now.

    Raises ``BenchError`` with one line (uv's own reason) when it cannot be built.
    """
    started = time.perf_counter()
    key = request.key()
    home = envs_dir / f"{request.sdk.platform}-{request.version}-{key[:16]}"
    envs_dir.mkdir(parents=True, exist_ok=True)
    with _locked(envs_dir / f"{home.name}.lock"):
        record = _load(home, key)
        if record is not None:
            return _environment(home, record, built=False, seconds=time.perf_counter() - started)
        shutil.rmtree(home, ignore_errors=True)  # a build cut short, or a record of another layout
        progress(f"building the {request.label} environment ({request.sdk.package}=={request.version}) in {home}")
        failed_log = envs_dir / f"{home.name}.failed.log"
        try:
            record = _build(request, home, key)
        except BenchError as exc:
            _keep_log(home, failed_log)
            shutil.rmtree(home, ignore_errors=True)
            raise BenchError(f"{exc}; uv's output: {failed_log}") from None
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            raise
        seconds = time.perf_counter() - started
        record["build_s"] = seconds
        (home / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        progress(f"built the {request.label} environment in {seconds:.1f} s")
        return _environment(home, record, built=True, seconds=seconds)


def _build(request: EnvironmentRequest, home: Path, key: str) -> dict[str, Any]:
    home.mkdir(parents=True)
    venv = home / "venv"
    python = venv / "bin" / "python"
    constraints = home / "constraints.txt"
    constraints.write_text(
        f"# {request.constraints.name} without the pins {request.label} lets go (its Platform.sdk)\n"
        + "\n".join(request.kept_constraints())
        + "\n"
    )
    log = home / "build.log"
    what = f"cannot build the {request.label} environment"
    _uv(["venv", "--quiet", "--python", str(request.python), str(venv)], log, what)
    install = ["pip", "install", "--python", str(python), "-c", str(constraints), *request.requirements()]
    try:
        # From uv's cache alone when it holds everything: no index round trips (seconds per build).
        _uv([*install, "--offline"], log, what)
    except BenchError:
        _uv(install, log, what)
    _link_project(request.project, python)
    freeze = tuple(
        line for line in _uv(["pip", "freeze", "--python", str(python)], log, what).splitlines() if line.strip()
    )
    return {
        "key": key,
        "inputs": request.inputs(),
        "sdk": {"name": request.sdk.package, "version": request.version},
        "freeze": list(freeze),
        "freeze_hash": freeze_hash(freeze),
    }


def _link_project(project: Path, python: Path) -> None:
    """Make ``retrain_bench`` importable from the checkout's ``src/``, without its dependencies.

    What ``pip install --no-deps -e`` writes for this src layout is this one ``.pth`` line; writing it
    directly saves the build backend's run (4-6 s per environment). Only ``src/`` joins ``sys.path``,
    and it holds nothing but ``retrain_bench``, so no folder of the repository (``docker/``,
    ``bench/``) can shadow an installed package; and the round runs the checkout's code as it is now.
    """
    src = project.resolve() / "src"
    if not (src / "retrain_bench" / "__init__.py").is_file():
        raise BenchError(f"{project} is not this project's repository (no src/retrain_bench); run from the clone")
    done = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise BenchError(f"the new environment's interpreter {python} does not run: {done.stderr.strip()[-200:]}")
    (Path(done.stdout.strip()) / "retrain_bench_src.pth").write_text(f"{src}\n")


def freeze_hash(freeze: Sequence[str]) -> str:
    return "sha256:" + hashlib.sha256("\n".join(sorted(freeze)).encode()).hexdigest()


def _uv(args: list[str], log: Path, what: str) -> str:
    from uv import find_uv_bin

    command = [find_uv_bin(), *args]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            cwd=log.parent,  # away from any pyproject.toml or uv.toml of the caller's directory
            env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: uv {args[0]} took longer than {BUILD_TIMEOUT_S:g} s; see {log}") from None
    with log.open("a") as out:
        out.write(f"$ uv {' '.join(args)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise BenchError(f"{what}: {key_line(done.stderr)}")
    return done.stdout


def key_line(stderr: str) -> str:
    """uv's reason in one line: its error, the first cause (the resolver's explanation), the last
    cause (the network's answer), and a hint when it has one (offline)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    error = next((line.removeprefix("error:").strip() for line in lines if line.startswith("error:")), "")
    causes = [line.removeprefix("cause:").strip() for line in lines if line.startswith("cause:")]
    hints = [line.removeprefix("hint:").strip() for line in lines if line.startswith("hint:")]
    parts = [error] if error else []
    if causes:
        parts.append(causes[0])
    if len(causes) > 1:
        parts.append(causes[-1])
    if hints:
        parts.append(hints[0])
    return ": ".join(p.rstrip(".:") for p in parts) or (lines[-1] if lines else "uv failed without a message")


def _load(home: Path, key: str) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads((home / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if record.get("key") != key or not (home / "venv" / "bin" / "python").exists():
        return None  # the base interpreter went away (a dangling link) or the record is not ours
    return record


def _environment(home: Path, record: dict[str, Any], *, built: bool, seconds: float) -> Environment:
    return Environment(
        python=home / "venv" / "bin" / "python",
        freeze=tuple(record["freeze"]),
        freeze_hash=str(record["freeze_hash"]),
        sdk=SdkVersion(record["sdk"]["name"], record["sdk"]["version"]),
        built=built,
        build_s=seconds,
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder per environment at a time (xdist workers, two sessions on one CI machine)."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _keep_log(home: Path, target: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.copyfile(home / "build.log", target)


def _pins(path: Path) -> list[tuple[str, str]]:
    """(canonical name, line) of every pin of a constraints file; a line that is not one is an error."""
    pins: list[tuple[str, str]] = []
    for number, raw in enumerate(_read(path).splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            name = canonicalize_name(Requirement(line).name)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0]
            raise BenchError(f"{path}:{number}: {line!r} is not a pin ({reason}); fix the line") from None
        pins.append((name, line))
    return pins


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise BenchError(f"cannot read the constraints file {path}: {exc.strerror}") from None


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise BenchError(f"cannot read {path}: {exc.strerror}; is it the repository root?") from None


def _python_version(python: Path) -> str:
    if python.resolve() == Path(sys.executable).resolve():
        return f"{sys.implementation.name} {platform.python_version()}"
    done = subprocess.run(
        [str(python), "-c", "import platform, sys; print(sys.implementation.name, platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise BenchError(f"cannot run the interpreter {python} an environment was asked to use")
    return done.stdout.strip()


def main_sdk(platform_name: str) -> SdkVersion:
    """The SDK a platform runs with in the main environment; bare Python's is the interpreter."""
    sdk = registry.sdk_of(platform_name)
    if sdk is None:
        return SdkVersion("python", platform.python_version())
    try:
        return SdkVersion(sdk.package, importlib.metadata.version(sdk.package))
    except importlib.metadata.PackageNotFoundError:
        return SdkVersion(sdk.package, None)


def environment_version(spec: PlatformSpec) -> str | None:
    """The SDK version a spec's own environment holds: the one it names, else the platform's own
    (``Sdk.own_version``); None: the spec runs in the main environment."""
    if spec.version is not None:
        return spec.version
    sdk = registry.sdk_of(spec.platform)
    return sdk.own_version if sdk is not None else None


def prepare_all(
    specs: Sequence[PlatformSpec], project: Path, envs_dir: Path, progress: Callable[[str], None] = _say
) -> dict[str, Environment]:
    """The environment of every spec that runs in one of its own, by label, built or reused now, before any round."""
    found = {}
    for spec in specs:
        version = environment_version(spec)
        if version is not None:
            sdk = registry.sdk_of(spec.platform)
            assert sdk is not None  # a version comes from the SDK, or parse_specs refused it
            request = EnvironmentRequest(sdk, version, project / "constraints.txt", project)
            found[spec.label] = ensure(request, envs_dir, progress)
    return found
