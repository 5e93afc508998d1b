"""User data: an image folder tree (one sub-folder per class, optionally per split) or numpy
arrays x.npy / y.npy.

Memory of an image folder: the dataset holds its file list (a path, a SHA-256 and a few numbers
per image) and decodes pictures a batch at a time when a view is read, so a given teacher's
features stream from disk. What is computed into arrays is N×C×H×W float32 at the most common
size for edgesub's own teacher (the default path), and N×C×h×w float32 at the student's input
size for the student of a given teacher.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesub.config import DataConfig
from edgesub.data.dataset import Dataset
from edgesub.data.folders import image_files, scan_folder, train_statistics
from edgesub.data.images import ImageView
from edgesub.data.loaders import DATASETS, split_off, standardised_images, stratified_splits
from edgesub.data.preprocess import ImagePreprocess
from edgesub.data.text import user_path
from edgesub.errors import DataError
from edgesub.labels import check_labels
from edgesub.limits import regular_file_size

SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


@DATASETS.register("image_folder")
def image_folder(cfg: DataConfig) -> Dataset:
    """``data.path/<class>/<images>``, or ``data.path/{train,val,test}/<class>/<images>``.

    Pictures of any size and format (png, jpg, bmp, gif, webp, tiff; see
    :func:`edgesub.data.images.read_pixels` for RGBA, palette, CMYK and 16-bit ones), grey
    unless any is colour; class folders are searched recursively. Given split folders are used
    as given (the same classes in each); those missing are split from train, stratified, with
    their ``data.*_fraction``; without split folders the whole tree is split stratified.

    ``x`` is each picture resized (area averaging) to the size most of them have, then
    standardised per channel with train statistics: what edgesub's own teacher trains on. A
    given teacher reads the raw pictures through its own preprocessing instead.

    Memory: the dataset holds the file list (a path, a SHA-256 and a few numbers per image);
    ``x`` is a view, decoded a batch at a time when read. Computed into arrays (what
    :func:`~edgesub.data.load_dataset` does unless ``lazy``) it is N×C×H×W float32 at that
    size; a given teacher's student view is N×C×h×w float32 at the student's size.
    """
    root = user_path(cfg, "image_folder")
    if not root.is_dir():
        raise DataError(f"data.path {root} is not a folder of class folders")
    given = _split_folders(root)
    classes, files = _class_files(root, given)
    scan = scan_folder([f for f, _, _ in files], skip_bad=cfg.skip_bad_images)
    y = np.array([files[i][1] for i in scan.kept], dtype=np.int64)
    tags = np.array([files[i][2] for i in scan.kept])
    indices = _given_splits(tags, y, cfg) if given else stratified_splits(len(y), y, cfg)
    mean, std = train_statistics(scan.sums[indices[0]], scan.files.size)
    pre = ImagePreprocess(
        scan.files.size,
        scan.files.mode,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
    )
    return Dataset.from_indices(
        root.name,
        ImageView(scan.files, pre),
        y,
        indices,
        classes,
        pre.input_shape,
        pre.record(),
        raw=scan.files,
        skipped=scan.skipped,
        input_preprocess=pre,
    )


def _split_folders(root: Path) -> dict[str, Path]:
    """The split folders of ``root`` (train, val, test: each holding class folders), {} when
    ``root`` holds class folders itself."""
    found = {}
    for split, names in SPLIT_FOLDERS.items():
        present = [root / n for n in names if (root / n).is_dir() and _subfolders(root / n)]
        if len(present) > 1:
            raise DataError(f"{root} has {' and '.join(p.name for p in present)}: keep one")
        if present:
            found[split] = present[0]
    if found and "train" not in found:
        raise DataError(f"{root} has {', '.join(p.name for p in found.values())}/ but no train/")
    others = sorted(set(_subfolders(root)) - {p.name for p in found.values()})
    if found and others:
        raise DataError(
            f"{root} mixes split folders ({', '.join(p.name for p in found.values())}) with "
            f"other folders ({', '.join(others[:5])}); put the class folders inside the splits"
        )
    return found


def _class_files(
    root: Path, given: dict[str, Path]
) -> tuple[list[str], list[tuple[Path, int, str]]]:
    """The class names and every (image file, class, split) of the tree."""
    folders = given or {"": root}
    names = {split: _subfolders(folder) for split, folder in folders.items()}
    classes = check_labels(names.get("train", names.get("")), f"class folder in {root}")
    for split, found in names.items():
        if found != classes:
            missing = sorted(set(classes) - set(found))
            extra = sorted(set(found) - set(classes))
            raise DataError(
                f"{folders[split]} holds other classes than {folders['train']}: "
                + "; ".join(
                    part
                    for part in (
                        f"lacks {', '.join(missing)}" if missing else "",
                        f"has {', '.join(extra)} besides" if extra else "",
                    )
                    if part
                )
            )
    if len(classes) < 2:
        raise DataError(f"{root} needs one sub-folder of images per class (at least two)")
    files = []
    for split, folder in folders.items():
        for i, c in enumerate(classes):
            found = image_files(folder / c)
            if not found:
                raise DataError(f"class folder {folder / c} holds no images")
            files += [(f, i, split) for f in found]
    return classes, files


def _subfolders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _given_splits(
    tags: np.ndarray, y: np.ndarray, cfg: DataConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of each split: the folders given, the rest split from train (stratified)."""
    given = {s: np.flatnonzero(tags == s) for s in ("train", "val", "test") if (tags == s).any()}
    train = given["train"]
    if "val" not in given and "test" not in given:
        parts = stratified_splits(len(train), y[train], cfg)
        return tuple(np.sort(train[p]) for p in parts)  # type: ignore[return-value]
    for split, fraction in (("val", cfg.val_fraction), ("test", cfg.test_fraction)):
        if split not in given:
            train, given[split] = split_off(train, y[train], fraction, cfg.seed)
    return np.sort(train), np.sort(given["val"]), np.sort(given["test"])


@DATASETS.register("npy")
def npy(cfg: DataConfig) -> Dataset:
    """``data.path/x.npy`` (N×F features or N×C×H×W images) and ``data.path/y.npy`` (N ints)."""
    root = user_path(cfg, "npy")
    for name in ("x.npy", "y.npy"):  # a FIFO would block np.load forever
        regular_file_size(root / name, "data file", DataError)
    try:
        x = np.load(root / "x.npy", allow_pickle=False)
        y = np.load(root / "y.npy", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {root}/x.npy and y.npy: {exc}") from None
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"y.npy must hold {len(x)} integer labels, got {y.dtype} {y.shape}")
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if bad.size:
        raise DataError(f"x.npy sample {int(bad[0])} contains NaN or inf values")
    labels = [str(c) for c in range(int(y.max()) + 1)]
    if x.ndim == 4:
        scale = 1.0 / 255.0 if float(x.max()) > 1.0 else 1.0  # 0..255 pixels or 0..1 values
        return standardised_images(root.name, x, y, scale, cfg, labels)
    if x.ndim != 2:
        raise DataError(f"x.npy must be N×F or N×C×H×W, got shape {x.shape}")
    return _tabular(root.name, x.astype(np.float32), y.astype(np.int64), cfg, labels)


def _tabular(
    name: str, x: np.ndarray, y: np.ndarray, cfg: DataConfig, labels: list[str]
) -> Dataset:
    train, val, test = stratified_splits(len(y), y, cfg)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std = np.where(std > 1e-8, std, 1.0).astype(np.float32)
    x = ((x - mean) / std).astype(np.float32)
    preprocessing = {"layout": "NF", "mean": mean.tolist(), "std": std.tolist()}
    return Dataset.from_indices(
        name, x, y, (train, val, test), labels, (x.shape[1],), preprocessing
    )
