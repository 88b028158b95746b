"""Gaussian noise, the one noise convention of chapter 6.

Images are in [0, 1] and ``sigma`` is the noise's standard deviation on the
0-255 scale, as in the DnCNN and BM3D papers: ``sigma = 25`` adds noise of
standard deviation 25/255. The noise is drawn on the CPU from the caller's
generator, so a seed gives the same noisy image on every device. Nothing is
clipped unless asked (the papers do not clip; the chapter's autoencoder on
MNIST digits does, to keep its inputs valid pixel values).
"""

from __future__ import annotations

import numpy as np
import torch


def add_gaussian_noise(
    clean: torch.Tensor,
    sigma: float | torch.Tensor,
    generator: torch.Generator | None = None,
    clip: bool = False,
) -> torch.Tensor:
    """``clean + n`` with :math:`n \\sim N(0, (\\sigma/255)^2)`, on
    ``clean``'s device.

    Args:
        clean: images in [0, 1], any shape; with one sigma per image the
            first dimension is the batch.
        sigma: standard deviation on the 0-255 scale: one number, or one
            per image (shape ``(batch,)``).
        generator: a CPU ``torch.Generator`` for reproducible noise.
            Default: ``None`` (torch's global generator).
        clip: clip the result to [0, 1]. Default: ``False``.

    Returns:
        The noisy images, the shape and device of ``clean``.

    Raises:
        ValueError: if a sigma is negative or their number is not the
            batch size.
    """
    sigma = torch.as_tensor(sigma, dtype=clean.dtype, device=clean.device)
    if torch.any(sigma < 0):
        raise ValueError(
            f"sigma must be non-negative, got {sigma.tolist()}"
        )
    if sigma.ndim == 1:
        if clean.ndim < 2 or sigma.shape[0] != clean.shape[0]:
            raise ValueError(
                f"one sigma per image needs {clean.shape[0]} values, got "
                f"{sigma.shape[0]}"
            )
        sigma = sigma.view(-1, *([1] * (clean.ndim - 1)))
    noise = torch.randn(
        clean.shape, generator=generator, dtype=clean.dtype, device="cpu"
    ).to(clean.device)
    noisy = clean + noise * (sigma / 255.0)
    return noisy.clamp(0, 1) if clip else noisy


def noisy_version(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """``clean`` plus Gaussian noise of standard deviation ``sigma``/255,
    from a seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    return add_gaussian_noise(
        torch.from_numpy(np.asarray(clean, dtype=np.float32)),
        sigma,
        generator,
    ).numpy()
