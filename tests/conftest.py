"""Shared fixtures: tests run with one torch/BLAS thread so timings and results are stable."""

import os
import shutil
import subprocess

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


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
