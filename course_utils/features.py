"""Feature extractors for texture synthesis and style transfer (chapter 7).

Feature extractors are plain modules that return a ``dict`` of named feature
maps; the losses are plain modules that take that dict. Nothing hides inside
an ``nn.Sequential``. Two extractors exist: torchvision's ImageNet VGG-19
(Gatys et al.'s network, used when its weights are in the torch hub cache or
can be downloaded) and a random multi-scale network in the spirit of
Ustyuzhaninov et al. (ICLR 2017), which needs no trained weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.imagenet import require_weights, weights_checkpoint

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Gatys et al.'s choice, style from the first conv of each block (after its
#: ReLU), content from conv4_2.
VGG_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VGG_CONTENT_LAYER = "relu4_2"

Features = dict[str, torch.Tensor]


def check_images(x: torch.Tensor, what: str = "images") -> None:
    """Raise a ``ValueError`` naming ``what`` unless ``x`` is a (batch,
    3, height, width) tensor."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        shape = (
            tuple(x.shape)
            if isinstance(x, torch.Tensor)
            else type(x).__name__
        )
        raise ValueError(
            f"{what} must be a tensor of shape (batch, 3, height, width), "
            f"got {shape}"
        )


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` for images in [0, 1] (ImageNet
    statistics by default)."""

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def vgg_layer_names(features: nn.Sequential) -> list[str]:
    """Names like ``conv3_2``/``relu3_2``/``pool3`` for the modules of a
    VGG ``features`` stack."""
    names, block, index = [], 1, 0
    for module in features:
        if isinstance(module, nn.Conv2d):
            index += 1
            names.append(f"conv{block}_{index}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{index}")
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            names.append(f"pool{block}")
            block, index = block + 1, 0
        else:
            raise ValueError(
                f"unexpected module {type(module).__name__} in a VGG "
                "features stack"
            )
    return names


class VGGFeatures(nn.Module):
    """A VGG ``features`` stack cut after the deepest requested layer;
    returns those layers' maps.

    Inputs are images in [0, 1]; ImageNet normalization happens inside.
    ``avg_pool=True`` swaps max for average pooling, as Gatys et al. suggest
    for smoother gradients. The weights are frozen: only the image is
    optimized.
    """

    def __init__(
        self,
        features: nn.Sequential,
        layers: Iterable[str],
        avg_pool: bool = False,
    ) -> None:
        super().__init__()
        names = vgg_layer_names(features)
        self.layers = tuple(dict.fromkeys(layers))
        unknown = [name for name in self.layers if name not in names]
        if unknown:
            raise ValueError(
                f"unknown VGG layers {unknown}; expected names like "
                f"{names[:5]} ..."
            )
        last = max(names.index(name) for name in self.layers)
        modules = []
        for module in list(features)[: last + 1]:
            if avg_pool and isinstance(module, nn.MaxPool2d):
                module = nn.AvgPool2d(
                    module.kernel_size, module.stride, module.padding
                )
            elif isinstance(module, nn.ReLU):
                # in-place would overwrite maps we return
                module = nn.ReLU(inplace=False)
            modules.append(module)
        self.normalize = Normalize()
        self.body = nn.Sequential(*modules)
        self.names = names[: last + 1]
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> Features:
        check_images(images)
        x, out = self.normalize(images), {}
        for name, module in zip(self.names, self.body):
            x = module(x)
            if name in self.layers:
                out[name] = x
        return out


class RandomMultiScaleFeatures(nn.Module):
    """Untrained features for texture synthesis (after Ustyuzhaninov et al.,
    ICLR 2017).

    One layer of random zero-mean convolutions with several kernel sizes and
    a ReLU, applied to an image pyramid (each level halves the resolution,
    antialiased), so that a few small kernels see structures from 3 to about
    ``max(kernel_sizes) * 2**(levels-1)`` pixels. Layers are named
    ``s{level}k{kernel}``. Nothing here was trained: the seed fixes the
    filters.

    Args:
        kernel_sizes: odd sizes of the square kernels; each size gets its
            own ``filters`` filters (reflect-padded, so every level keeps
            its size). Default: ``(3, 5, 7)``.
        filters: random filters per kernel size. Default: 64.
        levels: levels of the pyramid, the first at full resolution (≥ 1).
            Default: 4.
        seed: seed of the filters' generator. Default: 0.

    Raises:
        ValueError: if ``levels`` or ``filters`` is below 1, or
            ``kernel_sizes`` is empty or holds an even or non-positive size.

    Shape:
        - Input: ``(N, 3, H, W)``, images in [0, 1].
        - Output: a ``dict`` with one ReLU map per level and kernel size
          (the attribute ``layers`` lists the names in order),
          ``s{level}k{k}`` of shape ``(N, filters, H_level, W_level)``,
          where each level halves the previous one's size, rounding down.
    """

    def __init__(
        self,
        kernel_sizes: Sequence[int] = (3, 5, 7),
        filters: int = 64,
        levels: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if (
            levels < 1
            or filters < 1
            or not kernel_sizes
            or any(k < 1 or k % 2 == 0 for k in kernel_sizes)
        ):
            raise ValueError(
                "need levels >= 1, filters >= 1 and odd kernel sizes; "
                f"got levels={levels}, filters={filters}, "
                f"kernel_sizes={tuple(kernel_sizes)}"
            )
        generator = torch.Generator().manual_seed(seed)
        self.levels, self.seed = levels, seed
        self.convs = nn.ModuleList()
        for k in kernel_sizes:
            conv = nn.Conv2d(
                3,
                filters,
                k,
                padding=k // 2,
                padding_mode="reflect",
                bias=False,
            )
            with torch.no_grad():
                weight = (
                    torch.rand(conv.weight.shape, generator=generator) * 2
                    - 1
                )
                # a zero-mean filter ignores flat brightness
                weight -= weight.mean(dim=(1, 2, 3), keepdim=True)
                conv.weight.copy_(
                    weight / weight.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
                )
            self.convs.append(conv)
        self.layers = tuple(
            f"s{level}k{k}" for level in range(levels) for k in kernel_sizes
        )
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> Features:
        check_images(images)
        x, out = images - 0.5, {}
        for level in range(self.levels):
            # antialiased bilinear: 2x2 average pooling leaves blocky
            # gradients on the pixels
            if level:
                x = F.interpolate(
                    x,
                    scale_factor=0.5,
                    mode="bilinear",
                    antialias=True,
                    align_corners=False,
                )
            for conv in self.convs:
                out[f"s{level}k{conv.kernel_size[0]}"] = F.relu(conv(x))
        return out


@dataclass
class FeatureSource:
    """An extractor plus what a notebook should say about it and which
    layers to use."""

    extractor: nn.Module
    description: str
    style_layers: tuple[str, ...]
    content_layer: str
    pretrained: bool


def _vgg19_checkpoint() -> Path:
    from torchvision.models import VGG19_Weights

    return weights_checkpoint(VGG19_Weights.IMAGENET1K_V1)


def load_vgg19_features(
    layers: Iterable[str] = (*VGG_STYLE_LAYERS, VGG_CONTENT_LAYER),
    avg_pool: bool = False,
    allow_download: bool | None = None,
) -> tuple[VGGFeatures, str]:
    """torchvision's ImageNet VGG-19 as a :class:`VGGFeatures`, from the hub
    cache or a download.

    Raises ``RuntimeError`` (saying where it looked) when the weights are
    not cached and downloading is not allowed; ``allow_download=None`` asks
    :func:`course_utils.data.network_allows_download`.
    """
    from torchvision.models import VGG19_Weights, vgg19

    how = require_weights(
        VGG19_Weights.IMAGENET1K_V1, "VGG-19", allow_download
    )
    model = vgg19(weights=VGG19_Weights.IMAGENET1K_V1)
    return VGGFeatures(
        model.features, layers, avg_pool
    ), f"torchvision VGG19_Weights.IMAGENET1K_V1 ({how})"


def load_feature_extractor(
    kind: Literal["auto", "vgg19", "random"] = "auto",
    seed: int = 0,
    verbose: bool = True,
) -> FeatureSource:
    """The chapter's extractor: ImageNet VGG-19 when its weights can be had,
    else random features.

    ``kind="vgg19"`` insists on the real weights (and raises if it cannot
    get them); ``kind="random"`` always uses
    :class:`RandomMultiScaleFeatures`. The description says which ran.
    """
    if kind not in ("auto", "vgg19", "random"):
        raise ValueError(
            f"kind must be 'auto', 'vgg19' or 'random', got {kind!r}"
        )
    source: FeatureSource | None = None
    reason = ""
    if kind in ("auto", "vgg19"):
        try:
            extractor, description = load_vgg19_features()
            source = FeatureSource(
                extractor,
                description,
                VGG_STYLE_LAYERS,
                VGG_CONTENT_LAYER,
                True,
            )
        except RuntimeError as error:
            if kind == "vgg19":
                raise
            reason = f" because {error}"
    if source is None:
        extractor = RandomMultiScaleFeatures(seed=seed)
        source = FeatureSource(
            extractor,
            f"random multi-scale features (untrained, seed {seed}; "
            f"Ustyuzhaninov et al. 2017){reason}",
            extractor.layers,
            "s1k5",
            False,
        )
    if verbose:
        print(f"Features: {source.description}")
    return source
