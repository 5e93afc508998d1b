"""The reference CNNs behind published latencies, as edgesub's graph reader sees them.

The structures live in ``tests/profile/reference_nets.py`` (one definition shared with the
MAC-count test); each is exported to ONNX and parsed by edgesub's own graph reader, so
calibration sees exactly what a user's file would give. Needs the ``train`` extra (torch).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from edgesub.profile.formats import load_graph
from edgesub.profile.graph import Graph, OpCost

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "profile"))
from reference_nets import (
    EFFICIENTNET_LITE,
    cifar_resnet,
    efficientnet_b0,
    efficientnet_lite,
    export_onnx,
    inception_v1,
    inception_v3,
    inception_v4,
    mnasnet_a1,
    mobilenet_v1,
    mobilenet_v2,
    mobilenet_v3_large,
    mobilenet_v3_small,
    resnet18,
    resnet50,
    vgg13,
)

__all__ = ["REFERENCE_MODELS", "as_int8", "graph_for", "mobilenet_v2", "reference_graph"]


# Published model name → (builder, input resolution). Width-multiplier variants follow the
# TensorFlow file names (mobilenet_v1_0.5_160: width 0.5, 160×160 input).
REFERENCE_MODELS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    "mobilenet_v1": (mobilenet_v1, 224),
    **{
        f"mobilenet_v1_{alpha}_{size}": (functools.partial(mobilenet_v1, float(alpha)), size)
        for alpha in ("0.25", "0.5", "0.75", "1.0")
        for size in (128, 160, 192, 224)
    },
    "mobilenet_v2_1.0_224": (mobilenet_v2, 224),
    "mobilenet_v2_0.5_224": (functools.partial(mobilenet_v2, 0.5), 224),
    "mobilenet_v3_large": (mobilenet_v3_large, 224),
    "mobilenet_v3_small": (mobilenet_v3_small, 224),
    "mobilenet_v3_large_0.75": (functools.partial(mobilenet_v3_large, 0.75), 224),
    "mobilenet_v3_small_0.75": (functools.partial(mobilenet_v3_small, 0.75), 224),
    "mobilenet_v3_large_minimalistic": (
        functools.partial(mobilenet_v3_large, minimalistic=True), 224,
    ),
    "efficientnet_b0": (efficientnet_b0, 224),
    **{
        f"efficientnet_lite{i}": (functools.partial(efficientnet_lite, i), size)
        for i, (_, _, size) in EFFICIENTNET_LITE.items()
    },
    "mnasnet_a1": (mnasnet_a1, 224),
    "inception_v1": (inception_v1, 224),
    "inception_v3": (inception_v3, 299),
    "inception_v4": (inception_v4, 299),
    "resnet18": (resnet18, 224),
    # the original ResNet-50 (stride in the first 1×1 of a stage, as Caffe's and ncnn's files)
    "resnet50_v1": (functools.partial(resnet50, False), 224),
    "resnet50_v1.5": (resnet50, 224),
    "vgg13": (vgg13, 224),
    # He et al. 2016's CIFAR-10 ResNets (6n + 2 layers, 32×32 inputs)
    **{f"cifar_resnet{d}": (functools.partial(cifar_resnet, d), 32) for d in (8, 14, 20, 26)},
}  # fmt: skip


@functools.cache
def reference_graph(name: str) -> Graph:
    """Export the named structure to ONNX (fp32) and parse it with edgesub's reader."""
    builder, size = REFERENCE_MODELS[name]
    torch.manual_seed(0)
    model = builder().eval()
    with tempfile.TemporaryDirectory() as tmp:
        return load_graph(export_onnx(model, str(Path(tmp) / f"{name}.onnx"), size))


def as_int8(graph: Graph) -> Graph:
    """The same graph as a fully int8-quantised runtime would run it (1-byte tensors)."""
    ops = [
        OpCost(
            op.name,
            op.op_type,
            op.kind,
            op.macs,
            op.weight_bytes // 4,
            op.input_bytes // 4,
            op.output_bytes // 4,
            "int8",
        )
        for op in graph.ops
    ]
    return Graph(
        path=graph.path, format=graph.format, ops=ops, inputs=graph.inputs, outputs=graph.outputs,
        weight_bytes=graph.weight_bytes // 4,
        peak_activation_bytes=graph.peak_activation_bytes // 4,
    )  # fmt: skip


def graph_for(model: str, precision: str) -> Graph:
    graph = reference_graph(model)
    return as_int8(graph) if precision == "int8" else graph
