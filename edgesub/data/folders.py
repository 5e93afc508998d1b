"""Folders of image files as users have them: listed, checked and summarised in bounded memory.

Each file is opened twice while a folder is read: its header (size and colour, no pixels), then
its pixels once, to find the files that cannot be decoded before any split is drawn, to hash its
content (the dataset's fingerprint) and, for class folders, to sum its pixels at the common size
(the default standardisation). Nothing of the pixels is kept: what stays is the file list, each
file's SHA-256 and a few numbers per image.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgesub.console import transient_track
from edgesub.data.images import ImageFiles, is_grey, read_pixels
from edgesub.data.preprocess import ImagePreprocess
from edgesub.errors import DataError
from edgesub.limits import open_image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
SKIP_HINT = "skip such files with --skip-bad-images (data.skip_bad_images = true)"
SHOWN_SKIPPED = 5
# RGB pixels whose channels differ by at most this are grey (lossy WebP/JPEG of a grey picture
# differ by a level or two; a visible tint by more)
GREY_SPREAD = 4  # names of skipped files a summary shows


@dataclass(frozen=True)
class Scanned:
    """The readable files of a list, in order, as one store; ``kept`` their positions in the
    list, ``skipped`` the paths left out; ``sums`` per image and channel: the sum and the sum
    of squares of its pixels (0..255) at the store's size (None when not asked for)."""

    files: ImageFiles
    kept: np.ndarray
    skipped: tuple[str, ...]
    sums: np.ndarray | None = None


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder``, recursively, sorted; hidden files and folders and
    symbolic links to folders are left out (no loops, nothing outside the tree)."""
    found = []
    for parent, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(parent) / n
            for n in names
            if not n.startswith(".") and Path(n).suffix.lower() in IMAGE_SUFFIXES
        ]
    return sorted(found)


def scan_folder(paths: Sequence[Path], *, skip_bad: bool) -> Scanned:
    """Every readable picture of ``paths`` in the colour mode and size most of them have, with
    their pixel sums at that size: "L" unless a picture has colour (an RGB or palette file of
    grey pixels, up to :data:`GREY_SPREAD` levels apart, is grey); the most common (H, W),
    the larger one on a tie."""
    headers, skipped = _headers(paths, skip_bad)
    if not headers:
        raise DataError(f"none of the {len(paths)} image files can be read")
    read = "L" if all(is_grey(m) for _, _, m in headers.values()) else "RGB"
    counts = Counter((h, w) for h, w, _ in headers.values())
    size = max(counts, key=lambda s: (counts[s], s))
    unit = ImagePreprocess(size=size, channels=read, scale=1.0)
    colour = []

    def summed(pixels: np.ndarray) -> np.ndarray:
        if read == "RGB" and not colour and int(np.ptp(pixels, axis=2).max()) > GREY_SPREAD:
            colour.append(True)
        x = unit.image(pixels).astype(np.float64)
        return np.stack([x.sum(axis=(1, 2)), np.square(x).sum(axis=(1, 2))], axis=1)

    order = sorted(headers)
    readable = [paths[i] for i in order]
    scan = _decode(readable, np.array(order), read, size, skip_bad, summed, skipped)
    if read == "L" or colour:
        return scan
    files = ImageFiles(scan.files.paths, scan.files.sha256, "L", size)  # grey pictures
    assert scan.sums is not None
    return replace(scan, files=files, sums=scan.sums[:, :1])  # any channel: all are equal


def scan_as(paths: Sequence[Path], mode: str, size: tuple[int, int], *, skip_bad: bool) -> Scanned:
    """The readable pictures of ``paths``, read in ``mode`` (unlabeled inputs of a dataset
    whose pictures are in that mode and most of them of ``size``)."""
    return _decode(list(paths), np.arange(len(paths)), mode, size, skip_bad, None, ())


def train_statistics(sums: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of pixels scaled to 0..1 over the images whose ``sums`` are
    given (a std of 0 becomes 1, as for every dataset)."""
    n = len(sums) * size[0] * size[1]
    total = sums.sum(axis=0) / n  # channels × (mean, mean of squares), pixels 0..255
    mean = total[:, 0]
    std = np.sqrt(np.maximum(total[:, 1] - mean**2, 0.0))
    mean, std = (mean / 255.0).astype(np.float32), (std / 255.0).astype(np.float32)
    return mean, np.where(std > 1e-8, std, 1.0).astype(np.float32)


def skipped_record(skipped: Sequence[str]) -> dict[str, object]:
    """What a summary (teacher.json) records of the files left out."""
    return {"count": len(skipped), "first": [str(s) for s in skipped[:SHOWN_SKIPPED]]}


def _headers(
    paths: Sequence[Path], skip_bad: bool
) -> tuple[dict[int, tuple[int, int, str]], list[str]]:
    """(position → (H, W, Pillow mode)) of the files whose header reads, and the others."""
    headers, skipped = {}, []
    for i, path in enumerate(transient_track(paths, "image headers")):
        try:
            with open_image(path) as image:
                headers[i] = (image.height, image.width, image.mode)
        except DataError as exc:
            _bad(exc, skip_bad)
            skipped.append(str(path))
    return headers, skipped


def _decode(
    paths: list[Path],
    positions: np.ndarray,
    mode: str,
    size: tuple[int, int],
    skip_bad: bool,
    summed: Callable[[np.ndarray], np.ndarray] | None,
    skipped: Sequence[str],
) -> Scanned:
    """Decode each file once: hash it, sum its pixels (``summed``), or leave it out."""
    kept, digests, sums, left_out = [], [], [], list(skipped)
    for i, path in enumerate(transient_track(paths, "images")):
        try:
            pixels = read_pixels(path, mode)
        except DataError as exc:
            _bad(exc, skip_bad)
            left_out.append(str(path))
            continue
        kept.append(i)
        digests.append(_sha256(path))
        if summed is not None:
            sums.append(summed(pixels))
    if not kept:
        raise DataError(f"none of the {len(paths)} image files can be decoded")
    files = ImageFiles([str(paths[i]) for i in kept], np.array(digests, dtype="S32"), mode, size)
    stacked = np.stack(sums) if summed is not None else None
    return Scanned(files, positions[np.array(kept)], tuple(sorted(left_out)), stacked)


def _bad(exc: DataError, skip_bad: bool) -> None:
    if not skip_bad:
        raise DataError(f"{exc}; {SKIP_HINT}") from None


def _sha256(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").digest()
