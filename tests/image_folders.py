"""Real pictures on disk for data and distillation tests: sklearn's digits written as image files
(PNG, JPEG, ...) of chosen sizes, the way users keep their data; and a small given teacher that
reads them through its own preprocessing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

TEST_TEACHER = "pooled_pixels_test_teacher"


def digit_images(count: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` sklearn digits from ``start``: 8×8 uint8 pictures (0..255) and their labels."""
    bunch = load_digits()
    pixels = np.clip(np.rint(bunch.images * (255 / 16)), 0, 255).astype(np.uint8)
    return pixels[start : start + count], bunch.target[start : start + count]


def write_digits(
    folder: Path,
    count: int,
    *,
    start: int = 0,
    sizes: Sequence[int] = (8,),
    suffixes: Sequence[str] = (".png",),
    classes: bool = True,
) -> list[Path]:
    """Write digits as files under ``folder`` (``<class>/<i><suffix>`` with ``classes``, else
    flat), cycling through ``sizes`` (square, area-resized) and ``suffixes``; the paths."""
    paths = []
    pixels, labels = digit_images(count, start)
    for i, (px, label) in enumerate(zip(pixels, labels, strict=True)):
        size, suffix = sizes[i % len(sizes)], suffixes[i % len(suffixes)]
        picture = Image.fromarray(px)
        if size != 8:
            picture = picture.resize((size, size), Image.Resampling.BOX)
        parent = folder / str(label) if classes else folder
        parent.mkdir(parents=True, exist_ok=True)
        path = parent / f"{start + i}{suffix}"
        picture.save(path)
        paths.append(path)
    return paths


def register_test_teacher() -> str:
    """A given teacher (feature extractor, no classifier) that reads 16×16 grey pictures and
    returns 4×4 average-pooled pixels plus their squares (32-d): enough for a linear head on
    digits, with its own input size so its view differs from the student's."""
    from edgesub.teachers.source import TEACHER_SOURCES, Teacher

    if TEST_TEACHER in TEACHER_SOURCES:
        return TEST_TEACHER

    def features(batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float32).reshape(len(batch), 4, 4, 4, 4)
        pooled = x.mean(axis=(2, 4)).reshape(len(batch), 16)
        return np.concatenate([pooled, pooled**2], axis=1)

    def load(spec: str, cfg: object) -> Teacher:
        return Teacher(
            kind=TEST_TEACHER,
            source=spec,
            sha256=hashlib.sha256(TEST_TEACHER.encode()).hexdigest(),
            input_kind="image",
            features=features,
            preprocess={"size": [16, 16], "channels": "L"},
        )

    TEACHER_SOURCES.add(TEST_TEACHER, load)
    return TEST_TEACHER
