"""Graph analysis of a real .tflite converted from a tiny torch model, and of broken files."""

import time
from pathlib import Path

import pytest

from edgesub.errors import EstimateError, ModelFileError
from edgesub.profile.devices import get_device
from edgesub.profile.estimate import latency_parts
from edgesub.profile.formats import load_graph

torch = pytest.importorskip("torch")
litert_torch = pytest.importorskip("litert_torch")
flatbuffer_utils = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils")

WIDTH = 4
# conv 3×3 (1→4) + depthwise 3×3 + 1×1 (4→4) + linear (256→10), per 8×8 sample
EXPECTED_MACS = 64 * WIDTH * 9 + 64 * WIDTH * 9 + 64 * WIDTH * WIDTH + 64 * WIDTH * 10


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, WIDTH, 3, padding=1)
        self.dw = torch.nn.Conv2d(WIDTH, WIDTH, 3, padding=1, groups=WIDTH)
        self.pw = torch.nn.Conv2d(WIDTH, WIDTH, 1)
        self.fc = torch.nn.Linear(64 * WIDTH, 10)

    def forward(self, x):
        x = self.pw(self.dw(torch.relu(self.conv(x))))
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory) -> Path:
    start = time.perf_counter()
    path = tmp_path_factory.mktemp("tfl") / "tiny.tflite"
    edge = litert_torch.convert(Tiny().eval(), (torch.zeros(1, 1, 8, 8),))
    edge.export(str(path))
    assert time.perf_counter() - start < 60
    return path


def test_macs_and_kinds_of_a_converted_model(tiny_tflite):
    graph = load_graph(tiny_tflite)
    assert graph.format == "tflite"
    assert graph.macs == EXPECTED_MACS
    kinds = [(op.op_type, op.kind) for op in graph.ops if op.macs]
    # The 1-channel 3×3 conv becomes a depthwise conv with multiplier 4 in TFLite.
    assert kinds == [
        ("DEPTHWISE_CONV_2D", "depthwise"),
        ("DEPTHWISE_CONV_2D", "depthwise"),
        ("CONV_2D", "pointwise"),
        ("FULLY_CONNECTED", "matmul"),
    ]
    assert graph.inputs[0].shape in ((1, 1, 8, 8), (1, 8, 8, 1))
    assert graph.inputs[0].dtype == "float32"
    params = 4 * 9 + 4 + 4 * 9 + 4 + 16 + 4 + 2560 + 10
    assert params * 4 <= graph.weight_bytes < params * 4 + 4096  # plus small shape constants
    assert 2 * 4 * 64 * 4 <= graph.peak_activation_bytes <= 4 * 4 * 64 * 4


def test_truncated_tflite_is_a_model_file_error(tiny_tflite, tmp_path):
    data = tiny_tflite.read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: len(data) // 4])
    with pytest.raises(ModelFileError, match=r"cut\.tflite"):
        load_graph(cut)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"garbage!" * 8)
    with pytest.raises(ModelFileError, match="TFL3"):
        load_graph(junk)


def test_custom_op_is_reported_by_name(tiny_tflite, tmp_path):
    model = flatbuffer_utils.read_model(str(tiny_tflite))
    schema = flatbuffer_utils.schema_fb
    code = model.operatorCodes[0]
    code.builtinCode = schema.BuiltinOperator.CUSTOM
    code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "MyMysteryOp"
    custom = tmp_path / "custom.tflite"
    flatbuffer_utils.write_model(model, str(custom))
    graph = load_graph(custom)
    assert graph.custom_ops == ["MyMysteryOp"]
    with pytest.raises(EstimateError, match="MyMysteryOp"):
        latency_parts(graph, get_device("pixel-4"))


class Attention(torch.nn.Module):
    """Linear on a 3-D input (FULLY_CONNECTED, keep_num_dims), scores h·hᵀ, a BATCH_MATMUL
    whose left operand is transposed (adj_x), LayerNorm, softmax and GELU."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 16)
        self.norm = torch.nn.LayerNorm(16)

    def forward(self, x):
        h = self.fc(x)  # [1, 4, 16]: 64 outputs × 8
        scores = torch.softmax(h @ h.transpose(-1, -2), -1)  # [1, 4, 4]: 16 × 16
        mixed = h.transpose(-1, -2) @ scores  # [1, 16, 4]: 64 × 4
        return torch.nn.functional.gelu(self.norm(mixed.transpose(-1, -2)))


def test_transformer_ops_are_all_costed(tmp_path):
    path = tmp_path / "attention.tflite"
    litert_torch.convert(Attention().eval(), (torch.zeros(1, 4, 8),)).export(str(path))
    graph = load_graph(path)
    assert {"BATCH_MATMUL", "FULLY_CONNECTED", "SOFTMAX", "GELU"} <= {o.op_type for o in graph.ops}
    assert graph.macs == 64 * 8 + 16 * 16 + 64 * 4
    assert graph.costed_fraction == 1.0 and graph.uncosted_ops == []
