"""Image-quality measures for image regression: PSNR and a differentiable
SSIM (chapter 6).

Teaching versions, written out so the formulas are visible; the tests check
both against scikit-image (``skimage.metrics``), the reference the chapter's
tables use.

- PSNR :math:`= 10 \\log_{10}(L^2 / \\text{MSE}) = 20 \\log_{10}(L /
  \\sqrt{\\text{MSE}})` dB for data range :math:`L` (1 for images in [0, 1],
  255 for 8-bit). A formula sometimes printed,
  :math:`20\\log(255/\\text{MSE})`, misses the square root.
- SSIM with an 11x11 Gaussian window (:math:`\\sigma = 1.5`), :math:`K_1 =
  0.01`, :math:`K_2 = 0.03`, as in Wang et al. (2004); averaged over the
  positions where the window fits inside the image. It is built from
  convolutions, so ``1 - ssim`` is a training loss.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _as_tensor(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    return (
        image
        if isinstance(image, torch.Tensor)
        else torch.from_numpy(np.asarray(image, dtype=np.float64))
    )


def psnr(
    reference: np.ndarray | torch.Tensor,
    estimate: np.ndarray | torch.Tensor,
    data_range: float = 1.0,
) -> float:
    """Peak signal-to-noise ratio in dB of ``estimate`` against
    ``reference`` (same shape)."""
    reference, estimate = _as_tensor(reference), _as_tensor(estimate)
    if reference.shape != estimate.shape:
        raise ValueError(
            "PSNR needs images of one shape, got "
            f"{tuple(reference.shape)} and {tuple(estimate.shape)}"
        )
    if data_range <= 0:
        raise ValueError(
            "data_range must be positive (1.0 for [0, 1] images, 255 for "
            f"8-bit), got {data_range}"
        )
    mse = float(torch.mean((reference.double() - estimate.double()) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


def gaussian_profile(size: int, sigma: float) -> torch.Tensor:
    """A normalized 1-D Gaussian of ``size`` taps (float64), centred on
    the middle tap (chapters 6 and 8)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    profile = torch.exp(-(coords**2) / (2 * sigma**2))
    return profile / profile.sum()


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """A normalized (size, size) Gaussian window."""
    profile = gaussian_profile(size, sigma)
    return torch.outer(profile, profile)


def ssim(
    reference: torch.Tensor,
    estimate: torch.Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    window_sigma: float = 1.5,
) -> torch.Tensor:
    """Mean SSIM over a batch of (B, C, H, W) images, each channel on its
    own; differentiable.

    Local means, variances and the covariance are Gaussian-weighted averages
    (the population form, as in the paper), and the map is averaged where
    the window fits entirely.

    Args:
        reference: the clean images, ``(B, C, H, W)`` with H and W ≥
            ``window_size``.
        estimate: the images to score, the same shape, dtype and device as
            ``reference``.
        data_range: L, the span of the pixel values (1.0 for [0, 1], 255 for
            8-bit); it sets the constants ``(0.01 L)^2`` and ``(0.03 L)^2``.
            Default: 1.0.
        window_size: side of the square Gaussian window in pixels.
            Default: 11.
        window_sigma: standard deviation of the window in pixels.
            Default: 1.5.

    Returns:
        A 0-dim tensor, the mean SSIM (1 for identical images), with a
        gradient if the inputs require one.

    Raises:
        ValueError: if the shapes differ or are not 4-D, or the images are
            smaller than the window.
    """
    if reference.shape != estimate.shape or reference.ndim != 4:
        raise ValueError(
            "SSIM needs two (batch, channels, height, width) tensors of "
            f"one shape, got {tuple(reference.shape)} and "
            f"{tuple(estimate.shape)}"
        )
    if min(reference.shape[-2:]) < window_size:
        raise ValueError(
            f"images of {tuple(reference.shape[-2:])} pixels are smaller "
            f"than the {window_size}x{window_size} window"
        )
    channels = reference.shape[1]
    window = gaussian_window(window_size, window_sigma).to(reference)
    window = window.expand(channels, 1, window_size, window_size)

    def local_mean(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = local_mean(reference), local_mean(estimate)
    var_x = local_mean(reference * reference) - mu_x**2
    var_y = local_mean(estimate * estimate) - mu_y**2
    cov_xy = local_mean(reference * estimate) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.mean()
