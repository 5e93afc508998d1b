"""``data.unlabeled``: inputs without labels that extend the distillation transfer set.

A folder of images (searched recursively; no class folders needed), read in the dataset's
colour mode and through the same preprocessing as its pictures; or a text file of sentences,
one per line (blank lines skipped). The teacher's features on them give the student's targets;
the subspace and its head are still fitted on the labelled train split only, and validation and
test are the labelled splits. Images are kept as a file list (decoded a batch at a time), texts
in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesub.config import DataConfig
from edgesub.data.dataset import Dataset
from edgesub.data.folders import image_files, scan_as
from edgesub.errors import DataError
from edgesub.limits import MAX_TEXT_CHARS, read_lines_limited


def with_unlabeled(data: Dataset, cfg: DataConfig) -> Dataset:
    """``data`` with the inputs of ``cfg.unlabeled`` as its unlabeled transfer set."""
    path = Path(cfg.unlabeled)
    if not path.exists():
        raise DataError(f"data.unlabeled {path} does not exist")
    if path.is_dir():
        return _images(data, path, cfg.skip_bad_images)
    return data.with_unlabeled(read_sentences(path))


def _images(data: Dataset, folder: Path, skip_bad: bool) -> Dataset:
    if not data.has_pixels:
        raise DataError(
            f"data.unlabeled {folder} is a folder of images, but {data.name} holds no images "
            "(give a text file, one sentence per line)"
        )
    files = image_files(folder)
    if not files:
        raise DataError(f"data.unlabeled {folder} holds no image files")
    scan = scan_as(files, data.pixel_mode, data.pixel_size, skip_bad=skip_bad)
    return data.with_unlabeled(scan.files, scan.skipped)


def read_sentences(path: Path) -> np.ndarray:
    """The non-blank lines of a UTF-8 text file, as a unicode array."""
    texts = []
    for number, line in read_lines_limited(path, "data.unlabeled", DataError):
        if len(line) > MAX_TEXT_CHARS:
            raise DataError(
                f"{path} line {number} has {len(line):,} characters; the limit is "
                f"{MAX_TEXT_CHARS:,}"
            )
        texts.append(line)
    if not texts:
        raise DataError(f"data.unlabeled {path} holds no sentences")
    return np.array(texts, dtype=np.str_)
