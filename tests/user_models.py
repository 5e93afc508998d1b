"""A user's own trained PyTorch classifier, saved the three ways edgesub reads PyTorch models: the
source file with a factory plus safetensors weights, an ONNX file, and a torch.export program
(shared by the teacher-source and the convert-source tests).

The CNN is trained for a few hundred steps on sklearn's digits, so its features and logits are
those of a real classifier, not of random weights.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from tiny_models import fit

from edgesub.config import TeacherConfig
from edgesub.training.loop import torch_threads

FACTORY_SOURCE = """
from torch import nn


class DigitsCNN(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()
        )
        self.hidden = nn.Linear(16 * 4 * 4, hidden)
        self.act = nn.ReLU()
        self.classifier = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.classifier(self.act(self.hidden(self.body(x))))


def build():
    return DigitsCNN()


def build_wider():
    return DigitsCNN(hidden=48)


def broken():
    raise ValueError("no GPU on this machine")


def not_a_module():
    return {"weights": 1}
"""


@dataclass(frozen=True)
class SavedTeacher:
    """The trained module, its test inputs and the files it was saved to."""

    module: Any
    x: np.ndarray  # held-out digits, N×1×8×8 float32 in [0, 1]
    y: np.ndarray
    factory: Path
    weights: Path
    onnx: Path
    onnx_batch1: Path
    pt2: Path

    def config(self, kind: str, **fields: str) -> TeacherConfig:
        """The TeacherConfig naming this teacher as ``kind`` (factory, onnx or pt2)."""
        if kind == "factory":
            fields["weights"] = str(self.weights)
            return TeacherConfig(source=f"{self.factory}:build", **fields)
        return TeacherConfig(source=str(getattr(self, kind)), **fields)

    def penultimate(self, x: np.ndarray) -> np.ndarray:
        """The trained module's own input to its classifier, for comparison."""
        m = self.module
        with torch.no_grad():
            return m.act(m.hidden(m.body(torch.from_numpy(x)))).numpy()

    def logits(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.module(torch.from_numpy(x)).numpy()


def import_factory_file(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("digits_cnn_for_tests", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def save_user_teacher(folder: Path) -> SavedTeacher:
    """Train the digits CNN and save it into ``folder`` as factory + weights, ONNX and .pt2."""
    from safetensors.torch import save_file
    from sklearn.datasets import load_digits

    factory = folder / "digits_cnn.py"
    factory.write_text(FACTORY_SOURCE)
    images, labels = load_digits(return_X_y=True)
    x = (images.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    y = labels.astype(np.int64)
    torch.manual_seed(0)
    net = import_factory_file(factory).build()
    data = SimpleNamespace(train=SimpleNamespace(x=x[:1400], y=y[:1400]))
    with torch_threads(1):
        fit(net, data, epochs=12, batch_size=64)  # 22 batches an epoch: ~260 steps
    save_file(net.state_dict(), str(folder / "digits_cnn.safetensors"))
    sample = torch.from_numpy(x[:2])
    _export_onnx(net, sample, folder / "digits_cnn.onnx", dynamic=True)
    _export_onnx(net, sample[:1], folder / "digits_cnn_batch1.onnx", dynamic=False)
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (sample,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(folder / "digits_cnn.pt2"))
    return SavedTeacher(
        module=net,
        x=x[1400:],
        y=y[1400:],
        factory=factory,
        weights=folder / "digits_cnn.safetensors",
        onnx=folder / "digits_cnn.onnx",
        onnx_batch1=folder / "digits_cnn_batch1.onnx",
        pt2=folder / "digits_cnn.pt2",
    )


def _export_onnx(net: Any, sample: Any, path: Path, *, dynamic: bool) -> None:
    """As edgesub's own ONNX converter does it: the TorchScript exporter, one file."""
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (sample,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes=axes,
        )
