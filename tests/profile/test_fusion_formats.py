"""One network, two formats, one estimate: torch → ONNX (torch.onnx) and → TFLite (litert-torch)
estimate within 3 % of each other, for one runtime, once each graph is costed as its runtime
fuses it. (Each format's own runtime is then a calibrated factor of its own: ONNX Runtime and
TFLite are not equally fast, but the graph analysis must not make them differ.)

Before fusion, ONNX files paid for every Relu/Clip/BatchNormalization as an op of its own, and
TFLite files for the PAD in front of each stride-2 convolution: MobileNetV2 was estimated 9-29 %
slower as ONNX, the small BN + ReLU6 net 35-85 %. Slow: the exports and conversions take about
a minute here.
"""

import itertools
from pathlib import Path

import pytest

from edgesub.profile import graph_onnx
from edgesub.profile.devices import get_device
from edgesub.profile.estimate import latency_parts
from edgesub.profile.formats import load_graph

torch = pytest.importorskip("torch")
litert_torch = pytest.importorskip("litert_torch")
import reference_nets as nets  # noqa: E402  (needs torch)
from torch import nn  # noqa: E402

pytestmark = pytest.mark.slow

DEVICES = ("raspberry-pi-4b", "pixel-4")


def conv_bn_relu6() -> nn.Module:
    """Conv → BatchNorm → ReLU6 blocks (stride 2, depthwise, 1×1), pooled into a linear head."""

    def block(cin: int, cout: int, k: int, s: int, groups: int = 1) -> list[nn.Module]:
        conv = nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False)
        return [conv, nn.BatchNorm2d(cout), nn.ReLU6()]

    return nn.Sequential(
        *block(3, 16, 3, 2), *block(16, 16, 3, 1, 16), *block(16, 32, 1, 1),
        *block(32, 32, 3, 2, 32), *block(32, 64, 1, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


def gemm_relu() -> nn.Module:
    return nn.Sequential(
        nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )


# name: (builder, input shape, TFLite input in channels-last layout)
NETS = {
    # As edgesub convert makes it: NCHW input, so the TFLite file starts with a TRANSPOSE that
    # ONNX Runtime does not run (about 1 % of MobileNetV2's time, a real op of that file).
    "mobilenet_v2": (nets.mobilenet_v2, (1, 3, 224, 224), False),
    # At 96 px that transpose alone is 3-10 % of the estimate: take NHWC input, the TFLite
    # runtime's own layout, so that only fusion is compared.
    "conv_bn_relu6": (conv_bn_relu6, (1, 3, 96, 96), True),
    "gemm_relu": (gemm_relu, (1, 256), False),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("formats")
    out = {}
    for name, (builder, shape, channels_last) in NETS.items():
        torch.manual_seed(0)
        model = builder().eval()
        sample = torch.randn(*shape)
        onnx_path, tflite_path = folder / f"{name}.onnx", folder / f"{name}.tflite"
        with torch.no_grad():  # PRESERVE keeps BatchNormalization nodes (EVAL folds them)
            torch.onnx.export(
                model, (sample,), str(onnx_path), dynamo=False, opset_version=17,
                training=torch.onnx.TrainingMode.PRESERVE,
            )  # fmt: skip
        if channels_last:
            model, sample = (
                litert_torch.to_channel_last_io(model, args=[0]),
                sample.permute(0, 2, 3, 1),
            )
        litert_torch.convert(model, (sample,)).export(str(tflite_path))
        out[name] = (onnx_path, tflite_path)
    return out


@pytest.mark.parametrize("name", list(NETS))
def test_onnx_and_tflite_estimates_agree(files, name, monkeypatch):
    onnx_graph, tflite_graph = (load_graph(p) for p in files[name])
    assert onnx_graph.macs == tflite_graph.macs
    assert onnx_graph.fused_ops > 0  # every activation (and BN) was its own ONNX op
    assert onnx_graph.costed_fraction == tflite_graph.costed_fraction == 1.0
    for device in map(get_device, DEVICES):
        for threads, runtime in itertools.product((1, 4), ("tflite", "onnxruntime")):
            ratio = (
                latency_parts(onnx_graph, device, threads, runtime=runtime).total_ms
                / latency_parts(tflite_graph, device, threads, runtime=runtime).total_ms
            )
            assert ratio == pytest.approx(1.0, abs=0.03), (device.id, threads, runtime)
    monkeypatch.setattr(graph_onnx, "ONNX_FUSIONS", ())
    monkeypatch.setattr(graph_onnx, "ONNX_NO_OPS", frozenset())
    stored = load_graph(files[name][0])
    assert stored.macs == onnx_graph.macs
    assert len(stored.ops) == len(onnx_graph.ops) + onnx_graph.fused_ops


def test_batch_norm_and_relu6_run_inside_each_conv(files):
    graph = load_graph(files["conv_bn_relu6"][0])
    convs = [op for op in graph.ops if op.op_type == "Conv"]
    assert len(convs) == 5 and {op.fused for op in convs} == {("BatchNormalization", "Clip")}
    assert graph.fused_ops == 10
