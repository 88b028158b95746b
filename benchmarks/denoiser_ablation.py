"""What moved the needle: DnCNN and FFDNet, float32 and bfloat16, trained
for the same CPU minutes (chapter 6).

    python benchmarks/denoiser_ablation.py [--minutes 6] [--seeds 0 1]
        [--csv course_utils/checkpoints/ablation.csv]

The shipped DnCNN and FFDNet differ in several ways at once (width,
architecture, precision, photos, training time). Here the runs differ in
one or two: DnCNN as in the paper (17 layers of 64 filters, blind) and
FFDNet (15 layers of 64 on a quarter of the pixels, told sigma), each
trained in float32 and in bfloat16 autocast, all on the same photos with the
same schedule (Adam, cosine from 1e-3 to 1e-5 over the run, batches of 32
patches of 64 x 64, sigma uniform in [0, 55]) and the same wall time, once
per seed: a short FFDNet run is still in the unsettled start of training,
where two seeds can end several dB apart, so a single run says little.
Each configuration's iterations are set from timed iterations after a
warm-up so that it lasts ``--minutes``; ``--iterations`` repeats the runs
of a table exactly (the shipped one: ``--iterations 126 108 698 492``, 6
minutes each on the machine that ran it).
The trained models then denoise the five held-out photos with the noise of
``benchmarks/denoise_speed.py`` (the same seeds, so the rows line up with
its BM3D rows). ``--csv`` writes one row per run, image and sigma. Not a
test.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from course_utils.data import center_crop, load_image
from course_utils.denoise import denoise_image, evaluate_denoisers
from course_utils.denoiser_training import DenoiserConfig, train_denoiser
from course_utils.patches import HELD_OUT_IMAGES

#: The runs, by name: what each changes from the defaults below.
VARIANTS = {
    "DnCNN, float32": {"architecture": "dncnn", "depth": 17, "bf16": False},
    "DnCNN, bfloat16": {"architecture": "dncnn", "depth": 17, "bf16": True},
    "FFDNet, float32": {"architecture": "ffdnet", "bf16": False},
    "FFDNet, bfloat16": {"architecture": "ffdnet", "bf16": True},
}
#: What the four runs share.
SHARED = {
    "channels": 64,
    "batch_size": 32,
    "patch_size": 64,
    "learning_rate": 1e-3,
    "final_learning_rate": 1e-5,
}
# the first iterations of a run are slower (memory allocation, kernel
# selection): timing WARM_UP and WARM_UP + TIMED iterations and taking the
# difference leaves them out
WARM_UP, TIMED = 10, 30


def variant_config(
    name: str, iterations: int, seed: int = 0
) -> DenoiserConfig:
    """The :class:`DenoiserConfig` of run ``name`` with ``iterations``."""
    return DenoiserConfig(
        **SHARED, **VARIANTS[name], iterations=iterations, seed=seed
    )


def iterations_for(name: str, minutes: float) -> int:
    """How many iterations of run ``name`` fill ``minutes`` on this
    machine, from timed short runs."""
    seconds = []
    for count in (WARM_UP, WARM_UP + TIMED):
        _, _, taken = train_denoiser(
            variant_config(name, count), log_every=count, progress=False
        )
        seconds.append(taken)
    per_iteration = max(seconds[1] - seconds[0], 1e-9) / TIMED
    return max(1, round(minutes * 60 / per_iteration))


def run_ablation(
    minutes: float,
    sigmas: list[float],
    seeds: Sequence[int] = (0,),
    iterations: list[int] | None = None,
    crop: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train every configuration of :data:`VARIANTS` once per seed and
    evaluate it on the held-out photos: one row per run, image and sigma
    (``variant``, ``seed``, ``iterations``, ``minutes``, ``image``,
    ``sigma``, ``psnr``, ``ssim``)."""
    if iterations is not None and len(iterations) != len(VARIANTS):
        raise ValueError(
            f"--iterations needs one count per configuration "
            f"({len(VARIANTS)}: {', '.join(VARIANTS)}), got "
            f"{len(iterations)}"
        )
    images = {
        name: center_crop(load_image(name, gray=True, verbose=False), crop)
        for name in HELD_OUT_IMAGES
    }
    counts = {
        name: iterations[index]
        if iterations is not None
        else iterations_for(name, minutes)
        for index, name in enumerate(VARIANTS)
    }
    print(
        "iterations: "
        + ", ".join(f"{name} {count}" for name, count in counts.items()),
        flush=True,
    )
    tables = []
    for seed in seeds:
        for name, count in counts.items():
            config = variant_config(name, count, seed)
            # one validation, at the end, as in the timed runs: the curve
            # is not used, and more validations would cost DnCNN (4x the
            # pixels) more minutes than FFDNet
            model, _, seconds = train_denoiser(
                config, log_every=count, progress=progress
            )
            rows = evaluate_denoisers(
                images,
                sigmas,
                {
                    name: lambda noisy, sigma, model=model: denoise_image(
                        model, noisy, sigma
                    )
                },
                progress=False,
            )
            rows = rows[rows.method == name].rename(
                columns={"method": "variant"}
            )
            tables.append(
                rows.drop(columns="seconds").assign(
                    seed=seed,
                    iterations=count,
                    minutes=seconds / 60,
                    bf16=config.bf16,
                    architecture=config.architecture,
                )
            )
    return pd.concat(tables, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes",
        type=float,
        default=6.0,
        help="training wall time of each run, in minutes",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        nargs="+",
        default=None,
        help="iterations of each run, in order (instead of --minutes)",
    )
    parser.add_argument(
        "--sigmas", type=float, nargs="+", default=[15, 25, 50]
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1],
        help="one run of every configuration per seed",
    )
    parser.add_argument(
        "--crop",
        type=int,
        default=None,
        help="evaluate on the central crop of this side (default: whole)",
    )
    parser.add_argument(
        "--csv", type=Path, default=None, help="write the rows here"
    )
    args = parser.parse_args()
    results = run_ablation(
        args.minutes, args.sigmas, args.seeds, args.iterations, args.crop
    )
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        results.round(6).to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    runs = results.groupby(["variant", "seed"], sort=False)
    print(runs[["iterations", "minutes"]].first().round(1).to_string())
    print("\nmean PSNR over the held-out photos (dB), per run")
    means = results.pivot_table(
        index=["variant", "seed"],
        columns="sigma",
        values="psnr",
        sort=False,
    )
    print(means.round(2).to_string())


if __name__ == "__main__":
    main()
