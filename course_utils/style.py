"""Gram matrices, style and content losses, and pixel optimization (chapter 7).

The notation follows Gatys et al. (2015). For layer :math:`l` with
:math:`N_l` filters and feature maps of :math:`M_l` positions, :math:`F^l` is the
:math:`N_l \\times M_l` matrix of responses and the Gram matrix is
:math:`G^l_{ij} = \\sum_k F^l_{ik} F^l_{jk}` (no normalization). The losses are

.. math::

    E_\\text{style} = \\tfrac14 \\sum_l \\frac{w_l}{N_l^2 M_l^2} \\sum_{ij} (G^l_{ij} - A^l_{ij})^2,
    \\qquad E_\\text{content} = \\tfrac12 \\sum_{ik} (F^l_{ik}(x) - F^l_{ik}(x_c))^2,

and :math:`E_\\text{total} = \\alpha E_\\text{content} + \\beta E_\\text{style}`.

Feature extractors are plain modules that return a ``dict`` of named feature maps; the
losses are plain modules that take that dict. Nothing hides inside an ``nn.Sequential``.
Two extractors exist: torchvision's ImageNet VGG-19 (Gatys et al.'s network, used when its
weights are in the torch hub cache or can be downloaded) and a random multi-scale network
in the spirit of Ustyuzhaninov et al. (ICLR 2017), which needs no trained weights.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.imagenet import require_weights, weights_checkpoint

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Gatys et al.'s choice, style from the first conv of each block (after its ReLU), content from conv4_2.
VGG_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VGG_CONTENT_LAYER = "relu4_2"

Features = dict[str, torch.Tensor]


def _check_images(x: torch.Tensor, what: str = "images") -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must be a tensor of shape (batch, 3, height, width), got {shape}")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Batched Gram matrices :math:`G_{ij} = \\sum_k F_{ik} F_{jk}`: (B, N, H, W) -> (B, N, N)."""
    if features.ndim != 4:
        raise ValueError(f"feature maps must have shape (batch, filters, height, width), got {tuple(features.shape)}")
    flat = features.flatten(2)  # (B, N, M)
    return flat @ flat.transpose(1, 2)


def style_layer_loss(gram: torch.Tensor, target_gram: torch.Tensor, map_size: int) -> torch.Tensor:
    """One layer's term :math:`\\frac{1}{4 N^2 M^2} \\sum_{ij} (G_{ij} - A_{ij})^2`, summed over the batch."""
    if gram.shape[-2:] != target_gram.shape[-2:]:
        raise ValueError(f"Gram matrices differ in shape: {tuple(gram.shape)} vs target {tuple(target_gram.shape)}")
    n_filters = gram.shape[-1]
    return (gram - target_gram).pow(2).sum() / (4 * n_filters**2 * map_size**2)


class StyleLoss(nn.Module):
    """:math:`E_\\text{style}` against fixed target features; call it with the synthetic image's features.

    ``weights`` maps layer names to :math:`w_l`; only those layers count. The targets' Gram
    matrices are stored as buffers (computed once, moved with ``.to(device)``).
    """

    def __init__(self, target_features: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> None:
        super().__init__()
        missing = [name for name in weights if name not in target_features]
        if missing:
            raise ValueError(f"no target features for style layers {missing}; available: {sorted(target_features)}")
        if not weights:
            raise ValueError("StyleLoss needs at least one layer weight")
        self.weights = dict(weights)
        self.map_sizes: dict[str, int] = {}
        for name in self.weights:
            target = target_features[name].detach()
            self.register_buffer(self._key(name), gram_matrix(target))
            self.map_sizes[name] = target.shape[2] * target.shape[3]

    @staticmethod
    def _key(name: str) -> str:
        return f"target_gram_{name}"

    def target_gram(self, name: str) -> torch.Tensor:
        return getattr(self, self._key(name))

    def layer_losses(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each layer's unweighted term, for plots of which layer is matched how well."""
        losses = {}
        for name in self.weights:
            if name not in features:
                raise KeyError(f"style layer {name!r} missing from the features; got {sorted(features)}")
            fmap = features[name]
            size = fmap.shape[2] * fmap.shape[3]
            if size != self.map_sizes[name]:
                # a different image size changes M_l; the Gram of a sum over M positions scales with M
                target = self.target_gram(name) * (size / self.map_sizes[name])
            else:
                target = self.target_gram(name)
            losses[name] = style_layer_loss(gram_matrix(fmap), target.expand(fmap.shape[0], -1, -1), size)
        return losses

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        losses = self.layer_losses(features)
        return sum(self.weights[name] * loss for name, loss in losses.items())


class ContentLoss(nn.Module):
    """:math:`E_\\text{content} = \\frac12 \\sum (F^l(x) - F^l(x_c))^2` at one layer."""

    def __init__(self, target_features: Mapping[str, torch.Tensor], layer: str) -> None:
        super().__init__()
        if layer not in target_features:
            raise ValueError(f"no target features for content layer {layer!r}; available: {sorted(target_features)}")
        self.layer = layer
        self.register_buffer("target", target_features[layer].detach().clone())

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        fmap = features[self.layer]
        if fmap.shape[1:] != self.target.shape[1:]:
            raise ValueError(f"content layer {self.layer!r}: features {tuple(fmap.shape)} vs target {tuple(self.target.shape)}"
                             " (the synthetic image must have the content image's size)")
        return 0.5 * (fmap - self.target).pow(2).sum()


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Sum of squared differences between neighbouring pixels: a smoothness prior on the image."""
    _check_images(images)
    dx = images[..., :, 1:] - images[..., :, :-1]
    dy = images[..., 1:, :] - images[..., :-1, :]
    return dx.pow(2).sum() + dy.pow(2).sum()


# ---------------------------------------------------------------------------------------------
# Feature extractors
# ---------------------------------------------------------------------------------------------

class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` for images in [0, 1] (ImageNet statistics by default)."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def vgg_layer_names(features: nn.Sequential) -> list[str]:
    """Names like ``conv3_2``/``relu3_2``/``pool3`` for the modules of a VGG ``features`` stack."""
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
            raise ValueError(f"unexpected module {type(module).__name__} in a VGG features stack")
    return names


class VGGFeatures(nn.Module):
    """A VGG ``features`` stack cut after the deepest requested layer; returns those layers' maps.

    Inputs are images in [0, 1]; ImageNet normalization happens inside. ``avg_pool=True``
    swaps max for average pooling, as Gatys et al. suggest for smoother gradients. The
    weights are frozen: only the image is optimized.
    """

    def __init__(self, features: nn.Sequential, layers: Iterable[str], avg_pool: bool = False) -> None:
        super().__init__()
        names = vgg_layer_names(features)
        self.layers = tuple(dict.fromkeys(layers))
        unknown = [name for name in self.layers if name not in names]
        if unknown:
            raise ValueError(f"unknown VGG layers {unknown}; expected names like {names[:5]} ...")
        last = max(names.index(name) for name in self.layers)
        modules = []
        for module in list(features)[: last + 1]:
            if avg_pool and isinstance(module, nn.MaxPool2d):
                module = nn.AvgPool2d(module.kernel_size, module.stride, module.padding)
            elif isinstance(module, nn.ReLU):
                module = nn.ReLU(inplace=False)  # in-place would overwrite maps we return
            modules.append(module)
        self.normalize = Normalize()
        self.body = nn.Sequential(*modules)
        self.names = names[: last + 1]
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> Features:
        _check_images(images)
        x, out = self.normalize(images), {}
        for name, module in zip(self.names, self.body):
            x = module(x)
            if name in self.layers:
                out[name] = x
        return out


class RandomMultiScaleFeatures(nn.Module):
    """Untrained features for texture synthesis (after Ustyuzhaninov et al., ICLR 2017).

    One layer of random zero-mean convolutions with several kernel sizes and a ReLU, applied
    to an image pyramid (each level halves the resolution, antialiased), so that a
    few small kernels see structures from 3 to about ``max(kernel_sizes) * 2**(levels-1)``
    pixels. Layers are named ``s{level}k{kernel}``. Nothing here was trained: the seed fixes
    the filters.

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

    def __init__(self, kernel_sizes: Sequence[int] = (3, 5, 7), filters: int = 64, levels: int = 4, seed: int = 0) -> None:
        super().__init__()
        if levels < 1 or filters < 1 or not kernel_sizes or any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"need levels >= 1, filters >= 1 and odd kernel sizes; got levels={levels}, "
                             f"filters={filters}, kernel_sizes={tuple(kernel_sizes)}")
        generator = torch.Generator().manual_seed(seed)
        self.levels, self.seed = levels, seed
        self.convs = nn.ModuleList()
        for k in kernel_sizes:
            conv = nn.Conv2d(3, filters, k, padding=k // 2, padding_mode="reflect", bias=False)
            with torch.no_grad():
                weight = torch.rand(conv.weight.shape, generator=generator) * 2 - 1
                weight -= weight.mean(dim=(1, 2, 3), keepdim=True)  # a zero-mean filter ignores flat brightness
                conv.weight.copy_(weight / weight.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
            self.convs.append(conv)
        self.layers = tuple(f"s{level}k{k}" for level in range(levels) for k in kernel_sizes)
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> Features:
        _check_images(images)
        x, out = images - 0.5, {}
        for level in range(self.levels):
            if level:  # antialiased bilinear: 2x2 average pooling leaves blocky gradients on the pixels
                x = F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
            for conv in self.convs:
                out[f"s{level}k{conv.kernel_size[0]}"] = F.relu(conv(x))
        return out


@dataclass
class FeatureSource:
    """An extractor plus what a notebook should say about it and which layers to use."""

    extractor: nn.Module
    description: str
    style_layers: tuple[str, ...]
    content_layer: str
    pretrained: bool


def _vgg19_checkpoint() -> Path:
    from torchvision.models import VGG19_Weights

    return weights_checkpoint(VGG19_Weights.IMAGENET1K_V1)


def load_vgg19_features(layers: Iterable[str] = (*VGG_STYLE_LAYERS, VGG_CONTENT_LAYER), avg_pool: bool = False,
                        allow_download: bool | None = None) -> tuple[VGGFeatures, str]:
    """torchvision's ImageNet VGG-19 as a :class:`VGGFeatures`, from the hub cache or a download.

    Raises ``RuntimeError`` (saying where it looked) when the weights are not cached and
    downloading is not allowed; ``allow_download=None`` asks :func:`course_utils.data.network_allows_download`.
    """
    from torchvision.models import VGG19_Weights, vgg19

    how = require_weights(VGG19_Weights.IMAGENET1K_V1, "VGG-19", allow_download)
    model = vgg19(weights=VGG19_Weights.IMAGENET1K_V1)
    return VGGFeatures(model.features, layers, avg_pool), f"torchvision VGG19_Weights.IMAGENET1K_V1 ({how})"


def load_feature_extractor(kind: Literal["auto", "vgg19", "random"] = "auto", seed: int = 0,
                           verbose: bool = True) -> FeatureSource:
    """The chapter's extractor: ImageNet VGG-19 when its weights can be had, else random features.

    ``kind="vgg19"`` insists on the real weights (and raises if it cannot get them);
    ``kind="random"`` always uses :class:`RandomMultiScaleFeatures`. The description says which ran.
    """
    if kind not in ("auto", "vgg19", "random"):
        raise ValueError(f"kind must be 'auto', 'vgg19' or 'random', got {kind!r}")
    source: FeatureSource | None = None
    reason = ""
    if kind in ("auto", "vgg19"):
        try:
            extractor, description = load_vgg19_features()
            source = FeatureSource(extractor, description, VGG_STYLE_LAYERS, VGG_CONTENT_LAYER, True)
        except RuntimeError as error:
            if kind == "vgg19":
                raise
            reason = f" because {error}"
    if source is None:
        extractor = RandomMultiScaleFeatures(seed=seed)
        source = FeatureSource(
            extractor,
            f"random multi-scale features (untrained, seed {seed}; Ustyuzhaninov et al. 2017){reason}",
            extractor.layers, "s1k5", False,
        )
    if verbose:
        print(f"Features: {source.description}")
    return source


# ---------------------------------------------------------------------------------------------
# Optimizing the pixels
# ---------------------------------------------------------------------------------------------

@dataclass
class Synthesis:
    """The result of :func:`synthesize`: final image in [0, 1], loss per evaluation, snapshots."""

    image: torch.Tensor
    losses: list[float]
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)
    seconds: float = 0.0
    evaluations: int = 0


def synthesize(
    extractor: nn.Module,
    init: torch.Tensor,
    style: StyleLoss | None = None,
    content: ContentLoss | None = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    tv_weight: float = 0.0,
    optimizer: Literal["lbfgs", "adam"] = "lbfgs",
    evaluations: int = 100,
    lr: float | None = None,
    snapshot_at: Sequence[int] = (),
    progress: bool = True,
) -> Synthesis:
    """Minimize :math:`\\alpha E_\\text{content} + \\beta E_\\text{style} + \\lambda_{TV} TV` over the pixels.

    ``evaluations`` counts loss-and-gradient evaluations, the fair unit between L-BFGS (which
    evaluates several times per step) and Adam (once per step). L-BFGS uses a strong-Wolfe
    line search: with fixed unit steps it stalled on some textures and left saturated
    speckles on others. The pixels are optimized unconstrained and clipped to [0, 1] in the
    returned image and snapshots.

    Args:
        extractor: maps images ``(B, 3, H, W)`` to the ``dict`` of feature
            maps that the losses read (:class:`VGGFeatures`,
            :class:`RandomMultiScaleFeatures`).
        init: the starting image ``(B, 3, H, W)``, usually in [0, 1] (noise
            from :func:`noise_like`, or the content image); it is copied,
            never changed.
        style: :math:`E_\\text{style}`, or ``None`` to leave it out.
            Default: ``None``.
        content: :math:`E_\\text{content}`, or ``None``; ``init`` must then
            have the content image's size. At least one of ``style`` and
            ``content`` is needed. Default: ``None``.
        alpha: weight of the content loss. Default: 1.0.
        beta: weight of the style loss. Default: 1.0.
        tv_weight: :math:`\\lambda_{TV}`, the weight of
            :func:`total_variation`; 0 leaves it out. Default: 0.0.
        optimizer: ``"lbfgs"`` or ``"adam"``. Default: ``"lbfgs"``.
        evaluations: loss-and-gradient evaluations to run (≥ 1); L-BFGS runs
            at most this many and stops earlier only at a zero gradient.
            Default: 100.
        lr: the optimizer's learning rate; ``None`` (or 0) means 1.0 for
            L-BFGS (the line search scales its steps) and 0.02 for Adam.
            Default: ``None``.
        snapshot_at: evaluation counts (1-based) after which to keep a copy
            of the image. Default: ``()``.
        progress: show a progress bar with the current loss.
            Default: ``True``.

    Returns:
        A :class:`Synthesis` with ``image`` ``(B, 3, H, W)`` clipped to
        [0, 1] on ``init``'s device, ``losses`` (the total loss at each
        evaluation), ``snapshots`` (evaluation count -> clipped image on the
        CPU), ``seconds`` (wall time, CUDA synchronized) and ``evaluations``
        (the number run).

    Raises:
        ValueError: if ``init`` is not ``(B, 3, H, W)``, neither loss is
            given, ``optimizer`` is unknown or ``evaluations`` < 1.
    """
    _check_images(init, "init")
    if style is None and content is None:
        raise ValueError("synthesize needs a style loss, a content loss, or both")
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if evaluations < 1:
        raise ValueError(f"evaluations must be at least 1, got {evaluations}")
    image = init.detach().clone().contiguous().requires_grad_(True)
    losses: list[float] = []
    snapshots: dict[int, torch.Tensor] = {}
    wanted = set(snapshot_at)

    def objective() -> torch.Tensor:
        features = extractor(image)
        loss = image.new_zeros(())
        if style is not None:
            loss = loss + beta * style(features)
        if content is not None:
            loss = loss + alpha * content(features)
        if tv_weight:
            loss = loss + tv_weight * total_variation(image)
        return loss

    bar = tqdm(total=evaluations, desc=f"{optimizer} on pixels", unit="eval", disable=not progress)
    start = time.perf_counter()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        losses.append(float(loss.detach()))
        if len(losses) in wanted:
            snapshots[len(losses)] = image.detach().clamp(0, 1).cpu().clone()
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3g}")
        return loss

    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([image], lr=lr or 1.0, max_iter=evaluations, max_eval=evaluations,
                                history_size=50, tolerance_grad=0.0, tolerance_change=0.0,
                                line_search_fn="strong_wolfe")
        opt.step(closure)  # one call runs up to ``evaluations`` evaluations; it stops early only at a zero gradient
    else:
        opt = torch.optim.Adam([image], lr=lr or 0.02)
        for _ in range(evaluations):
            opt.step(closure)
    bar.close()
    if image.is_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return Synthesis(image.detach().clamp(0, 1), losses, snapshots, seconds, len(losses))


def image_to_tensor(image: np.ndarray, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """An (H, W) or (H, W, 3) float image in [0, 1] as a (1, 3, H, W) tensor, resized if asked.

    ``size`` is the shorter side (int) or an exact (height, width). Gray images get three
    equal channels, since the extractors take RGB.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {array.shape}")
    if array.min() < 0 or array.max() > 1:
        raise ValueError(f"expected values in [0, 1], got [{array.min():.3g}, {array.max():.3g}]")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0)
    if size is not None:
        if isinstance(size, int):
            h, w = tensor.shape[2:]
            scale = size / min(h, w)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
        tensor = F.interpolate(tensor, size=size, mode="bilinear", antialias=True, align_corners=False)
    return tensor.clamp(0, 1).contiguous()


def noise_like(image: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """White noise, uniform in [0, 1], with ``image``'s shape, dtype and device (a synthesis's start)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(image.shape, generator=generator).to(image.device, image.dtype)
