"""The files the commands write: checked before any work, written atomically.

A report directory or ``--out`` file that cannot be written is a ``BenchError`` naming the path
before a run is read; the write goes to a temporary file beside the target and is renamed over it
(``os.replace``), so a failure never leaves half a file nor loses the previous one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from retrain_bench.errors import BenchError


def check_out_file(path: Path, option: str) -> None:
    """A file we may create or replace: not a directory, in an existing, writable directory."""
    if path.is_dir():
        raise BenchError(f"{option}: {path} is a directory; name a file to write")
    parent = path.parent
    if not parent.exists():
        raise BenchError(f"{option}: {path}: the directory {parent} does not exist; create it first")
    if not parent.is_dir():
        raise BenchError(f"{option}: {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise BenchError(f"{option}: {path}: not writable (permission denied)")


def check_out_dir(path: Path, option: str) -> None:
    """A directory we may write into, or create (with its missing parents) under a writable one."""
    if path.exists():
        if not path.is_dir():
            raise BenchError(f"{option}: {path} is a file, not a directory; name a directory to write into")
        if not os.access(path, os.W_OK | os.X_OK):
            raise BenchError(f"{option}: {path}: not writable (permission denied)")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise BenchError(f"{option}: {path}: {ancestor} is a file, so the directory cannot be created")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise BenchError(f"{option}: {path}: cannot create it in {ancestor} (permission denied)")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed over ``path`` when the block succeeds."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: Path, text: str, option: str) -> None:
    try:
        with atomic_path(path) as temporary:
            temporary.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"{option}: {path}: cannot write it ({exc.strerror or exc})") from None


def _umask() -> int:
    # Read without changing it for good: mkstemp makes the file 0600, a written report is the usual 0644.
    mask = os.umask(0)
    os.umask(mask)
    return mask
