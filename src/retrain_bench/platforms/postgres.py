"""A throwaway PostgreSQL cluster for a control plane's metadata database (``--target=server``).

Debian's ``postgresql`` package installs its server binaries in ``/usr/lib/postgresql/<major>/bin``
(not on ``PATH``); the newest major there is used. ``cluster()`` makes a new cluster with ``initdb``
in a directory under the session's home, starts ``postgres`` in a process group of its own on a free
loopback port (its unix socket inside that directory, never ``/var/run/postgresql``), creates the
database, and on exit stops it with ``pg_ctl stop -m fast`` and then its whole group. (Its
backends call ``setsid()``, so they are not in the group; they stay descendants of ``postgres``,
which a fast shutdown stops them with, and they exit on their own when it dies.)

``initdb`` and ``postgres`` refuse to run as root, and this suite runs as root here and in CI. As
root they run as the unprivileged system user ``nobody`` (``setpriv``), which owns the cluster's
directory. The session's home usually sits below root-only directories (pytest's temporary
directories are mode 0700), which ``nobody`` cannot traverse; rather than opening those up, its
processes keep one capability, ``CAP_DAC_READ_SEARCH`` (read and search any directory, write
nothing it does not own), as an ambient capability. As any other user they run as that user.

Clients connect over TCP to 127.0.0.1 with a role and a random password (``scram-sha-256``); the
password is never written to a log, an error or the ``facts()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from retrain_bench.errors import BenchError
from retrain_bench.platforms import groups

HOST = "127.0.0.1"
#: Where Debian's ``postgresql-<major>`` packages put the server's binaries.
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
#: The unprivileged user the cluster runs as when this process is root.
SYSTEM_USER = "nobody"
ROLE = "retrain_bench"
READY_TIMEOUT_S = 60.0
#: bytes of a Unix socket path, its NUL included (``sun_path`` on Linux)
SOCKET_PATH_MAX = 108
SETUP_TIMEOUT_S = 120.0


@dataclasses.dataclass(frozen=True)
class Binaries:
    directory: Path
    #: the major version (the directory's name under ``/usr/lib/postgresql``)
    major: str

    def __call__(self, name: str) -> str:
        return str(self.directory / name)


def binaries(base: Path = DEBIAN_BINARIES) -> Binaries:
    """The newest PostgreSQL server binaries Debian's packages installed; one-line ``BenchError`` if none."""
    found = [p for p in base.glob("*/bin") if (p / "initdb").is_file() and (p / "postgres").is_file()]
    if not found:
        raise BenchError(
            f"PostgreSQL's server binaries are not installed (no {base}/<version>/bin/initdb):"
            " install Debian's postgresql package (apt-get install postgresql)"
        )

    def major(directory: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", directory.parent.name)) or (0,)

    best = max(found, key=major)
    return Binaries(best, best.parent.name)


def server_version(bins: Binaries) -> str:
    """``postgres -V``'s version ("15.18 (Debian 15.18-0+deb12u1)"), the major when it does not answer."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run([bins("postgres"), "-V"], capture_output=True, text=True, timeout=30)
        found = re.search(r"\(PostgreSQL\)\s+(.+)", done.stdout)
        if found:
            return found.group(1).strip()
    return bins.major


def _as_user() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs a PostgreSQL program unprivileged, and that user (None: this one)."""
    if os.geteuid() != 0:
        return [], None
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise BenchError("PostgreSQL cannot run as root and setpriv is missing: install util-linux")
    try:
        user = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise BenchError(f"PostgreSQL cannot run as root and there is no user {SYSTEM_USER!r} to run it as") from None
    prefix = [
        setpriv,
        f"--reuid={user.pw_uid}",
        f"--regid={user.pw_gid}",
        "--clear-groups",
        # Traverse the root-only directories above the session's home (see the module's docstring).
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        "--",
    ]
    return prefix, user


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A running cluster with one database."""

    directory: Path
    port: int
    database: str
    role: str
    password: str = dataclasses.field(repr=False)
    version: str
    #: the system user its processes run as
    user: str
    #: the pid of ``postgres``, the leader of its process group
    leader: int
    log: Path
    startup_s: float

    def url(self, driver: str = "postgresql+psycopg2") -> str:
        """A SQLAlchemy URL of the database (it carries the password: never log it)."""
        return f"{driver}://{self.role}:{self.password}@{HOST}:{self.port}/{self.database}"

    def facts(self) -> dict[str, Any]:
        return {
            "kind": "postgresql",
            "version": self.version,
            "host": HOST,
            "port": self.port,
            "database": self.database,
            "runs_as": self.user,
            "startup_s": round(self.startup_s, 3),
            "settings": "PostgreSQL's defaults (fsync and synchronous_commit on)",
        }


def _ready(bins: Binaries, port: int, socket_dir: Path) -> bool:
    done = subprocess.run(
        [bins("pg_isready"), "-q", "-h", str(socket_dir), "-p", str(port), "-t", "2"],
        capture_output=True,
        timeout=10,
    )
    return done.returncode == 0


@contextlib.contextmanager
def cluster(home: Path, database: str, progress: Callable[[str], None] = lambda line: None) -> Iterator[Cluster]:
    """A new cluster in ``home/postgres`` serving ``database`` on a free loopback port; stopped after."""
    bins = binaries()
    prefix, user = _as_user()
    started = time.perf_counter()
    directory = home / "postgres"
    data, sockets = directory / "data", directory / "socket"
    for path in (directory, data):
        path.mkdir(mode=0o700)
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)
    with _socket_directory(sockets, user) as sockets:
        yield from _serve(bins, prefix, user, directory, data, sockets, home, database, progress, started)


@contextlib.contextmanager
def _socket_directory(wanted: Path, user: pwd.struct_passwd | None) -> Iterator[Path]:
    """Where the server's Unix socket goes: ``wanted``, unless its path would be longer than a socket
    path may be (108 bytes with the NUL, ``sun_path``; a deep TMPDIR such as pytest's exceeds it and
    PostgreSQL then exits at once), then a short private directory under /tmp, removed afterwards."""
    if len(str(wanted / ".s.PGSQL.65535.lock")) < SOCKET_PATH_MAX:
        wanted.mkdir(mode=0o700)
        if user is not None:
            os.chown(wanted, user.pw_uid, user.pw_gid)
        yield wanted
        return
    short = Path(tempfile.mkdtemp(prefix="rb-pg-", dir="/tmp"))
    try:
        if user is not None:
            os.chown(short, user.pw_uid, user.pw_gid)
        yield short
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _serve(
    bins: Binaries,
    prefix: list[str],
    user: pwd.struct_passwd | None,
    directory: Path,
    data: Path,
    sockets: Path,
    home: Path,
    database: str,
    progress: Callable[[str], None],
    started: float,
) -> Iterator[Cluster]:
    log = home / "postgres.log"
    password = secrets.token_urlsafe(24)
    password_file = directory / "password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    if user is not None:
        os.chown(password_file, user.pw_uid, user.pw_gid)
    progress(f"[retrain-bench] postgres: initdb of a throwaway PostgreSQL {bins.major} cluster in {directory}")
    try:
        groups.run(
            [
                *prefix,
                bins("initdb"),
                "-D",
                str(data),
                "-U",
                ROLE,
                f"--pwfile={password_file}",
                "--auth-local=trust",  # the socket lives in a directory only its user (and root) can enter
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",  # a throwaway cluster: nothing to make durable before it starts
                "--no-instructions",
            ],
            os.environ,
            log,
            SETUP_TIMEOUT_S,
            "initdb (the control plane's PostgreSQL cluster)",
        )
    finally:
        password_file.unlink()
    port = free_port()
    command = [
        *prefix,
        bins("postgres"),
        "-D",
        str(data),
        "-h",
        HOST,
        "-p",
        str(port),
        "-k",
        str(sockets),
    ]
    with groups.running(command, os.environ, log) as process:
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not _ready(bins, port, sockets):
                if process.poll() is not None:
                    raise BenchError(
                        f"PostgreSQL exited with status {process.returncode} before it accepted connections;"
                        f" its log: {log}"
                    )
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"PostgreSQL did not accept connections within {READY_TIMEOUT_S:g} s; its log: {log}"
                    )
                time.sleep(0.1)
            groups.run(
                [*prefix, bins("createdb"), "-h", str(sockets), "-p", str(port), "-U", ROLE, database],
                os.environ,
                log,
                SETUP_TIMEOUT_S,
                f"createdb {database} (the control plane's PostgreSQL database)",
            )
            seconds = time.perf_counter() - started
            progress(f"[retrain-bench] postgres: {database} ready on {HOST}:{port} in {seconds:.1f} s")
            yield Cluster(
                directory=directory,
                port=port,
                database=database,
                role=ROLE,
                password=password,
                version=server_version(bins),
                user=user.pw_name if user is not None else pwd.getpwuid(os.geteuid()).pw_name,
                leader=process.pid,
                log=log,
                startup_s=seconds,
            )
        finally:
            # A fast shutdown (running sessions rolled back, a clean checkpoint) before the group is
            # signalled: groups.running then only has to reap what is left.
            if process.poll() is None:
                with contextlib.suppress(BenchError):
                    groups.run(
                        [*prefix, bins("pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w", "-t", "30"],
                        os.environ,
                        log,
                        60.0,
                        "pg_ctl stop",
                    )
