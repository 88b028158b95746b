"""Classical denoisers and a side-by-side evaluation on held-out photos
(chapter 6).

Every method is a function ``(noisy, sigma) -> estimate`` on gray-scale (H,
W) arrays in [0, 1], with ``sigma`` on the 0-255 scale.
:func:`evaluate_denoisers` adds seeded Gaussian noise to each clean image at
each sigma, runs every method on the *same* noisy image, and tabulates PSNR
and SSIM (scikit-image's) and the wall time.

- :func:`best_gaussian_filter`: a Gaussian blur whose width is chosen, per
  image, by PSNR against the clean image. It is an oracle, so it flatters
  the filter.
- :func:`bm3d_denoise`: BM3D (Dabov et al., 2007) from the ``bm3d`` package,
  the classical method DnCNN was compared with.
- :func:`denoise_image`: a trained DnCNN or FFDNet on one whole image, run
  the fast way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.dncnn import fold_batch_norm
from course_utils.ffdnet import FFDNet
from course_utils.noise import noisy_version

Denoiser = Callable[[np.ndarray, float], np.ndarray]
GAUSSIAN_WIDTHS = tuple(np.round(np.arange(0.4, 3.01, 0.1), 2))


def best_gaussian_filter(
    noisy: np.ndarray,
    clean: np.ndarray,
    widths: Sequence[float] = GAUSSIAN_WIDTHS,
) -> tuple[np.ndarray, float]:
    """The Gaussian blur of ``noisy`` with the highest PSNR against
    ``clean``, and its width in pixels."""
    from scipy.ndimage import gaussian_filter
    from skimage.metrics import peak_signal_noise_ratio

    best = max(
        widths,
        key=lambda w: peak_signal_noise_ratio(
            clean, gaussian_filter(noisy, w), data_range=1.0
        ),
    )
    return gaussian_filter(noisy, best), float(best)


def _oracle_estimate(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    return best_gaussian_filter(noisy, clean)[0]


def bm3d_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D with the noise's standard deviation known (``sigma`` on the
    0-255 scale)."""
    try:
        import bm3d
    except ImportError as error:
        raise ImportError(
            "BM3D needs the `bm3d` package (it is in requirements.txt): "
            "pip install bm3d"
        ) from error
    if noisy.ndim != 2:
        raise ValueError(
            "bm3d_denoise expects one gray-scale (H, W) image, got shape "
            f"{noisy.shape}"
        )
    return np.asarray(
        bm3d.bm3d(noisy, sigma_psd=sigma / 255.0), dtype=np.float32
    )


@torch.inference_mode()
def denoise_image(
    model: nn.Module,
    noisy: np.ndarray,
    sigma: float | None = None,
    bf16: bool = False,
) -> np.ndarray:
    """Denoise one gray-scale (H, W) image with a trained DnCNN or FFDNet on
    the model's device.

    Runs an inference copy of the model: batch normalization folded into the
    convolutions (:func:`~course_utils.dncnn.fold_batch_norm`) and the
    channels-last memory layout. On two CPU cores these took a 512 x 512
    image from 1.5 s to 0.75 s with the shipped DnCNN (same results).

    Args:
        model: a trained :class:`~course_utils.dncnn.DnCNN` or
            :class:`~course_utils.ffdnet.FFDNet` (left unchanged).
        noisy: the noisy image, ``(H, W)`` in [0, 1].
        sigma: the noise level on the 0-255 scale; FFDNet needs it, a blind
            DnCNN ignores it. Default: ``None``.
        bf16: run the convolutions in bfloat16 (``torch.autocast``), faster
            on GPUs and on CPUs with fast bfloat16 arithmetic; the result is
            float32. Default: ``False``.

    Returns:
        The denoised image, float32 ``(H, W)``, not clipped.

    Raises:
        ValueError: if ``noisy`` is not 2-D, or ``model`` is an FFDNet and
            ``sigma`` is missing.
    """
    if noisy.ndim != 2:
        raise ValueError(
            "denoise_image expects one gray-scale image of shape (H, W), "
            f"got {noisy.shape}"
        )
    if isinstance(model, FFDNet) and sigma is None:
        raise ValueError(
            "FFDNet is told the noise level: pass sigma (0-255 scale)"
        )
    device = next(model.parameters()).device
    inference_model = fold_batch_norm(model).to(
        memory_format=torch.channels_last
    )
    image = torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32))[
        None, None
    ].to(device)
    image = image.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        estimate = (
            inference_model(image, sigma)
            if isinstance(model, FFDNet)
            else inference_model(image)
        )
    return estimate[0, 0].float().cpu().numpy()


def evaluate_denoisers(
    images: Mapping[str, np.ndarray],
    sigmas: Sequence[float],
    denoisers: Mapping[str, Denoiser],
    seed: int = 0,
    progress: bool = True,
):
    """A ``pandas.DataFrame`` with one row per image, sigma and method:
    psnr, ssim, seconds.

    The noisy input itself is the row with method ``"noisy"``; ``"gaussian
    (oracle)"`` is always added. Noise is seeded by ``seed``, the image's
    position and sigma.

    Args:
        images: clean gray-scale images by name, each ``(H, W)`` in [0, 1].
        sigmas: noise standard deviations on the 0-255 scale.
        denoisers: methods by name, each ``(noisy, sigma) -> estimate`` with
            ``noisy`` and ``estimate`` float32 ``(H, W)`` and ``sigma`` on
            the 0-255 scale.
        seed: base seed of the noise; the same seed gives the same noisy
            images. Default: 0.
        progress: show a progress bar over the (image, sigma) pairs.
            Default: ``True``.

    Returns:
        A ``pandas.DataFrame`` with columns ``image``, ``sigma``,
        ``method``, ``psnr`` (dB), ``ssim`` and ``seconds`` (wall time of
        the method on one image), one row per image, sigma and method, in
        that order.

    Raises:
        ValueError: if an image is not 2-D or a method returns an estimate
            of another shape.
    """
    import pandas as pd
    from skimage.metrics import (
        peak_signal_noise_ratio,
        structural_similarity,
    )

    rows = []
    jobs = [
        (i, name, sigma)
        for i, name in enumerate(images)
        for sigma in sigmas
    ]
    for index, name, sigma in tqdm(
        jobs, desc="evaluating", unit="image", disable=not progress
    ):
        clean = np.asarray(images[name], dtype=np.float32)
        if clean.ndim != 2:
            raise ValueError(
                f"image {name!r} must be gray-scale (H, W), got shape "
                f"{clean.shape}"
            )
        noisy = noisy_version(
            clean,
            sigma,
            seed=seed * 1_000_003 + index * 1_000 + int(round(sigma)),
        )
        # each method is timed alone, with this image's arguments bound
        methods: dict[str, Callable[[], np.ndarray]] = {
            "noisy": partial(np.asarray, noisy),
            "gaussian (oracle)": partial(_oracle_estimate, noisy, clean),
            **{
                method: partial(denoiser, noisy, sigma)
                for method, denoiser in denoisers.items()
            },
        }
        for method, run in methods.items():
            start = time.perf_counter()
            estimate = np.asarray(run(), dtype=np.float32)
            seconds = time.perf_counter() - start
            if estimate.shape != clean.shape:
                raise ValueError(
                    f"{method} returned shape {estimate.shape} for a "
                    f"{clean.shape} image"
                )
            rows.append(
                {
                    "image": name,
                    "sigma": sigma,
                    "method": method,
                    "psnr": peak_signal_noise_ratio(
                        clean, estimate, data_range=1.0
                    ),
                    "ssim": structural_similarity(
                        clean,
                        estimate,
                        data_range=1.0,
                        gaussian_weights=True,
                        sigma=1.5,
                        use_sample_covariance=False,
                    ),
                    "seconds": seconds,
                }
            )
    return pd.DataFrame(rows)


def psnr_table(results, value: str = "psnr"):
    """Pivot :func:`evaluate_denoisers` rows into image x (sigma,
    method), with a mean row."""
    table = results.pivot_table(
        index="image", columns=["sigma", "method"], values=value, sort=False
    )
    table.loc["mean"] = table.mean()
    return table
