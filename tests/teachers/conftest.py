"""A user's own trained teacher (tests/user_models.py), saved once per session the three ways
edgesub reads PyTorch models: factory + safetensors weights, ONNX and torch.export."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from user_models import SavedTeacher, save_user_teacher


@pytest.fixture(scope="session")
def saved_teacher(tmp_path_factory) -> SavedTeacher:
    return save_user_teacher(tmp_path_factory.mktemp("user_teacher"))
