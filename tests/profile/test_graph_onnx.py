"""Graph analysis of hand-built ONNX models whose MACs, bytes and liveness are known."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesub.errors import EstimateError, ModelFileError
from edgesub.profile.devices import get_device
from edgesub.profile.estimate import latency_parts
from edgesub.profile.formats import load_graph
from edgesub.profile.graph import peak_live_bytes


def _init(name: str, shape: tuple[int, ...], dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, dtype=dtype), name)


def tiny_cnn(
    path: Path, batch: int | str = 1, width: int = 4, custom: bool = False, side: int | str = 8
) -> Path:
    """x[b,1,8,8] → Conv3×3(1→w) → Relu → depthwise 3×3 → Conv1×1(w→w) → Flatten → Gemm(→10).

    MACs per sample: 64·w·9 (conv) + 64·w·9 (depthwise) + 64·w·w (1×1) + 64·w·10 (gemm).
    """
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "wd"], ["d1"], pads=[1, 1, 1, 1], group=width, name="dw"),
        helper.make_node("Conv", ["d1", "wp"], ["p1"], name="pw"),
        helper.make_node("Flatten", ["p1"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wg", "bg"], ["y"], transB=1, name="fc"),
    ]
    if custom:
        nodes.append(helper.make_node("FancyOp", ["y"], ["z"], domain="my.ops", name="fancy"))
    inits = [
        _init("w1", (width, 1, 3, 3)), _init("b1", (width,)), _init("wd", (width, 1, 3, 3)),
        _init("wp", (width, width, 1, 1)), _init("wg", (10, 64 * width)), _init("bg", (10,)),
    ]  # fmt: skip
    out = "z" if custom else "y"
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, side, side])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        inits,
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("my.ops", 1)] if custom else [])
    onnx.save(helper.make_model(graph, opset_imports=opsets), path)
    return path


def expected_macs(width: int) -> int:
    return 64 * width * 9 + 64 * width * 9 + 64 * width * width + 64 * width * 10


def test_macs_kinds_and_weights_of_a_known_model(tmp_path):
    graph = load_graph(tiny_cnn(tmp_path / "m.onnx"))
    assert graph.format == "onnx"
    assert graph.macs == expected_macs(4)
    by_name = {op.name: op for op in graph.ops}
    assert by_name["conv"].kind == "conv" and by_name["conv"].macs == 64 * 4 * 9
    assert by_name["dw"].kind == "depthwise" and by_name["dw"].macs == 64 * 4 * 9
    assert by_name["pw"].kind == "pointwise" and by_name["pw"].macs == 64 * 16
    assert by_name["fc"].kind == "matmul" and by_name["fc"].macs == 64 * 4 * 10
    # ONNX Runtime runs the Relu inside the conv (FusedConv): one op, its output written once
    assert "relu" not in by_name and by_name["conv"].fused == ("Relu",)
    assert graph.fused_ops == 1 and len(graph.ops) == 5
    weights = 4 * (4 * 9 + 4 + 4 * 9 + 16 + 10 * 256 + 10)
    assert graph.weight_bytes == weights
    assert by_name["fc"].weight_bytes == 4 * (10 * 256 + 10)
    assert by_name["conv"].output_bytes == 4 * 4 * 64
    assert [i.shape for i in graph.inputs] == [(1, 1, 8, 8)]
    assert graph.precision == "fp32"


def test_peak_activation_of_a_chain(tmp_path):
    graph = load_graph(tiny_cnn(tmp_path / "m.onnx"))
    # Largest step: a 4×8×8 fp32 tensor in and one out (1 kB each); the 256-B input is freed.
    assert graph.peak_activation_bytes == 2 * 4 * 4 * 64


def test_peak_live_bytes_frees_after_last_use():
    sizes = {"x": 10, "a": 100, "b": 1, "c": 50, "y": 5}
    steps = [(["x"], ["a"]), (["a"], ["b"]), (["b", "x"], ["c"]), (["c"], ["y"])]
    # step0: x+a=110; step1: x+a+b=111; step2: x+b+c=61; step3: c+y=55
    assert peak_live_bytes(steps, sizes, ["x"], ["y"]) == 111
    assert peak_live_bytes(steps, sizes, ["x"], ["y", "a"]) == 161  # a kept alive as an output


def test_dynamic_batch_defaults_to_one_and_other_dynamic_dims_need_input_shape(tmp_path):
    path = tiny_cnn(tmp_path / "dyn.onnx", batch="N")
    assert load_graph(path).macs == expected_macs(4)
    with pytest.raises(ModelFileError, match="--input-shape"):
        load_graph(tiny_cnn(tmp_path / "dyn_side.onnx", side="H"))
    graph = load_graph(path, input_shape=(3, 1, 8, 8))
    assert graph.macs == 3 * expected_macs(4)
    with pytest.raises(ModelFileError, match="contradicts"):
        load_graph(path, input_shape=(3, 1, 9, 9))


def test_corrupt_and_truncated_files(tmp_path):
    good = tiny_cnn(tmp_path / "good.onnx").read_bytes()
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(good[: len(good) // 3])
    with pytest.raises(ModelFileError, match=r"cut\.onnx"):
        load_graph(truncated)
    garbage = tmp_path / "junk.onnx"
    garbage.write_bytes(b"\xff\x00not a model" * 10)
    with pytest.raises(ModelFileError):
        load_graph(garbage)
    with pytest.raises(ModelFileError, match="not found"):
        load_graph(tmp_path / "missing.onnx")
    other = tmp_path / "m.pt"
    other.write_bytes(b"x")
    with pytest.raises(ModelFileError, match="unsupported"):
        load_graph(other)


def test_custom_op_is_named_when_estimating(tmp_path):
    graph = load_graph(tiny_cnn(tmp_path / "custom.onnx", custom=True))
    assert graph.custom_ops == ["my.ops.FancyOp"]
    with pytest.raises(EstimateError, match="FancyOp"):
        latency_parts(graph, get_device("raspberry-pi-4b"))


def test_qdq_int8_weights_are_counted_as_int8(tmp_path):
    nodes = [
        helper.make_node("DequantizeLinear", ["wq", "s", "zp"], ["w"], name="dq"),
        helper.make_node("Conv", ["x", "w"], ["y"], name="conv"),
    ]
    inits = [
        numpy_helper.from_array(np.ones((8, 3, 3, 3), np.int8), "wq"),
        numpy_helper.from_array(np.array(0.1, np.float32), "s"),
        numpy_helper.from_array(np.array(0, np.int8), "zp"),
    ]
    graph = helper.make_graph(
        nodes,
        "q",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "q.onnx"
    )
    parsed = load_graph(tmp_path / "q.onnx")
    assert [op.op_type for op in parsed.ops] == ["Conv"]
    assert parsed.ops[0].precision == "int8"
    assert parsed.ops[0].weight_bytes == 8 * 3 * 9
    assert parsed.macs == 8 * 8 * 8 * 27
