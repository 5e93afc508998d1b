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
    # Width and resolution multipliers. tensorflow/models research/slim/nets/mobilenet_v1.md
    # lists "Million MACs" of every released MobileNet V1; its 0.75 rows are 2.6 % below the
    # paper, which has 325 M for 0.75 MobileNet-224 (Howard et al. 2017, Table 6), so 0.75 is
    # checked against the paper.
    "mobilenet_v1_1.0_192": (nets.mobilenet_v1, 192, 418e6, "slim mobilenet_v1.md"),
    "mobilenet_v1_1.0_160": (nets.mobilenet_v1, 160, 291e6, "slim mobilenet_v1.md"),
    "mobilenet_v1_1.0_128": (nets.mobilenet_v1, 128, 186e6, "slim mobilenet_v1.md"),
    "mobilenet_v1_0.75_224": (lambda: nets.mobilenet_v1(0.75), 224, 325e6, "MobileNets Table 6"),
    "mobilenet_v1_0.5_224": (lambda: nets.mobilenet_v1(0.5), 224, 150e6, "slim mobilenet_v1.md"),
    "mobilenet_v1_0.5_160": (lambda: nets.mobilenet_v1(0.5), 160, 77e6, "slim mobilenet_v1.md"),
    "mobilenet_v1_0.25_224": (lambda: nets.mobilenet_v1(0.25), 224, 41e6, "slim mobilenet_v1.md"),
    # tensorflow/models research/slim/nets/mobilenet/README.md, "MACs (M)" of the checkpoints
    "mobilenet_v2_0.5_224": (lambda: nets.mobilenet_v2(0.5), 224, 97e6, "slim mobilenet README"),
    "mobilenet_v2_1.4_224": (lambda: nets.mobilenet_v2(1.4), 224, 582e6, "slim mobilenet README"),
    "mobilenet_v3_large_0.75": (
        lambda: nets.mobilenet_v3_large(0.75), 224, 155e6, "slim mobilenet README",
    ),
    "mobilenet_v3_small_0.75": (
        lambda: nets.mobilenet_v3_small(0.75), 224, 44e6, "slim mobilenet README",
    ),
    "mobilenet_v3_large_minimalistic": (
        lambda: nets.mobilenet_v3_large(minimalistic=True), 224, 209e6, "slim mobilenet README",
    ),
    # Tan et al. 2019, MnasNet, Table 1: MnasNet-A1 312M multiply-adds (tensorflow/tpu README)
    "mnasnet_a1": (nets.mnasnet_a1, 224, 312e6, "MnasNet, Table 1"),
    # torchvision GoogLeNet_Weights.IMAGENET1K_V1 and ResNet18_Weights.IMAGENET1K_V1 "_ops"
    # (GMACs, their convention): 1.498 and 1.814. torchvision's GoogLeNet has slim's 3×3 third
    # branch; ResNet-18 is 1.8e9 multiply-adds in He et al. 2016, Table 1.
    "inception_v1": (nets.inception_v1, 224, 1.498e9, "torchvision GoogLeNet weights card"),
    "resnet18": (nets.resnet18, 224, 1.814e9, "torchvision ResNet18 weights card"),
    # torchvision VGG13_Weights.IMAGENET1K_V1 "_ops": 11.308 GMACs (timm's convolutional
    # classifier has the same MACs at 224×224)
    "vgg13": (nets.vgg13, 224, 11.308e9, "torchvision VGG13 weights card"),
}  # fmt: skip
DEFAULT = [
    "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "mobilenet_v1_0.75_224", "mobilenet_v1_0.5_160", "mobilenet_v2_0.5_224",
    "mobilenet_v3_large_0.75", "mobilenet_v3_small_0.75", "mobilenet_v3_large_minimalistic",
    "mnasnet_a1",
]  # fmt: skip
CNN_CASES = [*DEFAULT, *(pytest.param(n, marks=slow) for n in PUBLISHED if n not in DEFAULT)]

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


# He et al. 2016, Table 6: parameters of the CIFAR-10 ResNets (0.27 M for ResNet-20, …).
CIFAR_PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6}


@pytest.mark.parametrize("depth", sorted(CIFAR_PARAMS))
def test_cifar_resnet_parameters_match_the_paper(depth):
    model = nets.cifar_resnet(depth)
    weights = sum(p.numel() for p in model.parameters())
    assert weights == pytest.approx(CIFAR_PARAMS[depth], rel=0.02)


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


@pytest.mark.parametrize("index", [0, *(pytest.param(i, marks=slow) for i in range(1, 5))])
def test_efficientnet_lite_builder_macs(index, tmp_path):
    """The compact builder (no squeeze-excite, ReLU6, fixed stem, head and first/last repeats)
    against the conv + FC counts of the PyTorch port, and the TF README within its convention."""
    size, conv_fc_macs, tf_readme_madds = LITE[index]
    assert nets.EFFICIENTNET_LITE[index][2] == size
    torch.manual_seed(0)
    path = nets.export_onnx(nets.efficientnet_lite(index), str(tmp_path / "lite.onnx"), size)
    graph = load_graph(path)
    assert graph.costed_fraction == 1.0
    assert graph.macs == pytest.approx(conv_fc_macs, rel=0.02)
    assert graph.macs == pytest.approx(tf_readme_madds, rel=0.07)


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
