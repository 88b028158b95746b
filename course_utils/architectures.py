"""Classic CNN architectures, as plain modules (chapter 2).

Constructor arguments use the papers' terms. Layers carry the names
published per-layer tables use (``conv1``, ``pool1``, ``fc1`` ...) so that a
:func:`course_utils.summary.summarize` table reads like the printed one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

#: VGG configurations (Simonyan & Zisserman 2014, table 1), channels of 3x3
#: convs, "M" = 2x2 max pool.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [
        64,
        "M",
        128,
        "M",
        256,
        256,
        "M",
        512,
        512,
        "M",
        512,
        512,
        "M",
    ],
    "vgg13": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        "M",
        512,
        512,
        "M",
        512,
        512,
        "M",
    ],
    "vgg16": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ],
    "vgg19": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],
    # the course notes' dog/cat classifier: pools after conv 2, 4 and 5
    "vgg7": [32, 64, "M", 128, 128, "M", 256, "M"],
}


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) on 32x32 grey images, with tanh units.

    Shown in :doc:`/book/02_architectures/architectures`,
    section "Counting rules".

    C1-S2-C3-S4-C5-F6-output. Subsampling is average pooling without
    trainable coefficients (the original scaled it by a learned weight and
    bias per map, 12 parameters per S layer) and C3 connects to all six
    maps.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("c1", nn.Conv2d(in_channels, 6, kernel_size=5)),
                    ("tanh1", nn.Tanh()),
                    ("s2", nn.AvgPool2d(2)),
                    ("c3", nn.Conv2d(6, 16, kernel_size=5)),
                    ("tanh3", nn.Tanh()),
                    ("s4", nn.AvgPool2d(2)),
                    ("c5", nn.Conv2d(16, 120, kernel_size=5)),
                    ("tanh5", nn.Tanh()),
                ]
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("f6", nn.Linear(120, 84)),
                    ("tanh6", nn.Tanh()),
                    ("output", nn.Linear(84, num_classes)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.classifier(x)
        return x


class AlexNet(nn.Module):
    """Single-tower AlexNet: 227x227x3 input, 64-192-384-256-256 filters.

    Shown in :doc:`/book/02_architectures/architectures`,
    section "The AlexNet table".

    The layers are named as in the course notes' per-layer table. The
    channel counts are torchvision's (one GPU instead of the paper's two
    towers of 48-128-192-192-128), so the parameter count equals
    ``torchvision.models.alexnet``'s.
    """

    def __init__(
        self, num_classes: int = 1000, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                [
                    (
                        "conv1",
                        nn.Conv2d(
                            3, 64, kernel_size=11, stride=4, padding=2
                        ),
                    ),
                    ("relu1", nn.ReLU(inplace=True)),
                    ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),
                    ("conv2", nn.Conv2d(64, 192, kernel_size=5, padding=2)),
                    ("relu2", nn.ReLU(inplace=True)),
                    ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),
                    (
                        "conv3",
                        nn.Conv2d(192, 384, kernel_size=3, padding=1),
                    ),
                    ("relu3", nn.ReLU(inplace=True)),
                    (
                        "conv4",
                        nn.Conv2d(384, 256, kernel_size=3, padding=1),
                    ),
                    ("relu4", nn.ReLU(inplace=True)),
                    (
                        "conv5",
                        nn.Conv2d(256, 256, kernel_size=3, padding=1),
                    ),
                    ("relu5", nn.ReLU(inplace=True)),
                    ("pool3", nn.MaxPool2d(kernel_size=3, stride=2)),
                ]
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("dropout1", nn.Dropout(dropout)),
                    ("fc1", nn.Linear(256 * 6 * 6, 4096)),
                    ("relu6", nn.ReLU(inplace=True)),
                    ("dropout2", nn.Dropout(dropout)),
                    ("fc2", nn.Linear(4096, 4096)),
                    ("relu7", nn.ReLU(inplace=True)),
                    ("fc3", nn.Linear(4096, num_classes)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.classifier(x)
        return x


def vgg_features(
    config: Sequence[int | str],
    in_channels: int = 3,
    batch_norm: bool = False,
) -> nn.Sequential:
    """The convolutional part of a VGG net, from a configuration list.

    Shown in :doc:`/book/02_architectures/architectures`,
    section "VGG: one rule, repeated".

    An int is a 3x3 conv (padding 1) with that many filters, followed by
    ReLU (and batch norm before it with ``batch_norm``); ``"M"`` is a 2x2
    max pool of stride 2.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        if not isinstance(item, int) or item < 1:
            raise ValueError(
                "a VGG config holds positive channel counts or 'M', "
                f"got {item!r} in {list(config)}"
            )
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG net: :func:`vgg_features`, adaptive average pooling to
    ``pool_size``, then FC layers.

    ``hidden`` lists the widths of the hidden FC layers (4096, 4096 in the
    paper). The adaptive pool makes the classifier independent of the input
    size; at 224x224 input it does nothing for VGG-16/19 (the features are
    already 7x7).

    Args:
        config: the convolutional layers in order: an ``int`` is a 3x3 conv
            with that many output channels, ``"M"`` a 2x2 max pool (see
            ``VGG_CONFIGS``). Must hold at least one ``int``.
        num_classes: outputs of the last FC layer (logits). Default: 1000
            (ImageNet).
        in_channels: channels of the input images. Default: 3 (RGB).
        hidden: widths of the hidden FC layers, each followed by ReLU
            (and dropout); empty gives a single linear classifier.
            Default: ``(4096, 4096)``.
        pool_size: side of the adaptive average pool's output; the first FC
            layer then takes (channels of the last conv) x ``pool_size`` x
            ``pool_size`` inputs. Default: 7.
        dropout: drop probability after each hidden FC layer; 0 leaves
            dropout out. Default: 0.5.
        batch_norm: put a ``BatchNorm2d`` after every conv (VGG-BN).
            Default: ``False``.

    Raises:
        ValueError: if ``config`` holds anything but positive ints and
            ``"M"``.

    Shape:
        - Input: ``(N, in_channels, H, W)``; every ``"M"`` halves H and W
          (rounding down), so they must stay at least 1.
        - Output: ``(N, num_classes)``.
    """

    def __init__(
        self,
        config: Sequence[int | str],
        num_classes: int = 1000,
        in_channels: int = 3,
        hidden: Sequence[int] = (4096, 4096),
        pool_size: int = 7,
        dropout: float = 0.5,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.features = vgg_features(config, in_channels, batch_norm)
        last_channels = [c for c in config if c != "M"][-1]
        self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
        layers: list[nn.Module] = []
        width = int(last_channels) * pool_size * pool_size
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # flatten outside the classifier so that torchvision's VGG state
        # dicts load unchanged
        return self.classifier(
            torch.flatten(self.avgpool(self.features(x)), 1)
        )


def vgg(
    name: str, num_classes: int = 1000, batch_norm: bool = False
) -> VGG:
    """VGG-11/13/16/19 as in the paper, or ``"vgg7"``, the course notes'
    dog/cat classifier.

    VGG-7 has 5 conv layers, global average pooling to 4x4, FC 4096->512 and
    one logit (apply a sigmoid, or train with ``BCEWithLogitsLoss``):
    2,634,177 parameters, the sum of the notes' per-layer counts (their
    printed total, 2,634,167, drops 10 in the addition).
    """
    if name not in VGG_CONFIGS:
        raise ValueError(
            f"unknown VGG {name!r}; expected one of {sorted(VGG_CONFIGS)}"
        )
    if name == "vgg7":
        return VGG(
            VGG_CONFIGS[name],
            num_classes=1,
            hidden=(512,),
            pool_size=4,
            dropout=0.0,
            batch_norm=batch_norm,
        )
    return VGG(
        VGG_CONFIGS[name], num_classes=num_classes, batch_norm=batch_norm
    )


class InceptionModule(nn.Module):
    """GoogLeNet's Inception module (Szegedy et al. 2014, figure 2).

    Shown in :doc:`/book/02_architectures/architectures`,
    section "Inception: 1 × 1 convolutions pay for width".

    Four branches side by side, their outputs concatenated. With
    ``reduce=True`` (figure 2b) 1x1 convolutions shrink the channels before
    the 3x3 and 5x5 convolutions and project the pooled branch; with
    ``reduce=False`` (the naive figure 2a) the 3x3 and 5x5 convolutions see
    all ``in_channels`` and the pooled branch passes through. Every
    convolution is followed by a ReLU and padded so that H and W are kept.

    Args:
        in_channels: channels of the input.
        ch1x1: output channels of the 1x1 branch.
        ch3x3red: channels of the 1x1 reduction before the 3x3 conv (ignored
            if not ``reduce``).
        ch3x3: output channels of the 3x3 branch.
        ch5x5red: channels of the 1x1 reduction before the 5x5 conv (ignored
            if not ``reduce``).
        ch5x5: output channels of the 5x5 branch.
        pool_proj: output channels of the 1x1 projection after the 3x3 max
            pool (stride 1); ignored if not ``reduce``.
        reduce: use the 1x1 reductions and projection (figure 2b); ``False``
            builds the naive module (figure 2a). Default: ``True``.

    Shape:
        - Input: ``(N, in_channels, H, W)``.
        - Output: ``(N, out_channels, H, W)`` with ``out_channels``
          (an attribute) ``= ch1x1 + ch3x3 + ch5x5 + pool_proj``, or
          ``+ in_channels`` in place of ``pool_proj`` when ``reduce=False``.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        reduce: bool = True,
    ) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int, k: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel_size=k, padding=k // 2),
                nn.ReLU(inplace=True),
            )

        self.branch1 = conv(in_channels, ch1x1, 1)
        if reduce:
            self.branch2 = nn.Sequential(
                conv(in_channels, ch3x3red, 1), conv(ch3x3red, ch3x3, 3)
            )
            self.branch3 = nn.Sequential(
                conv(in_channels, ch5x5red, 1), conv(ch5x5red, ch5x5, 5)
            )
            self.branch4 = nn.Sequential(
                nn.MaxPool2d(3, stride=1, padding=1),
                conv(in_channels, pool_proj, 1),
            )
            self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        else:
            self.branch2 = conv(in_channels, ch3x3, 3)
            self.branch3 = conv(in_channels, ch5x5, 5)
            self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)
            self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [
            self.branch1(x),
            self.branch2(x),
            self.branch3(x),
            self.branch4(x),
        ]
        return torch.cat(outputs, dim=1)


#: GoogLeNet's module 3a, 28x28x192 in, 64 + 128 + 32 + 32 = 256 channels
#: out.
INCEPTION_3A = dict(
    in_channels=192,
    ch1x1=64,
    ch3x3red=96,
    ch3x3=128,
    ch5x5red=16,
    ch5x5=32,
    pool_proj=32,
)
