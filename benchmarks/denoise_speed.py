"""DnCNN against BM3D on the held-out photos, whole images (chapter 6).

    python benchmarks/denoise_speed.py [--sigmas 15 25 50] [--threads N] [--checkpoint PATH]

Goal: DnCNN denoises a photo at least 20x faster than BM3D on a CPU. For every held-out
photo and noise level, both methods (and the oracle Gaussian filter) denoise the same seeded
noisy image on the CPU; the script prints PSNR and SSIM per image with their means, the wall
time of each method per image and the speed ratio. DnCNN is warmed up once before timing.
Not a test.
"""

from __future__ import annotations

import argparse
import platform

import torch

from course_utils.data import load_image
from course_utils.denoise import (
    bm3d_denoise,
    evaluate_denoisers,
    psnr_table,
)
from course_utils.dncnn import (
    DEFAULT_CHECKPOINT,
    HELD_OUT_IMAGES,
    denoise,
    load_dncnn,
)


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
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    checkpoint = load_dncnn(args.checkpoint, device="cpu")
    model = checkpoint.model
    images = {
        name: load_image(name, gray=True, verbose=False)
        for name in HELD_OUT_IMAGES
    }
    denoise(
        model, images["camera"][:64, :64]
    )  # warm-up: the first call allocates
    print(
        f"CPU: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}; "
        f"DnCNN D={checkpoint.config.depth}, {checkpoint.config.channels} channels"
    )
    results = evaluate_denoisers(
        images,
        args.sigmas,
        {
            "BM3D": bm3d_denoise,
            "DnCNN": lambda noisy, sigma: denoise(model, noisy),
        },
    )

    print("\nPSNR (dB)")
    print(psnr_table(results).round(2).to_string())
    print("\nSSIM")
    print(psnr_table(results, "ssim").round(3).to_string())
    seconds = results.pivot_table(
        index=["image", "sigma"],
        columns="method",
        values="seconds",
        sort=False,
    )
    seconds["speed-up"] = seconds["BM3D"] / seconds["DnCNN"]
    print("\nseconds per image")
    print(seconds[["BM3D", "DnCNN", "speed-up"]].round(3).to_string())
    sizes = {
        name: "x".join(map(str, image.shape))
        for name, image in images.items()
    }
    print(f"\nimage sizes: {sizes}")
    print(
        f"total: BM3D {seconds['BM3D'].sum():.1f} s, DnCNN {seconds['DnCNN'].sum():.2f} s; "
        f"speed-up per image min {seconds['speed-up'].min():.0f}x, median {seconds['speed-up'].median():.0f}x "
        f"(goal: at least 20x)"
    )


if __name__ == "__main__":
    main()
