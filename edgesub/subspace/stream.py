"""Row chunks of a feature matrix that may not fit in memory.

Reading rows with plain file reads (not a memory map) keeps the process's resident set at one
chunk: pages of a memory map count towards RSS while they are mapped, file reads only fill
the kernel's page cache. Chunks pass through an optional transform (projection and
standardisation), so the head can be fitted on k-dim coordinates of a d-dim file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesub.atomic import atomic_path
from edgesub.errors import DataError

Transform = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class NpyRows:
    """An N×d .npy file read ``chunk_rows`` rows at a time (C order, any float dtype)."""

    path: Path
    shape: tuple[int, int]
    dtype: np.dtype
    offset: int
    chunk_rows: int = 65536

    @classmethod
    def open(cls, path: str | Path, chunk_rows: int = 65536) -> NpyRows:
        path = Path(path)
        with open(path, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            offset = fh.tell()
        if fortran or len(shape) != 2:
            raise DataError(f"{path} must hold a 2-D C-ordered array, got shape {shape}")
        return cls(path, (int(shape[0]), int(shape[1])), np.dtype(dtype), offset, chunk_rows)

    def __len__(self) -> int:
        return self.shape[0]

    def chunks(self, transform: Transform | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (first row, float32 chunk) pairs in order, transformed when asked."""
        n, d = self.shape
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            for start in range(0, n, self.chunk_rows):
                rows = min(self.chunk_rows, n - start)
                block = np.fromfile(fh, dtype=self.dtype, count=rows * d).reshape(rows, d)
                block = block.astype(np.float32)
                yield start, transform(block) if transform is not None else block


def column_moments(rows: NpyRows, transform: Transform | None = None) -> tuple[np.ndarray, ...]:
    """Per-column mean and std over all rows in one streaming pass (float64 sums)."""
    total = sq = None
    for _, block in rows.chunks(transform):
        b = block.astype(np.float64)
        total = b.sum(axis=0) if total is None else total + b.sum(axis=0)
        sq = (b * b).sum(axis=0) if sq is None else sq + (b * b).sum(axis=0)
    assert total is not None and sq is not None
    mean = total / len(rows)
    std = np.sqrt(np.maximum(sq / len(rows) - mean**2, 0.0))
    return mean, std


def write_gaussian_mixture(
    path: str | Path,
    n: int,
    d: int,
    num_classes: int,
    *,
    seed: int = 0,
    separation: float = 2.5,
    dtype: str = "float16",
    chunk_rows: int = 65536,
) -> np.ndarray:
    """Write an N×d Gaussian-mixture feature matrix chunk by chunk (plain writes, so the
    writer's memory stays at one chunk); return its labels.

    Class c's rows are N(m_c, I) with random means of norm ≈ ``separation`` (in noise standard
    deviations), so the classes overlap at any d and a linear head has something to learn.
    """
    rng = np.random.default_rng(seed)
    centres = (separation / np.sqrt(d) * rng.standard_normal((num_classes, d))).astype(np.float32)
    labels = rng.integers(0, num_classes, n).astype(np.int64)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {**header, "shape": (n, d)})
        for start in range(0, n, chunk_rows):
            y = labels[start : start + chunk_rows]
            noise = rng.standard_normal((len(y), d), dtype=np.float32)
            fh.write((centres[y] + noise).astype(dtype).tobytes())
    return labels
