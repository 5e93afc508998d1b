"""Shared fixtures: tests run with one torch/BLAS thread so timings and results are stable."""

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def dead_pid() -> int:
    """The PID of a process that has exited (reaped, so it is free until reused)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MB tmpfs, a disk that fills up for real (skipped where mounting is not allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _mount_tmpfs(disk, "1M"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield disk
    # lazy: a failed write may still hold a file open there
    subprocess.run(["umount", "--lazy", str(disk)], check=True)


def _mount_tmpfs(folder, size: str) -> bool:
    if shutil.which("mount") is None:
        return False
    command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    return subprocess.run(command, capture_output=True).returncode == 0


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` × ``height`` grey pixels (a decompression bomb
    when large): a few hundred bytes on disk, gigabytes if a reader believed it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 2)  # two rows only: the rest is "truncated"
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows)
    path.write_bytes(png + _chunk(b"IEND", b""))
    return path


@pytest.fixture
def bomb_png():
    """:func:`png_claiming`, for tests in any folder."""
    return png_claiming


FAST_RUN_DEVICES = ["raspberry-pi-4b", "raspberry-pi-5", "pixel-4"]


@pytest.fixture(scope="session")
def fast_run(tmp_path_factory):
    """The default pipeline in fast mode on three devices, once per session (read it, do not
    change it)."""
    from click.testing import CliRunner

    from edgesub.cli import cli
    from edgesub.rundir import RunDir

    runs = tmp_path_factory.mktemp("runs")
    args = ["run", "--fast", "--runs-dir", str(runs), "--name", "smoke", "--no-progress"]
    for device in FAST_RUN_DEVICES:
        args += ["--device", device]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return RunDir(runs / "smoke"), result
