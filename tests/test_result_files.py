"""Writing a result never replaces a special file (issue 26 item 1): a symlink is followed, a device or a
FIFO is written through, a socket or a block device is refused in one line."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from retrain_bench.cli.main import main
from retrain_bench.errors import BenchError
from retrain_bench.results.files import atomic_path, check_file, write_text

DATA = Path(__file__).parent / "data"
RUNS = (str(DATA / "gate" / "gate-runs-1.json"), str(DATA / "gate" / "gate-runs-2.json"))


def test_a_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert main(["merge", *RUNS, "--out", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["benchmarks"]


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    target = tmp_path / "new.json"
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_text(link, "hello", "--out")
    assert link.is_symlink() and target.read_text() == "hello"


def test_a_fifo_is_written_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["merge", *RUNS, "--out", str(fifo)]) == 0
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a file"
    reader.join(60)
    assert json.loads(got[0])["benchmarks"]
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def device(tmp_path: Path, name: str, minor: int) -> Path:
    """Our own node of the memory device ``minor`` (3 null, 7 full): a broken writer replaces this one,
    never the machine's /dev/null (which the code before this fix did, as root)."""
    path = tmp_path / name
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        with open(path, "wb"):
            pass
    except OSError as exc:
        pytest.skip(f"cannot make a device node here ({exc.strerror}): needs root and a filesystem without nodev")
    return path


def test_a_null_device_stays_a_device(tmp_path: Path) -> None:
    null = device(tmp_path, "null", 3)
    write_text(null, "x" * 1000, "--out")
    assert stat.S_ISCHR(os.stat(null).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_a_full_device_is_one_line_and_stays_a_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = device(tmp_path, "full", 7)
    assert main(["merge", *RUNS, "--out", str(full)]) == 2
    err = capsys.readouterr().err
    assert err == f"retrain-bench: error: --out: {full}: cannot write it (No space left on device)\n"
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_a_chart_into_a_symlink_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "chart.svg"
    target.write_text("old")
    link = tmp_path / "link.svg"
    link.symlink_to(target)
    with atomic_path(link) as temporary:
        temporary.write_text("new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_socket_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(BenchError, match=r"^--out: .*/s is a socket, not a file; name a regular file$"):
            check_file("--out", path)
    finally:
        server.close()
    assert stat.S_ISSOCK(os.stat(path).st_mode)
