"""Is flyteadmin answering, and which version is it? (The doctor, the manifest.)"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from retrain_bench.checks import Check


def flyte_api_check(address: str, *, insecure: bool, config_file: str | None, timeout_s: float) -> Check:
    """flyteadmin's GetVersion over gRPC: plaintext when ``insecure``, else TLS; auth from the
    flytekit config file when one is given (OAuth and client credentials are flytekit's)."""
    name = f"Flyte API at {address}"
    try:
        version = (
            _flytekit_version(address, insecure, config_file, timeout_s)
            if config_file
            else _raw_version(address, insecure, timeout_s)
        )
    except Exception as exc:  # grpc and flytekit raise many types; each is one line for the user
        detail = str(getattr(exc, "details", lambda: None)() or exc).splitlines()[0][:300]
        fix = "check --flyte-endpoint/--flyte-service, --flyte-insecure (plaintext) and --flyte-config (auth)"
        return Check(name, False, detail or type(exc).__name__, fix)
    return Check(name, True, f"flyteadmin {version}")


def _raw_version(address: str, insecure: bool, timeout_s: float) -> str:
    import grpc
    from flyteidl.admin.version_pb2 import GetVersionRequest
    from flyteidl.service.admin_pb2_grpc import AdminServiceStub

    channel = (
        grpc.insecure_channel(address) if insecure else grpc.secure_channel(address, grpc.ssl_channel_credentials())
    )
    with channel:
        response = AdminServiceStub(channel).GetVersion(GetVersionRequest(), timeout=timeout_s)
    return str(response.control_plane_version.Version or "(no version reported)")


@contextlib.contextmanager
def flytekit_tempdir() -> Iterator[None]:
    """Importing flytekit makes two directories in TMPDIR that nothing removes: ``flyte_tmp_dir``
    (flytekit/core/data_persistence.py, at module level) and the default of ``Config.local_sandbox_path``
    (flytekit/configuration/__init__.py, evaluated when the class is defined). The first import
    happens under a directory of ours, removed when the process ends."""
    if "flytekit" in sys.modules:
        yield
        return
    own = tempfile.mkdtemp(prefix="retrain-bench-flytekit-")
    atexit.register(shutil.rmtree, own, True)
    before = tempfile.tempdir
    tempfile.tempdir = own
    try:
        yield
    finally:
        tempfile.tempdir = before


def _flytekit_version(address: str, insecure: bool, config_file: str, timeout_s: float) -> str:
    with flytekit_tempdir():
        from flytekit.clients.friendly import SynchronousFlyteClient
        from flytekit.configuration import Config

    platform = Config.auto(config_file=config_file).platform
    platform = dataclasses.replace(platform, endpoint=address, insecure=insecure or platform.insecure)
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            result["version"] = SynchronousFlyteClient(platform).get_control_plane_version()
        except Exception as exc:
            result["error"] = exc

    # flytekit's client call takes no deadline (and may run an OAuth flow): bound it from outside.
    worker = threading.Thread(target=call, name="flyte-version", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if "error" in result:
        raise result["error"]
    return str(result["version"])


def flyte_version(address: str, *, insecure: bool, config_file: str | None, timeout_s: float) -> str:
    """flyteadmin's control-plane version (GetVersion), as ``flyte_api_check`` reaches it; raises on failure."""
    if config_file:
        return _flytekit_version(address, insecure, config_file, timeout_s)
    return _raw_version(address, insecure, timeout_s)
