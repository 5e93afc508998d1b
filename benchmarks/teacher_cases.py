"""The benchmarks' real teachers and their cached features (shared by subspace_heads.py and
students.py).

Each case is a teacher × task × regime: the task-trained regime (the wide CNN trained on
MNIST-5000, EfficientNet-Lite0 fine-tuned on MNIST-5000, frozen MiniLM + a trained wide MLP on
Rotten Tomatoes) and the frozen regime (EfficientNet-Lite0 and MiniLM as generic feature
extractors). Features, and the task-trained teachers' own classifier heads, are computed once
and cached under benchmarks/.cache/ (keyed by the data and the settings that made them).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesub.atomic import atomic_path, atomic_write_json
from edgesub.config import DataConfig, TeacherConfig
from edgesub.data import Dataset, load_dataset
from edgesub.data.loaders import split_off
from edgesub.jsonfile import read_json_or_empty
from edgesub.rundir import RunDir
from edgesub.teachers.features import Features

CACHE = Path(__file__).parent / ".cache"
SPLITS = ("train", "val", "test")
HEAD = ("head_weight", "head_bias")
IMAGE_SIZE = 64  # EfficientNet-Lite0 sees MNIST upsampled from 28×28 to 64×64 (CPU budget)
TRAINABLE_BLOCKS = 4
LABEL_SEED = 0  # which stratified labels a label-scarce regime keeps (the same for every seed)


@dataclass(frozen=True)
class Case:
    """A teacher's features of a task's splits; ``head`` is the teacher's own classifier on
    them (weight C×d, bias C), None for a frozen feature extractor that has none."""

    teacher: str
    task: str
    regime: str
    feats: dict[str, Features]
    data: Dataset
    head: tuple[np.ndarray, np.ndarray] | None = None
    teacher_labels: int | None = None  # train labels the teacher learnt from; None: all of them


def load_case(name: str, progress: bool, labels: int | None = None) -> Case:
    """Features of one case, extracted (or trained) once and cached under benchmarks/.cache.
    With ``labels``, a case whose teacher can be trained on those labels only (the
    :func:`scarce_labels` of the train split) is; any other case is returned as it is, its
    teacher having seen every train label (``teacher_labels`` None)."""
    if labels is not None and name in SCARCE_BUILDERS:
        return SCARCE_BUILDERS[name](progress, labels)
    return CASE_BUILDERS[name](progress)


def online_teacher(name: str) -> Callable[[Any], Any] | None:
    """The teacher's features of an input batch (torch tensors), for the cases whose teacher is
    kept whole (the wide CNN's run folder); None for the others, which keep only their
    features' cache."""
    if name != "cnn_mnist":
        return None
    from edgesub.teachers import load_teacher

    cnn_mnist(progress=False)  # trains the teacher once, if its run folder is not there yet
    return load_teacher(RunDir(CACHE / "cnn_mnist_run")).features


def scarce_labels(y: np.ndarray, labels: int) -> np.ndarray:
    """The sorted indices of ``labels`` train rows, stratified by ``y`` (seed LABEL_SEED): the
    labels a label-scarce regime keeps, for its teacher and its students alike."""
    if not 0 < labels < len(y):
        raise SystemExit(f"--labels {labels}: the train split has {len(y)} samples")
    _, kept = split_off(np.arange(len(y)), y, labels, LABEL_SEED)  # an int: exactly that many
    return np.sort(kept)


def mnist() -> Dataset:
    return load_dataset(DataConfig(name="mnist5000"))


def reviews() -> Dataset:
    return load_dataset(DataConfig(name="rotten_tomatoes"))


def _cached(
    name: str, key: dict, build: Callable[[], dict[str, np.ndarray]], extra: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """{split: h} (and the ``extra`` arrays) from benchmarks/.cache/<name>/, rebuilt when the
    key changed or a file is missing."""
    folder = CACHE / name
    meta = folder / "meta.json"
    names = (*SPLITS, *extra)
    fresh = read_json_or_empty(meta) == key
    if not (fresh and all((folder / f"{n}.npy").exists() for n in names)):
        folder.mkdir(parents=True, exist_ok=True)
        for part, array in build().items():
            with atomic_path(folder / f"{part}.npy") as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.asarray(array, dtype=np.float32))
        atomic_write_json(meta, key)
    return {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in names}


def _features(data: Dataset, hs: dict[str, np.ndarray]) -> dict[str, Features]:
    return {name: Features(np.asarray(hs[name]), split.y) for name, split in data.splits().items()}


def _head(module: Any) -> dict[str, np.ndarray]:
    """A torch Linear's weight and bias as the cache stores them."""
    weight, bias = module.weight.detach().numpy(), module.bias.detach().numpy()
    return {"head_weight": weight, "head_bias": bias}


def _cached_head(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(arrays["head_weight"]), np.asarray(arrays["head_bias"])


def _task_trained(teacher: str, data: Dataset, arrays: dict[str, np.ndarray]) -> Case:
    """A task-trained case from its cached features and classifier head."""
    return Case(
        teacher, data.name, "task-trained", _features(data, arrays), data, _cached_head(arrays)
    )


def cnn_mnist(progress: bool) -> Case:
    """The foundation's wide CNN (d=512) trained on MNIST-5000 (task-trained regime)."""
    from edgesub.teachers import load_teacher, train_teacher
    from edgesub.teachers.features import teacher_features

    data = mnist()
    run = RunDir(CACHE / "cnn_mnist_run")
    train_teacher(run, data, TeacherConfig(epochs=8), resume=True, progress=progress)
    feats = teacher_features(run, data, progress=progress)
    head = _cached_head(_head(load_teacher(run).head))
    return Case("wide_cnn", "mnist5000", "task-trained", feats, data, head)


def _effnet_prefix(data: Dataset, progress: bool) -> tuple[Any, dict[str, Any]]:
    """The EfficientNet-Lite0 teacher and its frozen prefix outputs per split (cached)."""
    import torch

    from edgesub.teachers.efficientnet import efficientnet_teacher

    pre = data.preprocessing
    teacher = efficientnet_teacher(10, pre["mean"], pre["std"], image_size=IMAGE_SIZE).eval()
    stop = teacher.num_blocks - TRAINABLE_BLOCKS
    key = {"data": data.fingerprint(), "image_size": IMAGE_SIZE, "stop": stop}
    folder = CACHE / "effnet_prefix"
    out = {}
    meta_ok = (folder / "meta.json").exists() and json.loads(
        (folder / "meta.json").read_text()
    ) == key
    folder.mkdir(parents=True, exist_ok=True)
    for name, split in data.splits().items():
        path = folder / f"{name}.npy"
        if not (meta_ok and path.exists()):
            with torch.no_grad():
                a = torch.cat(
                    [
                        teacher.prefix(torch.from_numpy(split.x[i : i + 128]), stop)
                        for i in bar(range(0, len(split), 128), f"EfficientNet {name}", progress)
                    ]
                ).numpy()
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, a)
        out[name] = torch.from_numpy(np.load(path))
    atomic_write_json(folder / "meta.json", key)
    return teacher, out


def effnet_frozen_mnist(progress: bool) -> Case:
    """ImageNet EfficientNet-Lite0 features of MNIST, nothing trained (frozen regime)."""
    from edgesub.teachers.finetune import run_in_batches

    data = mnist()

    def build() -> dict[str, np.ndarray]:
        teacher, prefix = _effnet_prefix(data, progress)
        start = teacher.num_blocks - TRAINABLE_BLOCKS
        return {
            n: run_in_batches(lambda a: teacher.tail_features(a, start), p).numpy()
            for n, p in prefix.items()
        }

    hs = _cached("effnet_frozen_mnist", {"data": data.fingerprint(), "size": IMAGE_SIZE}, build)
    return Case("efficientnet_lite0", "mnist5000", "frozen", _features(data, hs), data)


def _teacher_rows(
    name: str, key: dict[str, Any], y: np.ndarray, labels: int | None
) -> tuple[str, dict[str, Any], Any]:
    """(cache name, cache key, train rows) of a teacher trained on every train label, or on the
    :func:`scarce_labels` only (cached apart), for the key's ``epochs`` scaled by
    :func:`same_steps_epochs`."""
    import torch

    if labels is None:
        return name, key, torch.arange(len(y))
    rows = torch.from_numpy(scarce_labels(y, labels))
    epochs = same_steps_epochs(key["epochs"], len(y), labels)
    scarce = {**key, "labels": labels, "label_seed": LABEL_SEED, "epochs": epochs}
    return f"{name}_{labels}_labels", scarce, rows


def same_steps_epochs(epochs: int, rows: int, labels: int, batch_size: int = 64) -> int:
    """Epochs over ``labels`` rows that take at least the optimisation steps of ``epochs`` over
    all ``rows``: at a fixed epoch count a teacher fine-tuned on 300 of 3,250 labels took 40
    steps instead of 408 and reached 55.9 % on MNIST where its own features support 83.9 %."""
    steps = epochs * -(-rows // batch_size)
    return -(-steps // -(-labels // batch_size))


def effnet_finetuned_mnist(progress: bool, labels: int | None = None) -> Case:
    """EfficientNet-Lite0 with its last blocks, head conv and a new classifier fine-tuned; with
    ``labels``, on the :func:`scarce_labels` train rows only (the label-scarce regime's
    teacher: ImageNet pretraining plus those labels)."""
    import torch

    from edgesub.teachers.finetune import finetune_tail, run_in_batches

    data = mnist()
    key = {"data": data.fingerprint(), "size": IMAGE_SIZE, "blocks": TRAINABLE_BLOCKS, "epochs": 8}
    name, key, rows = _teacher_rows("effnet_finetuned_mnist", key, data.train.y, labels)

    def build() -> dict[str, np.ndarray]:
        teacher, prefix = _effnet_prefix(data, progress)
        start = teacher.num_blocks - TRAINABLE_BLOCKS
        for p in teacher.parameters():
            p.requires_grad_(False)
        tail = [
            *teacher.net._blocks[start:],
            teacher.net._conv_head,
            teacher.net._bn1,
            teacher.head,
        ]
        for module in tail:
            module.requires_grad_(True)
        y = {n: torch.from_numpy(s.y) for n, s in data.splits().items()}
        finetune_tail(
            teacher,
            lambda a: teacher.head(teacher.tail_features(a, start)),
            (prefix["train"][rows], y["train"][rows]),
            (prefix["val"], y["val"]),
            epochs=key["epochs"],
            lr=2e-3,
        )
        feats = {
            n: run_in_batches(lambda a: teacher.tail_features(a, start), p).numpy()
            for n, p in prefix.items()
        }
        return {**feats, **_head(teacher.head)}

    arrays = _cached(name, key, build, HEAD)
    case = _task_trained("efficientnet_lite0 (fine-tuned)", data, arrays)
    return dataclasses.replace(case, teacher_labels=labels)


def _minilm_embeddings(data: Dataset, progress: bool) -> dict[str, np.ndarray]:
    from edgesub.teachers.features import stream_features
    from edgesub.teachers.minilm import MiniLM

    def build() -> dict[str, np.ndarray]:
        import torch

        model = MiniLM()
        torch.set_num_threads(1)
        folder = CACHE / "minilm_tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return {
            n: np.asarray(
                stream_features(
                    model.features, s.x, folder / f"{n}.npy", n, batch_size=64, progress=progress
                )
            )
            for n, s in data.splits().items()
        }

    return _cached("minilm_frozen_rt", {"data": data.fingerprint()}, build)


def minilm_frozen_rt(progress: bool) -> Case:
    """MiniLM-L6 sentence embeddings of the reviews, nothing trained (frozen regime)."""
    data = reviews()
    feats = _features(data, _minilm_embeddings(data, progress))
    return Case("minilm_l6", "rotten_tomatoes", "frozen", feats, data)


def mlp_minilm_rt(progress: bool, labels: int | None = None) -> Case:
    """A wide MLP (d=1024) trained on frozen MiniLM embeddings: a task-trained text teacher;
    with ``labels``, on the :func:`scarce_labels` train rows only (MiniLM's pretraining plus
    those labels: the text-label-scarce regime's teacher)."""
    import torch

    from edgesub.teachers.finetune import finetune_tail, run_in_batches
    from edgesub.teachers.wide_mlp import WideMLP

    data = reviews()
    emb = _minilm_embeddings(data, progress)
    key = {"data": data.fingerprint(), "width": 1024, "d": 1024, "epochs": 15}
    name, key, rows = _teacher_rows("mlp_minilm_rt", key, data.train.y, labels)

    def build() -> dict[str, np.ndarray]:
        torch.manual_seed(0)
        mlp = WideMLP(384, 1024, 2)
        x = {n: torch.from_numpy(np.asarray(h)) for n, h in emb.items()}
        y = {n: torch.from_numpy(s.y) for n, s in data.splits().items()}
        train = (x["train"][rows], y["train"][rows])
        finetune_tail(mlp, mlp, train, (x["val"], y["val"]), epochs=key["epochs"], lr=1e-3)
        feats = {n: run_in_batches(mlp.features, v).numpy() for n, v in x.items()}
        return {**feats, **_head(mlp.head)}

    arrays = _cached(name, key, build, HEAD)
    case = _task_trained("minilm_l6 + wide_mlp", data, arrays)
    return dataclasses.replace(case, teacher_labels=labels)


CASE_BUILDERS: dict[str, Callable[[bool], Case]] = {
    "cnn_mnist": cnn_mnist,
    "effnet_frozen_mnist": effnet_frozen_mnist,
    "effnet_finetuned_mnist": effnet_finetuned_mnist,
    "minilm_frozen_rt": minilm_frozen_rt,
    "mlp_minilm_rt": mlp_minilm_rt,
}


def bar(items: range, label: str, enabled: bool) -> Any:
    """A transient progress bar over ``items`` (the range itself when disabled)."""
    if not enabled:
        return items
    from rich.progress import track

    return track(items, description=label, transient=True)


# Cases whose teacher can learn from the label-scarce regime's labels only.
SCARCE_BUILDERS: dict[str, Callable[[bool, int], Case]] = {
    "effnet_finetuned_mnist": effnet_finetuned_mnist,
    "mlp_minilm_rt": mlp_minilm_rt,
}
