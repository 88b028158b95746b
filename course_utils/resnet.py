"""Residual networks (chapter 5): blocks, torchvision-compatible ResNets,
small nets for experiments.

Module and attribute names follow torchvision's (``conv1``, ``bn1``,
``downsample``, ``layer1`` ...), so a torchvision state dict loads into
these models unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def conv3x3(
    in_channels: int, out_channels: int, stride: int = 1
) -> nn.Conv2d:
    """A 3x3 convolution with padding 1 and no bias (the batch norm after
    it has one)."""
    return nn.Conv2d(
        in_channels, out_channels, 3, stride=stride, padding=1, bias=False
    )


def projection(
    in_channels: int, out_channels: int, stride: int
) -> nn.Sequential:
    """The shortcut used when the shape changes: a strided 1x1 conv and
    batch norm (option B of the paper)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; ReLU after the addition. ``residual=False``
    gives the plain twin.

    Args:
        in_channels: channels of the input.
        out_channels: channels of both convs and of the output.
        stride: stride of the first conv (2 halves H and W). Default: 1.
        residual: add the shortcut before the last ReLU: the identity, or a
            1x1 conv-BN projection (``downsample``) when the stride or the
            channels change. ``False`` has no shortcut at all.
            Default: ``True``.

    Shape:
        - Input: ``(N, in_channels, H, W)``.
        - Output: ``(N, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.residual = residual
        reshapes = stride != 1 or in_channels != out_channels
        self.downsample = (
            projection(in_channels, out_channels, stride)
            if residual and reshapes
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU(F(x) + shortcut(x)) with F = conv-BN-ReLU-conv-BN.

        Shown in :doc:`/book/05_resnet_densenet/resnet_densenet`,
        section "The residual block".

        The plain twin (``residual=False``) returns ReLU(F(x)).
        """
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        if self.residual:
            out = out + identity
        out = self.relu(out)
        return out


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with BN, ReLU after the addition.

    Shown in :doc:`/book/05_resnet_densenet/resnet_densenet`,
    section "The residual block".

    The stride sits on the 3x3 conv, as in torchvision. The shortcut is the
    identity, or a 1x1 conv-BN projection when the shape changes.
    """

    expansion = 4

    def __init__(
        self, in_channels: int, planes: int, stride: int = 1
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = projection(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv3(out)
        out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity
        out = self.relu(out)
        return out


class PreActBlock(nn.Module):
    """Pre-activation block (He et al. 2016): BN-ReLU-conv twice, and
    nothing after the addition.

    The shortcut stays a pure identity from block to block, which is what
    lets 1000-layer networks train.
    """

    expansion = 1

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 1
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.relu = nn.ReLU()
        reshapes = stride != 1 or in_channels != out_channels
        self.downsample = (
            nn.Conv2d(
                in_channels, out_channels, 1, stride=stride, bias=False
            )
            if reshapes
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + F(x), F = BN-ReLU-conv-BN-ReLU-conv; nothing after the sum.

        Shown in :doc:`/book/05_resnet_densenet/resnet_densenet`,
        section "The residual block".

        When the shape changes, the projection takes the normalized input.
        """
        identity = x
        out = self.bn1(x)
        out = self.relu(out)
        if self.downsample is not None:
            identity = self.downsample(out)
        out = self.conv1(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = out + identity
        return out


class ResNet(nn.Module):
    """ImageNet ResNet: stem, four stages of blocks, GAP, FC.

    Shown in :doc:`/book/05_resnet_densenet/resnet_densenet`,
    section "ResNet-18 from its blocks".

    The stem is a 7x7 stride-2 conv and a 3x3 stride-2 max pool; the stages
    have 64, 128, 256 and 512 planes, and each stage after the first halves
    the resolution in its first block.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(
                "layers gives the number of blocks in each of the 4 "
                f"stages, got {list(layers)}"
            )
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        widths = (64, 128, 256, 512)
        for index, (planes, blocks) in enumerate(zip(widths, layers), 1):
            stride = 1 if index == 1 else 2
            stage = []
            for b in range(blocks):
                block_stride = stride if b == 0 else 1
                stage.append(block(channels, planes, block_stride))
                channels = planes * block.expansion
            setattr(self, f"layer{index}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18: basic blocks, [2, 2, 2, 2] per stage (He et al., 2016,
    table 1)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34: basic blocks, [3, 4, 6, 3] per stage (He et al., 2016,
    table 1)."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50: bottleneck blocks, [3, 4, 6, 3] per stage (He et al.,
    2016, table 1)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


class SmallResNet(nn.Module):
    """A two-stage CIFAR-style net for 28x28 digits, residual or plain, of
    depth ``4n + 2``.

    Stem: 3x3 conv, stride 2 (28 -> 14), BN, ReLU. Stage 1: ``n`` basic
    blocks of ``width`` channels. Stage 2: ``n`` blocks of ``2 width``
    channels, the first with stride 2. Global average pooling and one FC
    layer. Depth counts the stem, the block convs and the FC layer.

    Args:
        blocks_per_stage: n, the number of :class:`BasicBlock` s in each
            stage (≥ 1).
        residual: residual blocks; ``False`` gives the plain net of the same
            depth. Default: ``True``.
        width: channels of stage 1 (stage 2 has twice as many). Default: 8.
        in_channels: channels of the input images. Default: 1 (grey digits).
        num_classes: outputs of the FC layer (logits). Default: 10.

    Raises:
        ValueError: if ``blocks_per_stage`` < 1.

    Shape:
        - Input: ``(N, in_channels, H, W)``, 28x28 for MNIST (any size
          works: the pooling is global).
        - Output: ``(N, num_classes)``.
    """

    def __init__(
        self,
        blocks_per_stage: int,
        residual: bool = True,
        width: int = 8,
        in_channels: int = 1,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if blocks_per_stage < 1:
            raise ValueError(
                f"blocks_per_stage must be >= 1, got {blocks_per_stage}"
            )
        self.depth = 4 * blocks_per_stage + 2
        self.stem = nn.Sequential(
            conv3x3(in_channels, width, stride=2),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        blocks = [
            BasicBlock(width, width, residual=residual)
            for _ in range(blocks_per_stage)
        ]
        blocks.append(
            BasicBlock(width, 2 * width, stride=2, residual=residual)
        )
        blocks += [
            BasicBlock(2 * width, 2 * width, residual=residual)
            for _ in range(blocks_per_stage - 1)
        ]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))
