"""Optimizing the pixels of an image against the losses of
:mod:`course_utils.style` (chapter 7).

:func:`synthesize` starts from an image (white noise from
:func:`noise_like`, or the content photo) and runs L-BFGS or Adam on its
pixels; :func:`image_to_tensor` brings photos into the (1, 3, H, W) layout
the extractors of :mod:`course_utils.features` take.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.features import check_images
from course_utils.style import ContentLoss, StyleLoss, total_variation


@dataclass
class Synthesis:
    """The result of :func:`synthesize`: final image in [0, 1], loss per
    evaluation, snapshots."""

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
    """Minimize the weighted losses over the pixels of an image.

    Shown in :doc:`/book/07_style_transfer/style_transfer`,
    section "Texture synthesis".

    The objective is

    .. math::

        \\alpha E_\\text{content} + \\beta E_\\text{style}
        + \\lambda_{TV} TV.

    ``evaluations`` counts loss-and-gradient evaluations, the fair unit
    between L-BFGS (which evaluates several times per step) and Adam (once
    per step). L-BFGS uses a strong-Wolfe line search: with fixed unit
    steps it stalled on some textures and left saturated speckles on
    others. The pixels are optimized unconstrained and clipped to [0, 1] in
    the returned image and snapshots.

    Args:
        extractor: maps images ``(B, 3, H, W)`` to the ``dict`` of feature
            maps that the losses read
            (:class:`~course_utils.features.VGGFeatures`,
            :class:`~course_utils.features.RandomMultiScaleFeatures`).
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
            :func:`~course_utils.style.total_variation`; 0 leaves it out.
            Default: 0.0.
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
    check_images(init, "init")
    if style is None and content is None:
        raise ValueError(
            "synthesize needs a style loss, a content loss, or both"
        )
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(
            f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}"
        )
    if evaluations < 1:
        raise ValueError(
            f"evaluations must be at least 1, got {evaluations}"
        )
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

    bar = tqdm(
        total=evaluations,
        desc=f"{optimizer} on pixels",
        unit="eval",
        disable=not progress,
    )
    start = time.perf_counter()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        losses.append(float(loss.detach()))
        if len(losses) in wanted:
            snapshot = image.detach().clamp(0, 1)
            snapshots[len(losses)] = snapshot.cpu().clone()
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3g}")
        return loss

    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            [image],
            lr=lr or 1.0,
            max_iter=evaluations,
            max_eval=evaluations,
            history_size=50,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
        # one call runs up to ``evaluations`` evaluations; it stops early
        # only at a zero gradient
        opt.step(closure)
    else:
        opt = torch.optim.Adam([image], lr=lr or 0.02)
        for _ in range(evaluations):
            opt.step(closure)
    bar.close()
    if image.is_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    final = image.detach().clamp(0, 1)
    return Synthesis(final, losses, snapshots, seconds, len(losses))


def image_to_tensor(
    image: np.ndarray, size: int | tuple[int, int] | None = None
) -> torch.Tensor:
    """An (H, W) or (H, W, 3) float image in [0, 1] as a (1, 3, H, W)
    tensor, resized if asked.

    ``size`` is the shorter side (int) or an exact (height, width). Gray
    images get three equal channels, since the extractors take RGB.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            "expected an (H, W) or (H, W, 3) image, got shape "
            f"{array.shape}"
        )
    if array.min() < 0 or array.max() > 1:
        raise ValueError(
            f"expected values in [0, 1], got [{array.min():.3g}, "
            f"{array.max():.3g}]"
        )
    tensor = (
        torch.from_numpy(np.ascontiguousarray(array))
        .permute(2, 0, 1)
        .unsqueeze(0)
    )
    if size is not None:
        if isinstance(size, int):
            h, w = tensor.shape[2:]
            scale = size / min(h, w)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
        tensor = F.interpolate(
            tensor,
            size=size,
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
    return tensor.clamp(0, 1).contiguous()


def noise_like(image: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """White noise, uniform in [0, 1], with ``image``'s shape, dtype and
    device (a synthesis's start)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(image.shape, generator=generator).to(
        image.device, image.dtype
    )
