"""Runtime fusion in the graph reader: ONNX rules agree with ONNX Runtime, TFLite rules with what
XNNPACK fuses, nothing is charged twice, and MACs are unchanged (hand-built graphs, no torch)."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgesub.profile import graph_onnx, graph_tflite
from edgesub.profile.devices import get_device
from edgesub.profile.estimate import latency_parts
from edgesub.profile.formats import load_graph
from edgesub.profile.fusion import AFTER, FusionRule, Step, fuse
from edgesub.profile.graph import OpCost

X = [1, 4, 8, 8]  # a conv input; every conv below makes 8 channels of 8×8


def _const(name: str, shape: tuple[int, ...], value: float | None = None) -> onnx.TensorProto:
    data = np.full(shape, value, np.float32) if value is not None else np.ones(shape, np.float32)
    return numpy_helper.from_array(data, name)


def _model(
    path: Path, nodes: list, consts: list, x: list[int] = X, outputs: tuple[str, ...] = ("y",)
) -> Path:
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        consts,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _node(op: str, inputs: list[str], output: str, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=output, **attrs)


CONV = [_const("w", (8, 4, 3, 3)), _const("b", (8,))]
BN = [_const(n, (8,)) for n in ("scale", "shift", "mean", "var")]
CLIP = [_const("lo", (), 0.0), _const("hi", (), 6.0)]
GEMM = [_const("wg", (16, 32)), _const("bg", (16,))]
MATMUL = [_const("wm", (32, 16)), _const("bm", (16,))]


def _conv(out: str = "c") -> onnx.NodeProto:
    return _node("Conv", ["x", "w", "b"], out, pads=[1, 1, 1, 1])


def _act(op: str, src: str = "c", out: str = "y") -> onnx.NodeProto:
    extra = {"Clip": ["lo", "hi"], "PRelu": ["slope"]}.get(op, [])
    return _node(op, [src, *extra], out)


def _conv_then(*ops: str) -> tuple[list, list]:
    names = ["c", *(f"t{i}" for i in range(len(ops) - 1)), "y"]
    nodes = [_conv()]
    for op, src, out in zip(ops, names, names[1:], strict=False):
        inputs = {"BatchNormalization": [src, "scale", "shift", "mean", "var"]}.get(op)
        nodes.append(_node(op, inputs, out) if inputs else _act(op, src, out))
    return nodes, CONV + BN + CLIP + [_const("slope", (8, 1, 1))]


def _with_add(shape: tuple[int, ...], op: str = "Add", first: bool = False) -> tuple[list, list]:
    inputs = ["k", "c"] if first else ["c", "k"]
    return [_conv(), _node(op, inputs, "y")], [*CONV, _const("k", shape)]


def _case(nodes_consts: tuple[list, list], x: list[int] = X, outputs=("y",)) -> tuple:
    return (*nodes_consts, x, outputs)


# name: (nodes, constants, input shape, graph outputs). ONNX Runtime's verdict on each is not
# written down here: the test asks it.
CASES = {
    **{f"conv+{a}": _case(_conv_then(a)) for a in
       ("Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "Elu", "PRelu")},
    "conv+bn": _case(_conv_then("BatchNormalization")),
    "conv+bn+relu": _case(_conv_then("BatchNormalization", "Relu")),
    "conv+bn+bn": _case(_conv_then("BatchNormalization", "BatchNormalization")),
    "conv+identity+relu": _case(_conv_then("Identity", "Relu")),
    "conv+dropout+clip": _case(_conv_then("Dropout", "Clip")),
    "conv+relu+relu": _case(_conv_then("Relu", "Relu")),
    "conv+relu+identity (a graph output)": _case(_conv_then("Relu", "Identity")),
    "conv+add [C,1,1]": _case(_with_add((8, 1, 1))),
    "conv+add [1,C,1,1]": _case(_with_add((1, 8, 1, 1))),
    "conv+add [C]": _case(_with_add((8,))),
    "conv+add [1,C,8,8]": _case(_with_add((1, 8, 8, 8))),
    "conv+add, constant first": _case(_with_add((8, 1, 1), first=True)),
    "conv+mul [C,1,1]": _case(_with_add((8, 1, 1), "Mul")),
    "conv+sub [C,1,1]": _case(_with_add((8, 1, 1), "Sub")),
    "conv+relu, conv output read twice": _case(
        ([_conv(), _act("Relu"), _node("Neg", ["c"], "z")], CONV), outputs=("y", "z")
    ),
    "conv+relu, conv output is a graph output": _case(([_conv(), _act("Relu")], CONV),
                                                       outputs=("y", "c")),
    "conv+add of an activation": _case(
        ([_conv(), _node("Add", ["c", "x"], "y")], [_const("w", (4, 4, 3, 3)), _const("b", (4,))])
    ),
    "relu+identity+neg": _case(([_act("Relu", "x", "r"), _node("Identity", ["r"], "i"),
                                 _node("Neg", ["i"], "y")], [])),
    "add+relu": _case(([_node("Add", ["x", "x"], "c"), _act("Relu")], [])),
    "convtranspose+relu": _case(([_node("ConvTranspose", ["x", "wt"], "c"), _act("Relu")],
                                 [_const("wt", (4, 8, 3, 3))])),
    **{f"gemm+{a}": _case(([_node("Gemm", ["x", "wg", "bg"], "c", transB=1), _act(a)],
                           GEMM + CLIP), [1, 32]) for a in ("Relu", "Clip", "Sigmoid", "Tanh")},
    "matmul+relu": _case(([_node("MatMul", ["x", "wm"], "c"), _act("Relu")], MATMUL), [1, 32]),
    "matmul+add": _case(([_node("MatMul", ["x", "wm"], "c"), _node("Add", ["c", "bm"], "y")],
                         MATMUL), [1, 32]),
    "matmul+add+relu": _case(([_node("MatMul", ["x", "wm"], "c"), _node("Add", ["c", "bm"], "d"),
                               _act("Relu", "d")], MATMUL), [2, 32]),
    "3-d matmul+relu": _case(([_node("MatMul", ["x", "wm"], "c"), _act("Relu")], MATMUL),
                             [1, 5, 32]),
    # SiLU / Swish, x · σ(x): one QuickGelu kernel; the conv keeps its own output (read twice)
    "conv+silu": _case(([_conv(), _act("Sigmoid", "c", "s"), _node("Mul", ["c", "s"], "y")],
                        CONV)),
    "conv+silu, operands swapped": _case(([_conv(), _act("Sigmoid", "c", "s"),
                                           _node("Mul", ["s", "c"], "y")], CONV)),
    "silu of the graph input": _case(([_act("Sigmoid", "x", "s"), _node("Mul", ["x", "s"], "y")],
                                      [])),
    "sigmoid gating another tensor": _case(([_conv(), _act("Sigmoid", "c", "s"),
                                             _node("Mul", ["s", "x"], "y")],
                                            [_const("w", (4, 4, 3, 3)), _const("b", (4,))])),
}  # fmt: skip


def _ort_node_count(path: Path) -> int:
    """Nodes of the model ONNX Runtime runs (CPU, ORT_ENABLE_EXTENDED, as written offline)."""
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(path.with_suffix(".ort.onnx"))
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return len(onnx.load(options.optimized_model_filepath).graph.node)


def _unfused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load graphs as stored: no fusion rules, no pass-through removal."""
    monkeypatch.setattr(graph_onnx, "ONNX_FUSIONS", ())
    monkeypatch.setattr(graph_onnx, "ONNX_NO_OPS", frozenset())
    monkeypatch.setattr(graph_tflite, "TFLITE_FUSIONS", ())


@pytest.mark.parametrize("name", list(CASES))
def test_onnx_ops_are_the_ops_onnx_runtime_runs(name, tmp_path):
    nodes, consts, x, outputs = CASES[name]
    path = _model(tmp_path / "m.onnx", nodes, consts, x, outputs)
    graph = load_graph(path)
    assert len(graph.ops) == _ort_node_count(path), [(o.op_type, o.fused) for o in graph.ops]
    assert len(graph.ops) + graph.fused_ops == len(nodes)
    assert graph.costed_fraction == 1.0


def test_fused_conv_costs_what_the_runtime_moves(tmp_path, monkeypatch):
    """Conv → BN → Identity → Clip → Dropout → 1×1 Conv → Relu: two kernels. The 8×8×8 fp32
    intermediates (2 kB each) are neither written nor read; MACs are the stored graph's."""
    nodes, consts = _conv_then("BatchNormalization", "Identity", "Clip", "Dropout")
    nodes[-1].output[0] = "r6"
    nodes += [_node("Conv", ["r6", "wp"], "p"), _act("Relu", "p")]
    path = _model(tmp_path / "m.onnx", nodes, [*consts, _const("wp", (8, 8, 1, 1))])
    graph = load_graph(path)
    assert [(op.op_type, op.fused) for op in graph.ops] == [
        ("Conv", ("BatchNormalization", "Clip")),
        ("Conv", ("Relu",)),
    ]
    assert graph.fused_ops == 5
    tensor = 8 * 8 * 8 * 4
    first, second = graph.ops
    assert (first.input_bytes, first.output_bytes) == (4 * 64 * 4, tensor)
    assert first.weight_bytes == 4 * (8 * 4 * 9 + 8)  # BN's statistics are folded in at load
    assert (second.input_bytes, second.output_bytes) == (tensor, tensor)
    assert graph.peak_activation_bytes == 2 * tensor

    _unfused(monkeypatch)
    stored = load_graph(path)
    assert len(stored.ops) == 7 and stored.fused_ops == 0
    assert stored.macs == graph.macs == 64 * 8 * (4 * 9 + 8)
    device = get_device("raspberry-pi-4b")
    for threads in (1, 4):
        assert (
            latency_parts(graph, device, threads).total_ms
            < latency_parts(stored, device, threads).total_ms
        )


def test_an_uncosted_op_is_not_fused_away(tmp_path):
    """A Relu whose input shape inference cannot know stays an op, and a visible gap."""
    nodes = [
        _node("Reshape", ["x", "target"], "r"),
        _node("Conv", ["r", "w", "b"], "c", pads=[1, 1, 1, 1]),
        _act("Relu"),
    ]
    graph_proto = helper.make_graph(
        nodes,
        "gap",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, X),
            helper.make_tensor_value_info("target", TensorProto.INT64, [4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        CONV,
    )
    path = tmp_path / "gap.onnx"
    onnx.save(helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", 17)]), path)
    graph = load_graph(path)
    assert [op.op_type for op in graph.ops] == ["Reshape", "Conv", "Relu"]
    assert graph.fused_ops == 0 and graph.uncosted_ops == ["Conv", "Relu", "Reshape"]


def test_rules_are_data_and_chain_only_as_far_as_they_say():
    """The engine on format-neutral steps: a closing rule stops the chain; a private
    intermediate is required."""

    def step(name: str, op_type: str, ins: tuple[str, ...], outs: tuple[str, ...]) -> Step:
        return Step(OpCost(name, op_type, "other", 1, 0, 100, 100, "fp32"), ins, outs)

    steps = [step("a", "A", ("x",), ("t",)), step("b", "B", ("t",), ("u",))]
    steps.append(step("c", "C", ("u",), ("y",)))
    sizes = {"x": 100, "t": 100, "u": 100, "y": 100}
    rules = [FusionRule("ab", frozenset({"A"}), frozenset({"B", "C"}), AFTER, closes=True)]
    run = fuse(steps, ["x"], ["y"], sizes, rules)
    assert [(s.cost.name, s.cost.fused, s.cost.macs) for s in run.steps] == [
        ("a", ("B",), 2),
        ("c", (), 1),
    ]
    assert run.fused_ops == 1 and run.steps[0].outputs == ("u",)
    open_rules = [FusionRule("ab", frozenset({"A"}), frozenset({"B", "C"}))]
    assert len(fuse(steps, ["x"], ["y"], sizes, open_rules).steps) == 1
    assert len(fuse(steps, ["x"], ["y", "t"], sizes, open_rules).steps) == 3  # t is an output


# --- TFLite, built with the flatbuffer schema ai-edge-litert ships (no converter, fast) ------


def _tflite(path: Path, ops: list[tuple], tensors: dict[str, tuple]) -> Path:
    """``tensors``: name → (shape, numpy data or None); ``ops``: (builtin name, inputs, outputs,
    options name or None, options dict). Tensor "x" is the input, the last op's output the
    output."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    names = list(tensors)
    model = schema.ModelT()
    model.version, model.description = 3, "edgesub fusion test"
    model.buffers = [schema.BufferT()]
    graph = schema.SubGraphT()
    graph.tensors = []
    for name in names:
        shape, data = tensors[name]
        t = schema.TensorT()
        t.name, t.shape = name, list(shape)
        integer = data is not None and data.dtype == np.int32
        t.type = schema.TensorType.INT32 if integer else schema.TensorType.FLOAT32
        t.buffer = 0
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(data.tobytes(), np.uint8)
            t.buffer = len(model.buffers)
            model.buffers.append(buffer)
        graph.tensors.append(t)
    codes: list[str] = []
    graph.operators = []
    for builtin, ins, outs, options_name, options in ops:
        if builtin not in codes:
            codes.append(builtin)
        op = schema.OperatorT()
        op.opcodeIndex = codes.index(builtin)
        op.inputs = [names.index(n) for n in ins]
        op.outputs = [names.index(n) for n in outs]
        if options_name:
            table = getattr(schema, options_name + "T")()
            for key, value in options.items():
                setattr(table, key, value)
            op.builtinOptionsType = getattr(schema.BuiltinOptions, options_name)
            op.builtinOptions = table
        graph.operators.append(op)
    model.operatorCodes = []
    for builtin in codes:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = getattr(schema.BuiltinOperator, builtin)
        code.version = 1
        model.operatorCodes.append(code)
    graph.inputs, graph.outputs = [names.index("x")], [names.index(ops[-1][2][0])]
    model.subgraphs = [graph]
    flatbuffer_utils.write_model(model, str(path))
    return path


def _conv_options(padding: str, activation: str = "NONE", stride: int = 1) -> dict:
    from ai_edge_litert import schema_py_generated as schema

    return {
        "padding": getattr(schema.Padding, padding),
        "strideW": stride,
        "strideH": stride,
        "fusedActivationFunction": getattr(schema.ActivationFunctionType, activation),
    }


def _pad_conv_relu6(
    path: Path, pads: list[list[int]], padding: str = "VALID", dw_activation: str = "RELU"
) -> Path:
    """x[1,9,9,4] → PAD → CONV_2D 3×3 stride 2 (4→8) → RELU6 → DEPTHWISE 3×3 (fused RELU)."""
    padded = [9 + sum(pads[1]), 9 + sum(pads[2])]
    side = (padded[0] - 3) // 2 + 1 if padding == "VALID" else (padded[0] + 1) // 2
    channels = 4 + sum(pads[3])
    tensors = {
        "x": ((1, 9, 9, 4), None),
        "paddings": ((4, 2), np.array(pads, np.int32)),
        "p": ((1, *padded, channels), None),
        "w": ((8, 3, 3, channels), np.ones((8, 3, 3, channels), np.float32)),
        "b": ((8,), np.zeros(8, np.float32)),
        "c": ((1, side, side, 8), None),
        "r": ((1, side, side, 8), None),
        "wd": ((1, 3, 3, 8), np.ones((1, 3, 3, 8), np.float32)),
        "d": ((1, side, side, 8), None),
    }
    dw = {**_conv_options("SAME", dw_activation), "depthMultiplier": 1}
    ops = [
        ("PAD", ["x", "paddings"], ["p"], None, {}),
        ("CONV_2D", ["p", "w", "b"], ["c"], "Conv2DOptions", _conv_options(padding, stride=2)),
        ("RELU6", ["c"], ["r"], None, {}),
        ("DEPTHWISE_CONV_2D", ["r", "wd", "b"], ["d"], "DepthwiseConv2DOptions", dw),
    ]
    return _tflite(path, ops, tensors)


def test_tflite_pad_and_relu6_run_inside_the_convolution(tmp_path, monkeypatch):
    pytest.importorskip("ai_edge_litert")
    path = _pad_conv_relu6(tmp_path / "m.tflite", [[0, 0], [1, 1], [1, 1], [0, 0]])
    graph = load_graph(path)
    assert [(op.op_type, op.fused) for op in graph.ops] == [
        ("CONV_2D", ("PAD", "RELU6")),
        ("DEPTHWISE_CONV_2D", ()),  # its fused RELU is part of it: nothing more to charge
    ]
    conv = graph.ops[0]
    assert conv.input_bytes == 9 * 9 * 4 * 4  # the unpadded input, read once
    assert conv.output_bytes == 5 * 5 * 8 * 4
    _unfused(monkeypatch)
    stored = load_graph(path)
    assert [op.op_type for op in stored.ops] == ["PAD", "CONV_2D", "RELU6", "DEPTHWISE_CONV_2D"]
    assert stored.macs == graph.macs == 25 * 8 * 36 + 25 * 8 * 9
    plain = _pad_conv_relu6(
        tmp_path / "plain.tflite", [[0, 0], [1, 1], [1, 1], [0, 0]], "VALID", "NONE"
    )
    assert load_graph(plain).ops[-1] == graph.ops[1]  # a fused activation costs nothing more


@pytest.mark.parametrize(
    ("pads", "padding"),
    [([[0, 0], [1, 1], [1, 1], [0, 4]], "VALID"), ([[0, 0], [1, 1], [1, 1], [0, 0]], "SAME")],
    ids=["channel padding", "SAME convolution"],
)
def test_tflite_pad_xnnpack_cannot_merge_stays(tmp_path, pads, padding):
    pytest.importorskip("ai_edge_litert")
    graph = load_graph(_pad_conv_relu6(tmp_path / "m.tflite", pads, padding))
    assert [(op.op_type, op.fused) for op in graph.ops] == [
        ("PAD", ()),
        ("CONV_2D", ("RELU6",)),
        ("DEPTHWISE_CONV_2D", ()),
    ]
    assert graph.fused_ops == 1


def test_hand_built_tflite_runs(tmp_path):
    """The hand-built file is a real model: LiteRT loads and runs it."""
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    path = _pad_conv_relu6(tmp_path / "m.tflite", [[0, 0], [1, 1], [1, 1], [0, 0]])
    interpreter = interpreter_module.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    x = interpreter.get_input_details()[0]
    interpreter.set_tensor(x["index"], np.ones(x["shape"], np.float32))
    interpreter.invoke()
    y = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert y.shape == (1, 5, 5, 8) and float(y.max()) <= 6 * 9


def test_a_tensor_a_sub_graph_reads_is_not_fused_away(tmp_path):
    """An If branch reading the conv output (an implicit input) keeps that tensor alive."""
    branch = helper.make_graph(
        [_node("Neg", ["c"], "z_then")],
        "then",
        [],
        [helper.make_tensor_value_info("z_then", TensorProto.FLOAT, [1, 8, 8, 8])],
    )
    other = helper.make_graph(
        [_node("Abs", ["c"], "z_else")],
        "else",
        [],
        [helper.make_tensor_value_info("z_else", TensorProto.FLOAT, [1, 8, 8, 8])],
    )
    nodes = [
        _conv(),
        _act("Relu"),
        helper.make_node("If", ["flag"], ["z"], name="if", then_branch=branch, else_branch=other),
    ]
    graph_proto = helper.make_graph(
        nodes,
        "branchy",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, X),
            helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
        ],
        CONV,
    )
    path = tmp_path / "branchy.onnx"
    onnx.save(helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", 17)]), path)
    graph = load_graph(path)
    assert [(op.op_type, op.fused) for op in graph.ops] == [("Conv", ()), ("Relu", ()), ("If", ())]
    assert graph.fused_ops == 0
