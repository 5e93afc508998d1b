"""The EfficientNet-Lite0 teacher module: preprocessing, trunk, pooled 1280-d features, head.

The trunk is split at a block index so fine-tuning can run the frozen prefix once (cached)
and train only the last blocks, the head convolution and the classifier.
"""

from __future__ import annotations

import torch
from torch import nn

FEATURE_DIM = 1280  # channels of EfficientNet-Lite0's 1×1 head convolution
# the statistics the ImageNet weights were trained with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EfficientNetTeacher(nn.Module):
    """features(x) = mean-pooled output of the 1×1 head conv; forward(x) = head(features(x))."""

    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        pixel_mean: list[float],
        pixel_std: list[float],
        image_size: int,
    ) -> None:
        super().__init__()
        self.net = net
        self.image_size = image_size
        self.head = nn.Linear(FEATURE_DIM, num_classes)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, -1, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, -1, 1, 1))
        self.register_buffer("rgb_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("rgb_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    @property
    def num_blocks(self) -> int:
        return len(self.net._blocks)

    def prefix(self, x: torch.Tensor, stop: int) -> torch.Tensor:
        """Preprocess, stem, and blocks [0, stop): the part fine-tuning keeps frozen."""
        x = x * self.pixel_std + self.pixel_mean
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = (self.image_size, self.image_size)
        x = nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
        x = (x - self.rgb_mean) / self.rgb_std
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        return self._blocks(x, 0, stop)

    def tail_features(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """Blocks [start, end), head conv, pooling: the trainable part."""
        net = self.net
        x = self._blocks(x, start, self.num_blocks)
        return net._swish(net._bn1(net._conv_head(x))).mean(dim=(2, 3))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail_features(self.prefix(x, self.num_blocks), self.num_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def _blocks(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        rate = self.net._global_params.drop_connect_rate
        for idx in range(start, stop):
            scaled = rate * idx / self.num_blocks if rate else rate
            x = self.net._blocks[idx](x, drop_connect_rate=scaled)
        return x
