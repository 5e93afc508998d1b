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
    efficientnet_b0,
    export_onnx,
    inception_v3,
    inception_v4,
    mobilenet_v1,
    mobilenet_v2,
    mobilenet_v3_large,
    mobilenet_v3_small,
)

__all__ = ["REFERENCE_MODELS", "as_int8", "graph_for", "mobilenet_v2", "reference_graph"]


# Published model name → (builder, input resolution).
REFERENCE_MODELS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    "mobilenet_v1": (mobilenet_v1, 224),
    "mobilenet_v1_1.0_224": (mobilenet_v1, 224),
    "mobilenet_v2_1.0_224": (mobilenet_v2, 224),
    "mobilenet_v3_large": (mobilenet_v3_large, 224),
    "mobilenet_v3_small": (mobilenet_v3_small, 224),
    "efficientnet_b0": (efficientnet_b0, 224),
    "inception_v3": (inception_v3, 299),
    "inception_v4": (inception_v4, 299),
}


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
