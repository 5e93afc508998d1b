"""Shared fixtures: tests run with one torch/BLAS thread so timings and results are stable."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import struct
import zlib
from pathlib import Path

import pytest


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
