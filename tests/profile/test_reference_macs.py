"""MACs of reference networks, exported from torch and parsed by edgesub, against published counts.

Published counts are multiply-accumulates of convolutions and fully connected layers (the
convention of the papers); each is cited beside its number. Models with TF-style dynamic "same"
padding and a transformer with symbolic batch and sequence dims are included because both used
to come out at 0 MACs.
"""

from pathlib import Path

import pytest

from edgesub.errors import ModelFileError
from edgesub.profile.formats import load_graph

torch = pytest.importorskip("torch")
import reference_nets as nets  # noqa: E402  (needs torch)

slow = pytest.mark.slow

# name: (builder, input side, published MACs, source)
PUBLISHED = {
    "mobilenet_v1": (nets.mobilenet_v1, 224, 569e6, "Howard et al. 2017, MobileNets, Table 8"),
    "mobilenet_v2": (nets.mobilenet_v2, 224, 300e6, "Sandler et al. 2018, MobileNetV2, Table 4"),
    "mobilenet_v3_large": (
        nets.mobilenet_v3_large, 224, 219e6, "Howard et al. 2019, MobileNetV3, Table 3",
    ),
    "mobilenet_v3_small": (
        nets.mobilenet_v3_small, 224, 56e6, "Howard et al. 2019, MobileNetV3, Table 4",
    ),
    # torchvision's ResNet50_Weights.IMAGENET1K_V1 card: 4.09 GFLOPS, counted as MACs (v1.5:
    # stride in the 3×3); the paper's v1 strides the first 1×1: 3.8e9 "FLOPs" (multiply-adds),
    # He et al. 2016, Deep Residual Learning, Table 1.
    "resnet50_v1.5": (nets.resnet50, 224, 4.09e9, "torchvision ResNet50 weights card"),
    "resnet50_v1": (lambda: nets.resnet50(False), 224, 3.8e9, "He et al. 2016, Table 1"),
}  # fmt: skip
DEFAULT = ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]
CNN_CASES = [*DEFAULT, "resnet50_v1.5", pytest.param("resnet50_v1", marks=slow)]

# EfficientNet-Lite0–4 at their resolutions. Conv + FC MACs as counted by independent
# re-implementations (d-li14/efficientnet-lite.pytorch README: 0.385, 0.600, 0.860, 1.383,
# 2.553 G); the TF model garden README (models/official/efficientnet/lite) lists "MAdds" of
# 407 M, 631 M, 899 M, 1.44 G, 2.64 G, 3-6 % higher for every size: a different counting
# convention, not a different network (its parameter counts, 4.7-13.0 M, agree).
LITE = {
    0: (224, 385e6, 407e6), 1: (240, 600e6, 631e6), 2: (260, 860e6, 899e6),
    3: (280, 1383e6, 1440e6), 4: (300, 2553e6, 2640e6),
}  # fmt: skip
# BERT-base at 128 tokens, per layer: QKV and output projections 4·S·H², scores and context
# 2·S²·H, MLP 2·S·H·4H (12 layers, H = 768, S = 128: 11.17 G).
BERT_BASE_MACS = 12 * (4 * 128 * 768**2 + 2 * 128**2 * 768 + 2 * 128 * 768 * 3072)


@pytest.mark.parametrize("name", CNN_CASES)
def test_reference_cnn_macs_match_published_counts(name, tmp_path):
    builder, side, published, source = PUBLISHED[name]
    torch.manual_seed(0)
    graph = load_graph(nets.export_onnx(builder(), str(tmp_path / f"{name}.onnx"), side))
    assert graph.costed_fraction == 1.0 and graph.uncosted_ops == []
    assert graph.macs == pytest.approx(published, rel=0.02), source


def _lite_with_dynamic_padding(index: int, folder: Path) -> Path:
    """EfficientNet-Lite from its PyTorch port with TF-style "same" padding computed at run time
    (``image_size=None``: a Pad fed by Shape → … → ConstantOfShape/Concat/Slice/Cast)."""
    port = pytest.importorskip("efficientnet_lite_pytorch")
    model = port.EfficientNet.from_name(f"efficientnet-lite{index}", image_size=None)
    path = str(folder / f"efficientnet-lite{index}.onnx")
    return Path(nets.export_onnx(model, path, LITE[index][0]))


@pytest.mark.parametrize("index", [0, *(pytest.param(i, marks=slow) for i in range(1, 5))])
def test_efficientnet_lite_with_dynamic_same_padding_is_costed(index, tmp_path):
    onnx = pytest.importorskip("onnx")
    path = _lite_with_dynamic_padding(index, tmp_path)
    op_types = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"Shape", "ConstantOfShape", "Pad"} <= op_types  # the pattern that cost 0 MACs
    graph = load_graph(path)
    _, conv_fc_macs, tf_readme_madds = LITE[index]
    assert graph.costed_fraction == 1.0
    assert graph.macs == pytest.approx(conv_fc_macs, rel=0.02)
    assert graph.macs == pytest.approx(tf_readme_madds, rel=0.07)
    assert not any(op.op_type in ("Shape", "ConstantOfShape") for op in graph.ops)  # folded


@pytest.fixture(scope="module")
def bert_base(tmp_path_factory) -> Path:
    return Path(nets.export_bert(str(tmp_path_factory.mktemp("bert") / "bert.onnx")))


def test_bert_base_symbolic_dims_are_bound_by_input_shape(bert_base):
    graph = load_graph(bert_base, (1, 128))
    assert [i.shape for i in graph.inputs] == [(1, 128), (1, 128)]
    assert graph.costed_fraction == 1.0
    assert graph.macs == pytest.approx(BERT_BASE_MACS, rel=0.02)
    # attention grows with the square of the sequence: the shapes really follow --input-shape
    short = load_graph(bert_base, (1, 64))
    assert short.macs == pytest.approx(
        12 * (4 * 64 * 768**2 + 2 * 64**2 * 768 + 2 * 64 * 768 * 3072), rel=0.02
    )


def test_bert_sequence_length_is_asked_for(bert_base):
    with pytest.raises(ModelFileError, match=r"unknown dimensions \[\?, \?\].*1,128"):
        load_graph(bert_base)
    with pytest.raises(ModelFileError, match="fits no model input"):
        load_graph(bert_base, (1, 3, 224, 224))
