"""Every op is costed or named: constant folding of shape sub-graphs, refusal of partial graphs."""

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from edgesub.cli import cli
from edgesub.errors import EstimateError
from edgesub.profile.devices import get_device
from edgesub.profile.estimate import estimate
from edgesub.profile.formats import load_graph
from edgesub.profile.run import profile_artifacts

PROFILE = ["profile", "--no-measure", "--device", "pixel-4"]


def partial_model(path: Path) -> Path:
    """x → Conv → Det (no cost rule), and a Conv whose input is reshaped to a runtime shape.

    The reshape target is a graph input (data, not a shape), so nothing can resolve it.
    """
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="known"),
        helper.make_node("Reshape", ["c", "target"], ["r"], name="reshape"),
        helper.make_node("Conv", ["r", "w2"], ["y"], name="unknown"),
        helper.make_node("Det", ["d"], ["det"], name="det"),
    ]
    inits = [
        numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w"),
        numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), "w2"),
    ]
    graph = helper.make_graph(
        nodes,
        "partial",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8]),
            helper.make_tensor_value_info("target", TensorProto.INT64, [4]),
            helper.make_tensor_value_info("d", TensorProto.FLOAT, [3, 3]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("det", TensorProto.FLOAT, None),
        ],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_uncosted_ops_are_counted_and_named(tmp_path):
    graph = load_graph(partial_model(tmp_path / "p.onnx"))
    costed = {op.name: op.costed for op in graph.ops}
    assert costed == {"known": True, "reshape": False, "unknown": False, "det": False}
    assert graph.costed_fraction == 0.25
    assert graph.uncosted_ops == ["Conv", "Det", "Reshape"]


def test_estimate_refuses_uncosted_ops_unless_partial_is_allowed(tmp_path):
    graph = load_graph(partial_model(tmp_path / "p.onnx"))
    device = get_device("pixel-4")
    with pytest.raises(EstimateError, match=r"3 of 4 ops is unknown \(Conv, Det, Reshape"):
        estimate(graph, device)
    assert estimate(graph, device, allow_partial=True).macs == 64 * 4 * 9


def test_profile_refuses_with_one_line_and_flags_with_allow_partial(tmp_path):
    path = partial_model(tmp_path / "p.onnx")
    result = CliRunner().invoke(cli, [*PROFILE, str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert "Conv, Det, Reshape" in line and "--allow-partial" in line
    result = CliRunner().invoke(cli, [*PROFILE, "--allow-partial", str(path)], terminal_width=300)
    assert result.exit_code == 0, result.output
    assert "partial: 25 % of ops costed (no cost: Conv, Det, Reshape)" in result.output
    (record,) = profile_artifacts([path], ["pixel-4"], measure=False, allow_partial=True)
    assert record.costed_fraction == 0.25
    assert record.uncosted_ops == ("Conv", "Det", "Reshape")


def same_padding_model(path: Path) -> Path:
    """TF-style "same" padding computed at run time from the input's shape, as PyTorch ports of
    TF models do: Shape → Gather → arithmetic → ConstantOfShape/Concat/Slice/Cast → Pad → Conv."""
    torch = pytest.importorskip("torch")

    class SameConv(torch.nn.Conv2d):
        def forward(self, x):
            ih, iw = x.size()[-2:]
            (kh, kw), (sh, sw) = self.weight.size()[-2:], self.stride
            ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
            pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
            x = torch.nn.functional.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
            return torch.nn.functional.conv2d(
                x, self.weight, self.bias, self.stride, 0, 1, self.groups
            )

    model = torch.nn.Sequential(
        SameConv(3, 8, 3, 2), torch.nn.ReLU(), SameConv(8, 8, 3, 1, groups=8),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4),
    )  # fmt: skip
    torch.onnx.export(model.eval(), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False)
    return path


def test_dynamic_same_padding_sub_graphs_are_folded(tmp_path):
    path = same_padding_model(tmp_path / "same.onnx")
    assert "ConstantOfShape" in {n.op_type for n in onnx.load(str(path)).graph.node}
    graph = load_graph(path)
    assert graph.costed_fraction == 1.0
    # conv 16·16·8 outputs × 27, depthwise 16·16·8 × 9, linear 8 × 4
    assert graph.macs == 2048 * 27 + 2048 * 9 + 32
    assert [op.op_type for op in graph.ops if op.macs] == ["Conv", "Conv", "Gemm"]
    assert graph.weight_bytes == 4 * (8 * 27 + 8 + 8 * 9 + 8 + 8 * 4 + 4)


def test_stale_output_annotations_do_not_hide_shapes(tmp_path):
    """Paddle exports declare outputs as [-1, 2]; inference must still find [1, 2]."""
    nodes = [
        helper.make_node("Softmax", ["x"], ["s"], name="softmax"),
        helper.make_node("Identity", ["s"], ["y"], name="identity"),
    ]
    graph = helper.make_graph(
        nodes,
        "annotated",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [-1, 2])],
    )
    path = tmp_path / "annotated.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    graph = load_graph(path)
    assert graph.costed_fraction == 1.0
    assert graph.outputs[0].shape == (1, 2)


def test_shape_of_a_folded_constant_is_known(tmp_path):
    """Hugging Face BERTs slice position/token-type buffers to the sequence length and take
    the shape of the slice: once folded, that slice is a constant whose shape is known."""
    torch = pytest.importorskip("torch")

    class Embeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            positions = torch.arange(512).expand(1, -1)
            self.register_buffer("positions", positions, persistent=False)
            self.embed = torch.nn.Embedding(512, 8)
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, ids):
            positions = self.positions[:, : ids.shape[1]]
            types = torch.zeros(positions.shape, dtype=torch.long).expand(ids.shape[0], -1)
            return self.fc(self.embed(positions) + self.embed(types) + self.embed(ids))

    path = tmp_path / "embeddings.onnx"
    axes = {0: "batch", 1: "sequence"}
    ids = torch.zeros(2, 16, dtype=torch.long)
    model = Embeddings().eval()
    torch.onnx.export(
        model, (ids,), str(path), dynamo=False, input_names=["ids"], dynamic_axes={"ids": axes}
    )
    graph = load_graph(path, (1, 128))
    assert graph.costed_fraction == 1.0
    assert graph.macs == 128 * 8 * 8
