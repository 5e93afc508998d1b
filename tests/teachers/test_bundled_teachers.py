"""The teachers edgesub ships, loaded by name through the same registry as a user's model:
feature extractors without a head for the user's classes."""

from __future__ import annotations

import numpy as np
import pytest

from edgesub.config import TeacherConfig
from edgesub.teachers import load_source

pytest.importorskip("torch")


def test_minilm_embeds_two_sentences():
    pytest.importorskip("transformers")
    teacher = load_source(TeacherConfig(source="minilm"))
    h = teacher.features(np.array(["a small model on a phone", "the weather is nice today"]))
    assert teacher.input_kind == "text" and teacher.logits is None and teacher.head is None
    assert h.shape == (2, 384) and h.dtype == np.float32
    assert np.allclose(np.linalg.norm(h, axis=1), 1.0, atol=1e-5)  # sentence-transformers' L2


def test_efficientnet_lite0_pools_its_head_conv():
    teacher = load_source(TeacherConfig(source="efficientnet_lite0"))
    assert teacher.preprocess == {
        "size": [224, 224],
        "channels": "RGB",
        "scale": 1.0 / 255.0,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "layout": "NCHW",
    }
    image = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    h = teacher.features(image)
    assert h.shape == (1, 1280) and np.isfinite(h).all() and np.abs(h).sum() > 0
    assert teacher.logits is None and teacher.head is None  # ImageNet's classes are not ours
