"""DenseNet-BC (chapter 5): dense layers, dense blocks and transitions.

Names follow torchvision's ``DenseNet``
(``features.denseblock1.denselayer1.norm1`` ...), so its state dicts load
unchanged. Channel arithmetic: a block of ``L`` layers with growth rate
``k`` turns ``c`` channels into ``c + L k``; a transition with compression
``theta`` turns ``c`` into ``floor(theta c)`` and halves the resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv to ``bn_size * k`` channels, BN-ReLU-3x3 conv to k.

    Shown in :doc:`/book/05_resnet_densenet/resnet_densenet`,
    section "DenseNet: concatenate instead of add".

    The 1x1 conv is the bottleneck, the "B" of DenseNet-BC.
    """

    def __init__(
        self, in_channels: int, growth_rate: int, bn_size: int = 4
    ) -> None:
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, growth_rate, 3, padding=1, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.norm1(features)
        out = self.relu1(out)
        out = self.conv1(out)
        out = self.norm2(out)
        out = self.relu2(out)
        out = self.conv2(out)
        return out


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; each sees the concatenation of the block
    input and all earlier outputs.

    Args:
        num_layers: L, the number of :class:`DenseLayer` s.
        in_channels: c, channels of the block's input.
        growth_rate: k, channels each layer adds.
        bn_size: the bottleneck 1x1 conv of each layer has ``bn_size * k``
            channels. Default: 4.

    Shape:
        - Input: ``(N, c, H, W)``.
        - Output: ``(N, c + L k, H, W)``; ``c + L k`` is the attribute
          ``out_channels``.
    """

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth_rate: int,
        bn_size: int = 4,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(
                f"denselayer{i + 1}",
                DenseLayer(
                    in_channels + i * growth_rate, growth_rate, bn_size
                ),
            )
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv to ``out_channels``, then 2x2 average pooling.

    Shown in :doc:`/book/05_resnet_densenet/resnet_densenet`,
    section "DenseNet: concatenate instead of add".

    With ``out_channels = floor(theta * in_channels)`` it is the "C",
    compression, of DenseNet-BC.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.add_module("norm", nn.BatchNorm2d(in_channels))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", conv)
        self.add_module("pool", nn.AvgPool2d(2, stride=2))


class DenseNet(nn.Module):
    """DenseNet-BC; the defaults are DenseNet-121 (k = 32, blocks of 6, 12,
    24, 16 layers, theta = 0.5).

    A 7x7 stride-2 conv and a 3x3 stride-2 max pool, the dense blocks with a
    :class:`Transition` between consecutive ones, BN-ReLU, global average
    pooling and one linear layer.

    Args:
        growth_rate: k, channels each dense layer adds. Default: 32.
        block_config: the number of layers in each dense block.
            Default: ``(6, 12, 24, 16)``.
        num_init_features: channels of the first (7x7) conv. Default: 64.
        bn_size: bottleneck width of each dense layer, in multiples of k.
            Default: 4.
        compression: theta in (0, 1]; a transition keeps ``floor(theta c)``
            of ``c`` channels. Default: 0.5.
        num_classes: outputs of the classifier (logits). Default: 1000.

    Raises:
        ValueError: if ``compression`` is outside (0, 1].

    Shape:
        - Input: ``(N, 3, H, W)`` (RGB; 224x224 in the paper).
        - Output: ``(N, num_classes)``.
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        compression: float = 0.5,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        if not 0.0 < compression <= 1.0:
            raise ValueError(
                f"compression theta lies in (0, 1], got {compression}"
            )
        self.features = nn.Sequential()
        self.features.add_module(
            "conv0",
            nn.Conv2d(
                3, num_init_features, 7, stride=2, padding=3, bias=False
            ),
        )
        self.features.add_module("norm0", nn.BatchNorm2d(num_init_features))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module(
            "pool0", nn.MaxPool2d(3, stride=2, padding=1)
        )
        channels = num_init_features
        for i, num_layers in enumerate(block_config, start=1):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size)
            self.features.add_module(f"denseblock{i}", block)
            channels = block.out_channels
            if i < len(block_config):
                reduced = int(channels * compression)
                self.features.add_module(
                    f"transition{i}", Transition(channels, reduced)
                )
                channels = reduced
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.features(x))
        return self.classifier(
            torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        )
