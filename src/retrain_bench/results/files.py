"""The files a run or a command writes: checked before any work, written whole or not at all.

A run can take an hour, a report reads many runs: an output whose directory is missing, that is a
directory, or that sits on a read-only disk is a ``BenchError`` naming the option and the path before
anything is measured or read. Every write goes to a temporary file beside its target and is renamed
over it (``os.replace``), so a full disk, a signal or a crash half-way leaves the previous file (or
none) and no temporary file; readers never see half a document.

A rename replaces whatever the name held, so the name is resolved first: a symlink is followed (its
target is written atomically, the link stays), a character device or a FIFO (``/dev/null``, a pipe a
reader waits on) is written through without a rename, and a socket is refused. A special file is
never replaced by a regular one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from retrain_bench.errors import BenchError


def _cannot_write_in(directory: Path) -> str | None:
    """Why no file can be created in ``directory`` (which exists), None when one can.

    Creating one is the only honest check: ``os.access`` says yes for root on a read-only mount."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _target(path: Path) -> Path:
    """The file a write to ``path`` lands in: the end of its symlinks (the link itself is kept)."""
    path = Path(os.path.abspath(path))
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _special(path: Path) -> int | None:
    """The file type of an existing non-regular, non-directory ``path`` (a device, a FIFO, a socket); else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else stat.S_IFMT(mode)


def _written_through(path: Path) -> bool:
    """Whether a write to ``path`` goes into it as it is (a device or a FIFO): no temporary file, no rename."""
    kind = _special(path)
    if kind is None:
        return False
    if kind == stat.S_IFSOCK or kind == stat.S_IFBLK:
        # A socket cannot be opened; a block device is a disk: writing a result over it is never meant.
        raise OSError(f"{path} is a {'socket' if kind == stat.S_IFSOCK else 'block device'}, not a file")
    return True


def check_file(option: str, path: Path) -> None:
    """A file to create or replace: not a directory, in an existing directory that takes files.

    A symlink is checked as its target; a device or FIFO must be writable (it is written through)."""
    path = _target(path)
    kind = _special(path)
    if kind is not None:
        if kind in (stat.S_IFSOCK, stat.S_IFBLK):
            what = "a socket" if kind == stat.S_IFSOCK else "a block device"
            raise BenchError(f"{option}: {path} is {what}, not a file; name a regular file")
        if not os.access(path, os.W_OK):
            raise BenchError(f"{option}: cannot write {path} (permission denied)")
        return
    if path.is_dir():
        raise BenchError(f"{option}: {path} is a directory; name a file in it")
    parent = path.parent
    if not parent.exists():
        raise BenchError(f"{option}: {path}: the directory {parent} does not exist; create it or name another path")
    if not parent.is_dir():
        raise BenchError(f"{option}: {path}: {parent} is not a directory")
    why = _cannot_write_in(parent)
    if why:
        raise BenchError(f"{option}: cannot write {path} ({why})")


def check_directory(option: str, path: Path) -> None:
    """A directory to write into, created on demand: it, or its nearest existing parent, must take files."""
    path = Path(os.path.abspath(path))
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        if existing == path:
            raise BenchError(f"{option}: {path} is a file, not a directory; name a directory to write into")
        raise BenchError(f"{option}: {path}: {existing} is a file, so the directory cannot be created")
    why = _cannot_write_in(existing)
    if why:
        raise BenchError(f"{option}: cannot write in {existing} ({why})")


def _umask() -> int:
    # Read without changing it for good.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (matplotlib); synced and
    renamed over ``path`` when the block succeeds, removed when it fails. A symlink's target is the one
    replaced; a device or FIFO gets the finished file's bytes written into it instead."""
    path = _target(path)
    if _written_through(path):
        with tempfile.TemporaryDirectory(prefix="retrain-bench-") as scratch:
            temporary = Path(scratch) / path.name
            yield temporary
            with open(temporary, "rb") as finished, open(path, "wb") as out:
                shutil.copyfileobj(finished, out)
        return
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp makes it 0600; the result gets the mode an ordinary open() would have given it.
        os.chmod(temporary, 0o666 & ~_umask())
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file in ``path``'s directory and rename it over ``path``; a device or
    FIFO is written through (``write`` gets it opened), a symlink's target is the file replaced."""
    path = _target(path)
    if _written_through(path):
        with open(path, "wb") as out:
            write(out)
        return
    with atomic_path(path) as temporary, open(temporary, "wb") as out:
        write(out)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    def write(out: BinaryIO) -> None:
        out.write(data)

    atomic_write(path, write)


def write_text(path: Path, text: str, option: str) -> None:
    """``text`` as UTF-8 into ``path``, atomically; a failure is a BenchError naming the option."""
    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise BenchError(f"{option}: {path}: cannot write it ({exc.strerror or exc})") from None
