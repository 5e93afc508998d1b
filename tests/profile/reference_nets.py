"""Compact torch re-implementations of reference networks, for graph analysis.

Only the structure matters (layer shapes → MACs, bytes, op count): weights are random and batch
norm is left out because runtimes fold it into the convolution. Shared by the MAC-count test
(tests/profile/test_reference_macs.py) and the estimator's calibration
(benchmarks/reference_models.py), so both see one definition of each network. Needs torch.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _act(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish, "swish": nn.SiLU}[name]()


Kernel = int | tuple[int, int]


def conv(
    cin: int,
    cout: int,
    k: Kernel = 1,
    s: int = 1,
    groups: int = 1,
    act: str | None = "relu",
    pad: Kernel | None = None,
) -> nn.Sequential:
    """Conv (+ folded BN bias) + activation; 'same' padding unless ``pad`` is given."""
    ks = (k, k) if isinstance(k, int) else k
    padding = pad if pad is not None else (ks[0] // 2, ks[1] // 2)
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, ks, s, padding, groups=groups)]
    if act:
        layers.append(_act(act))
    return nn.Sequential(*layers)


class Head(nn.Sequential):
    def __init__(self, cin: int, classes: int = 1000) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def mobilenet_v1(alpha: float = 1.0) -> nn.Module:
    """MobileNet V1 with width multiplier ``alpha`` (slim: ``max(int(c * alpha), 8)`` channels)."""
    cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5,
           (1024, 2), (1024, 1)]  # fmt: skip

    def depth(c: int) -> int:
        return max(int(c * alpha), 8)

    layers, cin = [conv(3, depth(32), 3, 2)], depth(32)
    for cout, s in cfg:
        layers += [conv(cin, cin, 3, s, groups=cin), conv(cin, depth(cout))]
        cin = depth(cout)
    return nn.Sequential(*layers, Head(cin))


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 and EfficientNet block: expand, depthwise, (squeeze-excite), project.

    ``se_style`` names the squeeze-excite flavour: "v3" (ReLU inside, hard-sigmoid gate),
    "effnet" (swish, sigmoid), "mnas" (ReLU, sigmoid); by default "v3" for hard-swish blocks
    and "effnet" otherwise.
    """

    def __init__(
        self, cin: int, exp: int, cout: int, k: int, s: int, act: str, se: int,
        se_style: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        layers: list[nn.Module] = [conv(cin, exp, act=act)] if exp != cin else []
        layers.append(conv(exp, exp, k, s, groups=exp, act=act))
        if se:
            style = se_style or ("v3" if act == "hswish" else "effnet")
            layers.append(SqueezeExcite(exp, se, *_SE_STYLES[style]))
        layers.append(conv(exp, cout, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


_SE_STYLES = {
    "v3": ("relu", "hsigmoid"), "effnet": ("swish", "sigmoid"), "mnas": ("relu", "sigmoid"),
}  # fmt: skip


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int, act: str, gate: str) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.act = _act(act)
        self.gate = nn.Sigmoid() if gate == "sigmoid" else nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(w))))


def mobilenet_v2(alpha: float = 1.0) -> nn.Module:
    """MobileNet V2 with width multiplier ``alpha``: channels rounded to multiples of 8, the last
    1×1 conv kept at 1280 for ``alpha`` < 1 (Sandler et al. 2018, sec. 6.1; slim, timm)."""
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip
    cin = _divisible(32 * alpha)
    layers: list[nn.Module] = [conv(3, cin, 3, 2, act="relu6")]
    for t, c, n, s in cfg:
        for i in range(n):
            cout = _divisible(c * alpha)
            layers.append(InvertedResidual(cin, cin * t, cout, 3, s if i == 0 else 1, "relu6", 0))
            cin = cout
    last = max(1280, _divisible(1280 * alpha))
    return nn.Sequential(*layers, conv(cin, last, act="relu6"), Head(last))


def _divisible(v: float, d: int = 8) -> int:
    """Nearest multiple of ``d`` (at least ``d``), never more than 10 % below ``v``: the rounding
    of the TF/torchvision MobileNet and EfficientNet code (``_make_divisible``)."""
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


def _mobilenet_v3(
    cfg: list[tuple], last: int, head: int, alpha: float = 1.0, minimalistic: bool = False
) -> nn.Module:
    """MobileNetV3 from the paper's table; ``alpha`` scales every layer as slim does (expansions
    keep their factor over the scaled input) except that the last 1×1 conv is not shrunk below
    its width at ``alpha`` = 1 (as MobileNetV2; this matches the published 0.75 MAC counts);
    ``minimalistic`` is slim's variant without squeeze-excite, hard-swish or 5×5 kernels."""
    stem_act = "relu" if minimalistic else "hswish"
    cin_ref, cin = 16, _divisible(16 * alpha)
    layers: list[nn.Module] = [conv(3, cin, 3, 2, act=stem_act)]
    for k, exp, cout_ref, se, act, s in cfg:
        act_name = "hswish" if act == "HS" and not minimalistic else "relu"
        exp_s = cin if exp == cin_ref else _divisible(cin * exp / cin_ref)
        squeeze = 0 if minimalistic or not se else _divisible(exp_s / 4)
        cout = _divisible(cout_ref * alpha)
        layers.append(
            InvertedResidual(cin, exp_s, cout, 3 if minimalistic else k, s, act_name, squeeze, "v3")
        )
        cin, cin_ref = cout, cout_ref
    last_s, head_s = _divisible(last * alpha), max(head, _divisible(head * alpha))
    return nn.Sequential(
        *layers,
        conv(cin, last_s, act=stem_act),
        nn.AdaptiveAvgPool2d(1),
        conv(last_s, head_s, act=stem_act),
        nn.Flatten(),
        nn.Linear(head_s, 1000),
    )


_V3_LARGE = [(3, 16, 16, 0, "RE", 1), (3, 64, 24, 0, "RE", 2), (3, 72, 24, 0, "RE", 1),
             (5, 72, 40, 1, "RE", 2), (5, 120, 40, 1, "RE", 1), (5, 120, 40, 1, "RE", 1),
             (3, 240, 80, 0, "HS", 2), (3, 200, 80, 0, "HS", 1), (3, 184, 80, 0, "HS", 1),
             (3, 184, 80, 0, "HS", 1), (3, 480, 112, 1, "HS", 1), (3, 672, 112, 1, "HS", 1),
             (5, 672, 160, 1, "HS", 2), (5, 960, 160, 1, "HS", 1),
             (5, 960, 160, 1, "HS", 1)]  # fmt: skip
_V3_SMALL = [(3, 16, 16, 1, "RE", 2), (3, 72, 24, 0, "RE", 2), (3, 88, 24, 0, "RE", 1),
             (5, 96, 40, 1, "HS", 2), (5, 240, 40, 1, "HS", 1), (5, 240, 40, 1, "HS", 1),
             (5, 120, 48, 1, "HS", 1), (5, 144, 48, 1, "HS", 1), (5, 288, 96, 1, "HS", 2),
             (5, 576, 96, 1, "HS", 1), (5, 576, 96, 1, "HS", 1)]  # fmt: skip


def mobilenet_v3_large(alpha: float = 1.0, minimalistic: bool = False) -> nn.Module:
    return _mobilenet_v3(_V3_LARGE, 960, 1280, alpha, minimalistic)


def mobilenet_v3_small(alpha: float = 1.0, minimalistic: bool = False) -> nn.Module:
    return _mobilenet_v3(_V3_SMALL, 576, 1024, alpha, minimalistic)


_EFFNET_B0 = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
              (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]  # fmt: skip


def efficientnet_b0() -> nn.Module:
    layers, cin = [conv(3, 32, 3, 2, act="swish")], 32
    for t, k, s, c, n in _EFFNET_B0:
        for i in range(n):
            se = max(1, cin // 4)
            layers.append(InvertedResidual(cin, cin * t, c, k, s if i == 0 else 1, "swish", se))
            cin = c
    return nn.Sequential(*layers, conv(cin, 1280, act="swish"), Head(1280))


# EfficientNet-Lite0..4: (width, depth, resolution), tensorflow/tpu efficientnet_lite_builder.py
EFFICIENTNET_LITE = {0: (1.0, 1.0, 224), 1: (1.0, 1.1, 240), 2: (1.1, 1.2, 260),
                     3: (1.2, 1.4, 280), 4: (1.4, 1.8, 300)}  # fmt: skip


def efficientnet_lite(index: int) -> nn.Module:
    """EfficientNet-Lite: B0's blocks without squeeze-excite, ReLU6, width and depth scaled but
    the stem (32), the head (1280) and the repeats of the first and last stage fixed."""
    width, depth, _ = EFFICIENTNET_LITE[index]
    layers, cin = [conv(3, 32, 3, 2, act="relu6")], 32
    for stage, (t, k, s, c, n) in enumerate(_EFFNET_B0):
        fixed = stage in (0, len(_EFFNET_B0) - 1)
        cout = _divisible(c * width)
        for i in range(n if fixed else math.ceil(depth * n)):
            layers.append(InvertedResidual(cin, cin * t, cout, k, s if i == 0 else 1, "relu6", 0))
            cin = cout
    return nn.Sequential(*layers, conv(cin, 1280, act="relu6"), Head(1280))


def mnasnet_a1() -> nn.Module:
    """MnasNet-A1 (Tan et al. 2019, Fig. 7; tensorflow/tpu mnasnet_models.py): a separable 3×3
    first block, then inverted residuals with squeeze-excite (ReLU, sigmoid) in three stages."""
    cfg = [(6, 3, 2, 24, 2, 0), (3, 5, 2, 40, 3, 1), (6, 3, 2, 80, 4, 0), (6, 3, 1, 112, 2, 1),
           (6, 5, 2, 160, 3, 1), (6, 3, 1, 320, 1, 0)]  # fmt: skip
    stem = [conv(3, 32, 3, 2), conv(32, 32, 3, groups=32), conv(32, 16, act=None)]
    layers: list[nn.Module] = list(stem)
    cin = 16
    for t, k, s, c, n, se in cfg:
        for i in range(n):
            squeeze = max(1, int(cin * 0.25)) if se else 0
            layers.append(
                InvertedResidual(cin, cin * t, c, k, s if i == 0 else 1, "relu", squeeze, "mnas")
            )
            cin = c
    return nn.Sequential(*layers, conv(cin, 1280), Head(1280))


class Branches(nn.Module):
    """Parallel branches concatenated on channels (the Inception pattern)."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


def _seq(cin: int, spec: list[tuple]) -> nn.Sequential:
    """Chain of convs from (cout, kernel, stride, padding-or-None) tuples."""
    layers = []
    for cout, k, s, pad in spec:
        layers.append(conv(cin, cout, k, s, pad=pad))
        cin = cout
    return nn.Sequential(*layers)


def _pool_proj(cin: int, cout: int, kind: str = "avg") -> nn.Sequential:
    pool = nn.AvgPool2d(3, 1, 1) if kind == "avg" else nn.MaxPool2d(3, 1, 1)
    return nn.Sequential(pool, conv(cin, cout))


def _split(cin: int, cout: int) -> Branches:
    """Inception 1×3 / 3×1 split of one tensor into two branches."""
    return Branches(conv(cin, cout, (1, 3)), conv(cin, cout, (3, 1)))


def inception_v1() -> nn.Module:
    """Inception V1 as TF-slim builds it (inception_v1.py, the TFLite hosted model): GoogLeNet's
    layout with 3×3 instead of 5×5 convolutions in the third branch, no LRN, no aux heads."""

    def block(cin: int, b0: int, b1: tuple[int, int], b2: tuple[int, int], b3: int) -> Branches:
        return Branches(
            conv(cin, b0), _seq(cin, [(b1[0], 1, 1, None), (b1[1], 3, 1, None)]),
            _seq(cin, [(b2[0], 1, 1, None), (b2[1], 3, 1, None)]), _pool_proj(cin, b3, "max"),
        )  # fmt: skip

    return nn.Sequential(
        conv(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1), conv(64, 64), conv(64, 192, 3),
        nn.MaxPool2d(3, 2, 1),
        block(192, 64, (96, 128), (16, 32), 32), block(256, 128, (128, 192), (32, 96), 64),
        nn.MaxPool2d(3, 2, 1),
        block(480, 192, (96, 208), (16, 48), 64), block(512, 160, (112, 224), (24, 64), 64),
        block(512, 128, (128, 256), (24, 64), 64), block(512, 112, (144, 288), (32, 64), 64),
        block(528, 256, (160, 320), (32, 128), 128),
        nn.MaxPool2d(2, 2),
        block(832, 256, (160, 320), (32, 128), 128), block(832, 384, (192, 384), (48, 128), 128),
        Head(1024),
    )  # fmt: skip


def inception_v3() -> nn.Module:
    def block_a(cin: int, pool: int) -> Branches:
        return Branches(
            conv(cin, 64), _seq(cin, [(48, 1, 1, None), (64, 5, 1, None)]),
            _seq(cin, [(64, 1, 1, None), (96, 3, 1, None), (96, 3, 1, None)]),
            _pool_proj(cin, pool),
        )  # fmt: skip

    def block_c(c7: int) -> Branches:
        return Branches(
            conv(768, 192),
            _seq(768, [(c7, 1, 1, None), (c7, (1, 7), 1, None), (192, (7, 1), 1, None)]),
            _seq(768, [(c7, 1, 1, None), (c7, (7, 1), 1, None), (c7, (1, 7), 1, None),
                       (c7, (7, 1), 1, None), (192, (1, 7), 1, None)]),
            _pool_proj(768, 192),
        )  # fmt: skip

    def block_e(cin: int) -> Branches:
        return Branches(
            conv(cin, 320), nn.Sequential(conv(cin, 384), _split(384, 384)),
            nn.Sequential(conv(cin, 448), conv(448, 384, 3), _split(384, 384)),
            _pool_proj(cin, 192),
        )  # fmt: skip

    stem = nn.Sequential(
        conv(3, 32, 3, 2, pad=0), conv(32, 32, 3, pad=0), conv(32, 64, 3), nn.MaxPool2d(3, 2),
        conv(64, 80), conv(80, 192, 3, pad=0), nn.MaxPool2d(3, 2),
    )  # fmt: skip
    reduce_b = Branches(
        conv(288, 384, 3, 2, pad=0),
        _seq(288, [(64, 1, 1, None), (96, 3, 1, None), (96, 3, 2, 0)]), nn.MaxPool2d(3, 2),
    )  # fmt: skip
    reduce_d = Branches(
        _seq(768, [(192, 1, 1, None), (320, 3, 2, 0)]),
        _seq(768, [(192, 1, 1, None), (192, (1, 7), 1, None), (192, (7, 1), 1, None),
                   (192, 3, 2, 0)]), nn.MaxPool2d(3, 2),
    )  # fmt: skip
    return nn.Sequential(
        stem, block_a(192, 32), block_a(256, 64), block_a(288, 64), reduce_b,
        block_c(128), block_c(160), block_c(160), block_c(192), reduce_d,
        block_e(1280), block_e(2048), Head(2048),
    )  # fmt: skip


def inception_v4() -> nn.Module:
    def block_a() -> Branches:
        return Branches(
            conv(384, 96), _seq(384, [(64, 1, 1, None), (96, 3, 1, None)]),
            _seq(384, [(64, 1, 1, None), (96, 3, 1, None), (96, 3, 1, None)]),
            _pool_proj(384, 96),
        )  # fmt: skip

    def block_b() -> Branches:
        return Branches(
            conv(1024, 384), _seq(1024, [(192, 1, 1, None), (224, (1, 7), 1, None),
                                         (256, (7, 1), 1, None)]),
            _seq(1024, [(192, 1, 1, None), (192, (7, 1), 1, None), (224, (1, 7), 1, None),
                        (224, (7, 1), 1, None), (256, (1, 7), 1, None)]),
            _pool_proj(1024, 128),
        )  # fmt: skip

    def block_c() -> Branches:
        return Branches(
            conv(1536, 256), nn.Sequential(conv(1536, 384), _split(384, 256)),
            nn.Sequential(_seq(1536, [(384, 1, 1, None), (448, (3, 1), 1, None),
                                      (512, (1, 3), 1, None)]), _split(512, 256)),
            _pool_proj(1536, 256),
        )  # fmt: skip

    stem = nn.Sequential(
        conv(3, 32, 3, 2, pad=0), conv(32, 32, 3, pad=0), conv(32, 64, 3),
        Branches(nn.MaxPool2d(3, 2), conv(64, 96, 3, 2, pad=0)),
        Branches(_seq(160, [(64, 1, 1, None), (96, 3, 1, 0)]),
                 _seq(160, [(64, 1, 1, None), (64, (7, 1), 1, None), (64, (1, 7), 1, None),
                            (96, 3, 1, 0)])),
        Branches(conv(192, 192, 3, 2, pad=0), nn.MaxPool2d(3, 2)),
    )  # fmt: skip
    reduce_a = Branches(
        nn.MaxPool2d(3, 2), conv(384, 384, 3, 2, pad=0),
        _seq(384, [(192, 1, 1, None), (224, 3, 1, None), (256, 3, 2, 0)]),
    )  # fmt: skip
    reduce_b = Branches(
        nn.MaxPool2d(3, 2), _seq(1024, [(192, 1, 1, None), (192, 3, 2, 0)]),
        _seq(1024, [(256, 1, 1, None), (256, (1, 7), 1, None), (320, (7, 1), 1, None),
                    (320, 3, 2, 0)]),
    )  # fmt: skip
    return nn.Sequential(
        stem, *[block_a() for _ in range(4)], reduce_a, *[block_b() for _ in range(7)],
        reduce_b, *[block_c() for _ in range(3)], Head(1536),
    )  # fmt: skip


def resnet50(stride_in_3x3: bool = True) -> nn.Module:
    """ResNet-50; ``stride_in_3x3`` is torchvision's v1.5 (the paper's v1 strides the 1×1)."""
    layers: list[nn.Module] = [conv(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            s = stride if i == 0 else 1
            layers.append(Bottleneck(cin, width, s, stride_in_3x3))
            cin = width * 4
    return nn.Sequential(*layers, Head(2048))


def resnet18() -> nn.Module:
    """ResNet-18: two 3×3 convs per block, [2, 2, 2, 2] blocks (He et al. 2016, Table 1)."""
    layers: list[nn.Module] = [conv(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for i in range(2):
            layers.append(BasicBlock(cin, width, stride if i == 0 else 1))
            cin = width
    return nn.Sequential(*layers, Head(512))


def vgg13() -> nn.Module:
    """VGG-13 (Simonyan & Zisserman 2015, configuration B) as timm builds it: 3×3 convs + ReLU
    and 2×2 max pools, then the classifier's first two fully connected layers as convolutions
    (7×7 over the 7×7 map, then 1×1; timm's ConvMlp) and global pooling + the last one."""
    layers: list[nn.Module] = []
    cin = 3
    for width in (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(conv(cin, width, 3))
        cin = width
    return nn.Sequential(*layers, conv(512, 4096, 7, pad=0), conv(4096, 4096), Head(4096))


def cifar_resnet(depth: int) -> nn.Module:
    """The CIFAR ResNets of He et al. 2016, section 4.2: 6n + 2 layers, 16/32/64 channels on
    32×32 inputs, 10 classes. Shapes change through a strided 1×1 projection (the paper's
    option B; option A's zero padding has no weights and about the same cost)."""
    blocks = (depth - 2) // 6
    layers: list[nn.Module] = [conv(3, 16, 3)]
    cin = 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(blocks):
            layers.append(BasicBlock(cin, width, stride if i == 0 else 1))
            cin = width
    return nn.Sequential(*layers, Head(64, classes=10))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(cin, cout, 3, stride), conv(cout, cout, 3, act=None))
        self.project = conv(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.project is None else self.project(x)
        return torch.relu(self.body(x) + skip)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3, 1×1 expand (×4), with a strided 1×1 projection when shapes change."""

    def __init__(self, cin: int, width: int, stride: int, stride_in_3x3: bool) -> None:
        super().__init__()
        s1, s3 = (1, stride) if stride_in_3x3 else (stride, 1)
        self.body = nn.Sequential(
            conv(cin, width, 1, s1), conv(width, width, 3, s3), conv(width, width * 4, act=None)
        )
        self.project = (
            conv(cin, width * 4, 1, stride, act=None) if stride != 1 or cin != width * 4 else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.project is None else self.project(x)
        return torch.relu(self.body(x) + skip)


class EncoderLayer(nn.Module):
    """A post-norm BERT block: fused QKV projection, scaled dot-product attention, GELU MLP."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.up = nn.Linear(hidden, 4 * hidden)
        self.down = nn.Linear(4 * hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, seq, hidden = x.shape
        head = hidden // self.heads
        q, k, v = self.qkv(x).view(batch, seq, 3, self.heads, head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / head**0.5 + bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, seq, hidden)
        x = self.norm1(x + self.out(context))
        return self.norm2(x + self.down(nn.functional.gelu(self.up(x))))


class Bert(nn.Module):
    """BERT encoder on token ids and an attention mask, every size read from the inputs.

    The vocabulary is small because embedding lookups are gathers, not MACs, and all layers
    share one block's weights (MACs do not depend on weight values) to keep the file small.
    """

    def __init__(
        self, layers: int = 12, hidden: int = 768, heads: int = 12, vocab: int = 1024
    ) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, hidden)
        self.positions = nn.Parameter(torch.randn(512, hidden))
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList([EncoderLayer(hidden, heads)] * layers)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.tokens(ids) + self.positions[: ids.shape[1]])
        bias = (1.0 - mask[:, None, None, :].float()) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return x


def export_bert(path: str, layers: int = 12, hidden: int = 768, heads: int = 12) -> str:
    """Export :class:`Bert` to ONNX with symbolic ``batch`` and ``sequence`` dims."""
    torch.manual_seed(0)
    model = Bert(layers, hidden, heads).eval()
    ids = torch.zeros(2, 8, dtype=torch.long)  # not 1: a traced size of 1 may be baked in
    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        model, (ids, torch.ones_like(ids)), path, dynamo=False, opset_version=17,
        input_names=["input_ids", "attention_mask"], output_names=["hidden"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes},
    )  # fmt: skip
    return path


def export_onnx(model: nn.Module, path: str, size: int) -> str:
    """Export an image model at ``size``×``size``, batch 1, fp32."""
    with torch.no_grad():
        torch.onnx.export(
            model.eval(), (torch.zeros(1, 3, size, size),), path, dynamo=False, opset_version=17
        )
    return path
