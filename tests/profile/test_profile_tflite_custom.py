"""TFLite custom ops: MediaPipe's transpose convolution is costed; unknown ones are named."""

from pathlib import Path

import numpy as np
import pytest

from edgesub.errors import ModelFileError
from edgesub.profile.formats import load_graph
from edgesub.profile.runtimes import TfliteRuntime, _prepare_failure

# What ai-edge-litert 2.3 raises for mediapipe's face_landmark_with_attention.tflite.
UNRESOLVED = (
    "Encountered unresolved custom op: Landmarks2TransformMatrix.\nSee instructions: "
    "https://www.tensorflow.org/lite/guide/ops_custom Node number 192 "
    "(Landmarks2TransformMatrix) failed to prepare."
)


def test_unresolved_custom_op_message_names_the_op():
    message = _prepare_failure(Path("face.tflite"), UNRESOLVED)
    assert message.startswith("cannot run face.tflite: custom op(s) Landmarks2TransformMatrix ")
    assert "\n" not in message
    other = _prepare_failure(Path("m.tflite"), "tensor 3 has bad shape\nmore")
    assert other == "cannot prepare m.tflite with the TFLite interpreter: tensor 3 has bad shape"


@pytest.fixture(scope="module")
def transpose_pair(tmp_path_factory) -> tuple[Path, Path]:
    """A builtin TRANSPOSE_CONV model and the same op rewritten as MediaPipe's custom op."""
    torch = pytest.importorskip("torch")
    litert_torch = pytest.importorskip("litert_torch")
    fb = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils")
    folder = tmp_path_factory.mktemp("transpose")
    builtin = folder / "builtin.tflite"
    net = torch.nn.ConvTranspose2d(8, 4, 2, stride=2).eval()
    litert_torch.convert(net, (torch.zeros(1, 8, 16, 16),)).export(str(builtin))
    model = fb.read_model(str(builtin))
    schema = fb.schema_fb
    codes = model.operatorCodes
    index = next(
        i for i, c in enumerate(codes) if c.builtinCode == schema.BuiltinOperator.TRANSPOSE_CONV
    )
    codes[index].builtinCode = codes[index].deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    codes[index].customCode = "Convolution2DTransposeBias"
    for op in model.subgraphs[0].operators:
        if op.opcodeIndex == index:  # builtin: output_shape, weights, data[, bias]
            op.inputs = [op.inputs[2], op.inputs[1], *op.inputs[3:]]
            op.builtinOptionsType, op.builtinOptions = 0, None
    custom = folder / "custom.tflite"
    fb.write_model(model, str(custom))
    return builtin, custom


def test_mediapipe_transpose_conv_costs_like_the_builtin(transpose_pair):
    builtin, custom = (load_graph(p) for p in transpose_pair)
    assert custom.custom_ops == []
    (op,) = [o for o in custom.ops if o.op_type == "Convolution2DTransposeBias"]
    assert op.kind == "conv" and op.macs == 16 * 16 * 8 * 4 * 2 * 2
    assert custom.macs == builtin.macs == op.macs


def test_unknown_custom_op_fails_to_load_with_its_name(transpose_pair, tmp_path):
    fb = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils")
    model = fb.read_model(str(transpose_pair[1]))
    for code in model.operatorCodes:
        if code.customCode:
            code.customCode = "NoSuchOp"
    unknown = tmp_path / "unknown.tflite"
    fb.write_model(model, str(unknown))
    assert load_graph(unknown).custom_ops == ["NoSuchOp"]
    session = TfliteRuntime().load(unknown, 1)
    with pytest.raises(ModelFileError, match=r"custom op\(s\) NoSuchOp are not built into"):
        session.prepare({d.name: np.zeros(d.shape, d.dtype) for d in session.inputs})
