"""DnCNN and FFDNet against BM3D on the held-out photos, whole images (chapter 6).

    python benchmarks/denoise_speed.py [--sigmas 15 25 50] [--threads N] [--csv PATH]

The goals set for the shipped FFDNet: BM3D's mean PSNR at sigma 25 (within 0.3 dB at 15
and 50), and a photo denoised at least 20x faster on a CPU; the script prints how far
the shipped models are from both. For every held-out photo and noise
level, every method (and the oracle Gaussian filter) denoises the same seeded noisy image
on the CPU; the script prints PSNR and SSIM per image with their means, the wall time of
each method per image and the speed ratios. The networks are warmed up once before timing.
``--csv`` writes every row (image, sigma, method, psnr, ssim, seconds), the table that
chapter 6 shows for whole images. Not a test.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from course_utils.data import load_image
from course_utils.denoise import (
    bm3d_denoise,
    denoise_image,
    evaluate_denoisers,
    psnr_table,
)
from course_utils.denoiser_training import (
    DNCNN_CHECKPOINT,
    FFDNET_CHECKPOINT,
    load_denoiser,
)
from course_utils.patches import HELD_OUT_IMAGES

SPEED_GOAL = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sigmas", type=float, nargs="+", default=[15, 25, 50]
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's)",
    )
    parser.add_argument("--dncnn", default=str(DNCNN_CHECKPOINT))
    parser.add_argument("--ffdnet", default=str(FFDNET_CHECKPOINT))
    parser.add_argument(
        "--csv", type=Path, default=None, help="write the rows here"
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="also run FFDNet in bfloat16 autocast (faster on some CPUs)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    networks = {
        "DnCNN": load_denoiser(args.dncnn, device="cpu"),
        "FFDNet": load_denoiser(args.ffdnet, device="cpu"),
    }
    images = {
        name: load_image(name, gray=True, verbose=False)
        for name in HELD_OUT_IMAGES
    }
    print(
        f"CPU: {platform.processor() or platform.machine()}, "
        f"torch threads {torch.get_num_threads()}"
    )
    for name, checkpoint in networks.items():
        config = checkpoint.config
        print(
            f"{name}: D={config.depth}, {config.channels} channels, "
            f"trained {checkpoint.seconds / 60:.0f} min"
        )
        # warm-up: the first call allocates
        denoise_image(checkpoint.model, images["camera"][:64, :64], 25.0)
    if args.bf16:
        denoise_image(
            networks["FFDNet"].model, images["camera"][:64, :64], 25.0, True
        )
    results = evaluate_denoisers(
        images,
        args.sigmas,
        {
            "BM3D": bm3d_denoise,
            **{
                name: (
                    lambda noisy, sigma, model=checkpoint.model: (
                        denoise_image(model, noisy, sigma)
                    )
                )
                for name, checkpoint in networks.items()
            },
            **(
                {
                    "FFDNet bf16": lambda noisy, sigma: denoise_image(
                        networks["FFDNet"].model, noisy, sigma, bf16=True
                    )
                }
                if args.bf16
                else {}
            ),
        },
    )
    if args.bf16:
        networks["FFDNet bf16"] = networks["FFDNet"]
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        results.round(6).to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")

    print("\nPSNR (dB)")
    print(psnr_table(results).round(2).to_string())
    print("\nSSIM")
    print(psnr_table(results, "ssim").round(3).to_string())
    means = results.groupby(["sigma", "method"])["psnr"].mean().unstack()
    print("\nmean PSNR minus BM3D's (dB)")
    print(
        means[list(networks)]
        .sub(means["BM3D"], axis=0)
        .round(2)
        .to_string()
    )
    seconds = results.pivot_table(
        index=["image", "sigma"],
        columns="method",
        values="seconds",
        sort=False,
    )
    for name in networks:
        seconds[f"{name} speed-up"] = seconds["BM3D"] / seconds[name]
    print("\nseconds per image")
    print(seconds.round(3).to_string())
    sizes = {
        name: "x".join(map(str, image.shape))
        for name, image in images.items()
    }
    print(f"\nimage sizes: {sizes}")
    for name in networks:
        ratio = seconds[f"{name} speed-up"]
        print(
            f"{name}: total {seconds[name].sum():.2f} s (BM3D "
            f"{seconds['BM3D'].sum():.1f} s); speed-up per image min "
            f"{ratio.min():.0f}x, median {ratio.median():.0f}x "
            f"(goal: at least {SPEED_GOAL}x)"
        )


if __name__ == "__main__":
    main()
