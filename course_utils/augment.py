"""Label-preserving data augmentation, at training and at test time (chapter
8).

Every training transform takes a batch of images (N, C, H, W), draws its own
random parameters for each image from an optional ``torch.Generator`` (so a
seeded run repeats), and returns a batch of the same shape, dtype and
device. Regions that move in from outside the frame are filled with zeros,
the background of MNIST digits.

- :func:`random_affine`: a small rotation, scaling and translation (AlexNet
  shifted its crops; digits also tolerate a few degrees of rotation, not a
  mirror image).
- :func:`elastic`: Simard, Steinkraus & Platt's (2003) elastic distortion: a
  random displacement field smoothed by a Gaussian of width ``sigma`` and
  scaled by ``alpha`` pixels.
- :func:`crop_views` and :func:`predict_over_crops`: AlexNet's test-time
  augmentation, the average prediction over corner and centre crops (and
  their mirror images).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

from course_utils.metrics import gaussian_profile


def _check_batch(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = (
            tuple(images.shape)
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise ValueError(
            f"expected a batch of images (N, C, H, W), got {shape}"
        )
    if not images.is_floating_point():
        raise TypeError(
            "expected floating-point images (resampling interpolates), "
            f"got {images.dtype}"
        )


def _uniform(
    n: int,
    low: float,
    high: float,
    like: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    # drawn on the CPU so that one seed gives the same augmentation on
    # every device
    return (
        torch.rand(n, generator=generator, dtype=torch.float64)
        * (high - low)
        + low
    ).to(like)


def _resample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(
        images,
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )


def random_affine(
    images: torch.Tensor,
    degrees: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
    max_shift: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Rotate by U(-degrees, degrees), scale by U(``*scale``) and shift by
    U(-max_shift, max_shift) pixels along each axis, independently for each
    image.

    Args:
        images: (N, C, H, W) floating point.
        degrees: largest rotation angle, in degrees (≥ 0).
        scale: range of the zoom factor (> 0); (1, 1) keeps the size.
        max_shift: largest translation in pixels (≥ 0).
        generator: source of the random parameters.
    Returns:
        (N, C, H, W), bilinearly resampled, zeros outside the original
        frame.
    """
    _check_batch(images)
    if degrees < 0 or max_shift < 0 or not 0 < scale[0] <= scale[1]:
        raise ValueError(
            "expected degrees >= 0, max_shift >= 0 and 0 < scale[0] <= "
            f"scale[1], got degrees={degrees}, max_shift={max_shift}, "
            f"scale={scale}"
        )
    n, _, height, width = images.shape
    angle = _uniform(n, -degrees, degrees, images, generator) * (
        math.pi / 180
    )
    zoom = _uniform(n, scale[0], scale[1], images, generator)
    # normalized [-1, 1] units
    shift_x = _uniform(n, -max_shift, max_shift, images, generator) * (
        2 / width
    )
    shift_y = _uniform(n, -max_shift, max_shift, images, generator) * (
        2 / height
    )
    # affine_grid maps output coordinates to input coordinates: the inverse
    # of the wanted motion
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [
            torch.stack(
                [cos, sin, -(cos * shift_x + sin * shift_y)], dim=1
            ),
            torch.stack(
                [-sin, cos, -(-sin * shift_x + cos * shift_y)], dim=1
            ),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return _resample(images, grid)


def elastic(
    images: torch.Tensor,
    alpha: float = 8.0,
    sigma: float = 3.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Simard et al.'s elastic distortion, a different field for each image.

    Args:
        images: (N, C, H, W) floating point.
        alpha: scale of the displacement in pixels (≥ 0); 0 returns the
            images unchanged.
        sigma: width in pixels of the Gaussian that smooths the random field
            (> 0): small values give noise-like jitter, large ones a gentle
            warp.
        generator: source of the random field.
    Returns:
        (N, C, H, W), bilinearly resampled.
    """
    _check_batch(images)
    if alpha < 0 or sigma <= 0:
        raise ValueError(
            f"expected alpha >= 0 and sigma > 0, got alpha={alpha}, "
            f"sigma={sigma}"
        )
    n, _, height, width = images.shape
    field = (
        torch.rand(
            n * 2,
            1,
            height,
            width,
            generator=generator,
            dtype=torch.float64,
        ).to(images)
        * 2
        - 1
    )
    # three sigmas each side
    kernel = gaussian_profile(
        2 * max(1, math.ceil(3 * sigma)) + 1, sigma
    ).to(images)
    pad = len(kernel) // 2
    # separable Gaussian smoothing of each displacement component
    field = F.conv2d(
        F.pad(field, (pad, pad, 0, 0), mode="constant"),
        kernel.view(1, 1, 1, -1),
    )
    field = F.conv2d(
        F.pad(field, (0, 0, pad, pad), mode="constant"),
        kernel.view(1, 1, -1, 1),
    )
    field = field.view(n, 2, height, width) * alpha
    ys = torch.linspace(
        -1 + 1 / height,
        1 - 1 / height,
        height,
        dtype=images.dtype,
        device=images.device,
    )
    xs = torch.linspace(
        -1 + 1 / width,
        1 - 1 / width,
        width,
        dtype=images.dtype,
        device=images.device,
    )
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack(
        [
            grid_x + field[:, 0] * (2 / width),
            grid_y + field[:, 1] * (2 / height),
        ],
        dim=-1,
    )
    return _resample(images, grid)


def crop_views(
    images: torch.Tensor, size: int, flips: bool = True
) -> torch.Tensor:
    """AlexNet's test-time views: the four corner crops and the centre crop
    of ``size`` × ``size``, and, with ``flips``, the same five of the
    mirrored image.

    Returns:
        (V, N, C, size, size) with V = 10 (flips) or 5; views come in
        torchvision's ``five_crop``/``ten_crop`` order.
    """
    if images.ndim != 4:
        raise ValueError(
            "expected a batch of images (N, C, H, W), got "
            f"{tuple(images.shape)}"
        )
    if not 0 < size <= min(images.shape[-2:]):
        raise ValueError(
            "crop size must be between 1 and the image size "
            f"{tuple(images.shape[-2:])}, got {size}"
        )
    views = (
        TF.ten_crop(images, [size, size])
        if flips
        else TF.five_crop(images, [size, size])
    )
    return torch.stack(list(views))


@torch.no_grad()
def predict_over_crops(
    model: nn.Module, images: torch.Tensor, size: int, flips: bool = True
) -> torch.Tensor:
    """Class probabilities (N, K) averaged over :func:`crop_views` (the
    model is put in eval mode).

    Gradients are off, and the model's training flag is restored afterwards.

    Args:
        model: a classifier mapping ``(N, C, size, size)`` images to logits
            ``(N, K)``.
        images: ``(N, C, H, W)`` with ``size`` ≤ H, W, on the model's
            device.
        size: side of the square crops in pixels.
        flips: also average over the mirrored crops (10 views instead of 5).
            Default: ``True``.

    Returns:
        ``(N, K)``, the softmax probabilities averaged over the views.

    Raises:
        ValueError: as :func:`crop_views` raises, for a batch that is not
            4-D or a ``size`` outside 1 .. min(H, W).
    """
    was_training = model.training
    model.eval()
    views = crop_views(images, size, flips)
    probabilities = torch.stack(
        [F.softmax(model(view), dim=1) for view in views]
    ).mean(dim=0)
    model.train(was_training)
    return probabilities
