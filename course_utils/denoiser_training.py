"""Training the chapter's denoisers, DnCNN and FFDNet, and their checkpoints
(chapter 6).

Train a model on patches of the photos the chapter does *not* evaluate on::

    python -m course_utils.denoiser_training --architecture ffdnet \\
        --iterations 30000 --out course_utils/checkpoints/ffdnet_gray.pt

The run is seeded and shows a progress bar. Every ``--save-every``
iterations it writes a resumable state next to ``--out`` (``<out>.resume``:
weights, optimizer, schedule, random generators, learning curve, time so
far); the same command run again resumes from it, and a resumed run gives
the same weights as an uninterrupted one. At the end it writes the
checkpoint (weights, configuration, learning curve and how it was trained)
that :func:`load_denoiser` reads back, and removes the resumable state.

A second phase continues from a checkpoint with a schedule of its own
(``--init-from``); its checkpoint keeps every phase's configuration, run
facts and learning curve::

    python -m course_utils.denoiser_training \\
        --init-from course_utils/checkpoints/ffdnet_gray.pt \\
        --patch-size 96 --batch-size 16 --learning-rate 2e-4 \\
        --final-learning-rate 1e-6 --iterations 12000 --seed 1 \\
        --out course_utils/checkpoints/ffdnet_gray.pt
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.dncnn import DnCNN
from course_utils.ffdnet import FFDNet
from course_utils.metrics import psnr
from course_utils.noise import add_gaussian_noise
from course_utils.patches import (
    TRAINING_PHOTOS,
    PatchSampler,
    load_training_images,
)

ARCHITECTURES = ("dncnn", "ffdnet")
CHECKPOINTS = Path(__file__).parent / "checkpoints"
#: The blind DnCNN the course ships: 17 layers of 32 filters, float32, one
#: CPU thread.
DNCNN_CHECKPOINT = CHECKPOINTS / "dncnn_gray_blind.pt"
#: The FFDNet the course ships: 15 layers of 64 filters, bfloat16 autocast,
#: two CPU cores.
FFDNET_CHECKPOINT = CHECKPOINTS / "ffdnet_gray.pt"
#: Both shipped models and BM3D on the five held-out photos, whole, at sigma
#: 15, 25 and 50: the rows of
#: :func:`course_utils.denoise.evaluate_denoisers`, written by ``python
#: benchmarks/denoise_speed.py --csv`` (chapter 6 shows them).
WHOLE_PHOTO_RESULTS = CHECKPOINTS / "whole_photos.csv"
#: DnCNN and FFDNet, float32 and bfloat16, trained for equal minutes and
#: evaluated like :data:`WHOLE_PHOTO_RESULTS`: one row per run, photo and
#: sigma, written by ``python benchmarks/denoiser_ablation.py --csv``
#: (chapter 6 shows them).
ABLATION_RESULTS = CHECKPOINTS / "ablation.csv"
#: The noise level of the validation patches.
VALIDATION_SIGMA = 25.0


@dataclass
class DenoiserConfig:
    """Everything that determines a training run; stored in the checkpoint.

    ``architecture`` is ``"dncnn"`` (blind: it never sees sigma) or
    ``"ffdnet"`` (given sigma). ``bf16`` trains in bfloat16 autocast (the
    weights and the loss stay float32), which is faster on GPUs and on some
    CPUs, and slower on others (chapter 6 times both).
    """

    architecture: str = "ffdnet"
    depth: int = 15
    channels: int = 64
    batch_norm: bool = True
    residual: bool = True
    iterations: int = 30_000
    batch_size: int = 32
    patch_size: int = 64
    sigma_min: float = 0.0
    sigma_max: float = 55.0
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-5
    bf16: bool = True
    channels_last: bool = True
    seed: int = 0
    images: tuple[str, ...] = TRAINING_PHOTOS
    #: a checkpoint to start from (same architecture, depth and width), or
    #: "" for a fresh model
    init_from: str = ""


@dataclass
class TrainingLog:
    """The learning curve: mean training loss and validation PSNR every
    ``every`` iterations.

    A run that continues a checkpoint (``init_from``) extends that
    checkpoint's curve: its iterations count on from the earlier phases',
    ``phase_starts`` holds the iteration at which each phase began, and
    ``earlier`` the earlier phases' configurations and run facts.
    """

    every: int
    iterations: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_psnr: list[float] = field(default_factory=list)
    val_sigma: float = VALIDATION_SIGMA
    phase_starts: list[int] = field(default_factory=lambda: [0])
    earlier: list[dict] = field(default_factory=list)


def build_model(config: DenoiserConfig) -> nn.Module:
    """The untrained network that ``config`` describes."""
    if config.architecture == "dncnn":
        return DnCNN(
            config.depth,
            config.channels,
            batch_norm=config.batch_norm,
            residual=config.residual,
        )
    if config.architecture == "ffdnet":
        if not (config.batch_norm and config.residual):
            raise ValueError(
                "FFDNet is built with batch norm and residual learning only"
            )
        return FFDNet(config.depth, config.channels)
    raise ValueError(
        f"unknown architecture {config.architecture!r}; expected one of "
        f"{ARCHITECTURES}"
    )


def run_model(
    model: nn.Module, noisy: torch.Tensor, sigma: float | torch.Tensor
) -> torch.Tensor:
    """Denoise a batch: FFDNet is told ``sigma`` (0-255 scale), a blind
    DnCNN is not."""
    return (
        model(noisy, sigma) if isinstance(model, FFDNet) else model(noisy)
    )


def _continued_checkpoint(config: DenoiserConfig) -> Checkpoint:
    """The checkpoint ``config.init_from`` names, checked to hold the
    network ``config`` describes."""
    parent = load_denoiser(config.init_from)
    built = ("architecture", "depth", "channels", "batch_norm", "residual")
    if any(
        getattr(parent.config, name) != getattr(config, name)
        for name in built
    ):
        raise ValueError(
            f"{config.init_from} holds a {parent.config.architecture} "
            f"with depth {parent.config.depth}, {parent.config.channels} "
            f"channels, batch_norm {parent.config.batch_norm}, residual "
            f"{parent.config.residual}; the run asks for "
            f"{config.architecture}, {config.depth}, {config.channels}, "
            f"{config.batch_norm}, {config.residual}: continue with the "
            "same network"
        )
    return parent


class _Run:
    """The state of one training run: what a resumable state file holds."""

    def __init__(
        self,
        config: DenoiserConfig,
        device: torch.device,
        log: TrainingLog,
        weights: dict[str, torch.Tensor] | None = None,
    ) -> None:
        if config.iterations < 1 or config.batch_size < 1:
            raise ValueError(
                "iterations and batch_size must be positive, got "
                f"{config.iterations} and {config.batch_size}"
            )
        if not 0 <= config.sigma_min <= config.sigma_max:
            raise ValueError(
                "need 0 <= sigma_min <= sigma_max, got "
                f"{config.sigma_min} and {config.sigma_max}"
            )
        torch.manual_seed(config.seed)
        images = load_training_images(config.images)
        self.sampler = PatchSampler(
            images, config.patch_size, seed=config.seed
        )
        self.noise_generator = torch.Generator().manual_seed(
            config.seed + 1
        )
        self.log = log
        # fixed validation patches: other crops of the training photos, with
        # noise of their own; a continued run keeps its first phase's, so
        # that the curve goes on
        first = (
            _config_from_dict(log.earlier[0]["config"])
            if log.earlier
            else config
        )
        validation_images = (
            images
            if first.images == config.images
            else load_training_images(first.images)
        )
        val_clean = PatchSampler(
            validation_images, first.patch_size, seed=first.seed + 2
        ).sample(64)
        val_noisy = add_gaussian_noise(
            val_clean,
            VALIDATION_SIGMA,
            torch.Generator().manual_seed(first.seed + 3),
        )
        self.val_clean, self.val_noisy = (
            val_clean.to(device),
            val_noisy.to(device),
        )
        self.model = build_model(config).to(device)
        if weights is not None:
            self.model.load_state_dict(weights)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=config.learning_rate
        )
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, config.iterations, config.final_learning_rate
        )
        self.iteration, self.seconds = 0, 0.0
        # the training losses since the last log entry
        self.window: list[float] = []

    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "seconds": self.seconds,
            "log": asdict(self.log),
            "window": self.window,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "sampler_rng": self.sampler.generator.get_state(),
            "noise_rng": self.noise_generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.iteration, self.seconds = state["iteration"], state["seconds"]
        self.log, self.window = (
            TrainingLog(**state["log"]),
            list(state.get("window", [])),
        )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.sampler.generator.set_state(state["sampler_rng"])
        self.noise_generator.set_state(state["noise_rng"])


def _save_atomically(payload: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def train_denoiser(
    config: DenoiserConfig,
    device: torch.device | str = "cpu",
    log_every: int = 100,
    progress: bool = True,
    state_path: Path | None = None,
    save_every: int = 500,
) -> tuple[nn.Module, TrainingLog, float]:
    """Train a denoiser from ``config``; returns the model (eval mode), its
    log and the seconds taken.

    Adam with cosine decay from ``learning_rate`` to
    ``final_learning_rate``; each batch holds fresh patches from
    :class:`~course_utils.patches.PatchSampler` with noise levels drawn
    uniformly from [``sigma_min``, ``sigma_max``]; the loss is the MSE of
    the denoised patch.

    Args:
        config: every setting of the run (model, iterations, batch, noise
            range, precision, seed, images).
        device: where to train (the patches and noise are drawn on the CPU,
            then moved). Default: ``"cpu"``.
        log_every: record the mean training loss and the PSNR on 64 fixed
            validation patches at sigma 25 every this many iterations
            (and at the last); a resumed run keeps the spacing it started
            with. Default: 100.
        progress: show a progress bar. Default: ``True``.
        state_path: a resumable state file: if it exists the run resumes
            from it, and it is rewritten every ``save_every`` iterations.
            Default: ``None`` (no state file).
        save_every: iterations between state files. Default: 500.

    Returns:
        ``(model, log, seconds)``: the trained model in eval mode on
        ``device``, its :class:`TrainingLog` and the training wall time
        in seconds, summed over resumed parts.

    Raises:
        ValueError: if ``iterations`` or ``batch_size`` is below 1, the
            sigma range is not ``0 <= sigma_min <= sigma_max``,
            ``config.images`` names a held-out image, or a state file
            belongs to another configuration.
    """
    device = torch.device(device)
    state = None
    if state_path is not None and Path(state_path).is_file():
        # on the CPU: the generators' states must be CPU tensors;
        # load_state_dict moves the rest
        state = torch.load(
            state_path, map_location="cpu", weights_only=True
        )
        if state["config"] != asdict(config):
            raise ValueError(
                f"{state_path} was written by another configuration: "
                f"{state['config']}; delete it to start this one from "
                "scratch"
            )
    weights = None
    log = TrainingLog(every=log_every)
    # a resumed continuation has its earlier phases in the state (--out may
    # have replaced init_from)
    if state is not None:
        log = TrainingLog(**state["log"])
    elif config.init_from:
        parent = _continued_checkpoint(config)
        weights = parent.model.state_dict()
        earlier = [
            *parent.log.earlier,
            {
                "config": _config_to_dict(parent.config),
                "trained": parent.trained,
            },
        ]
        log = dataclasses.replace(
            parent.log,
            every=log_every,
            iterations=list(parent.log.iterations),
            loss=list(parent.log.loss),
            val_psnr=list(parent.log.val_psnr),
            earlier=earlier,
            phase_starts=[
                *parent.log.phase_starts,
                sum(phase["config"]["iterations"] for phase in earlier),
            ],
        )
    run = _Run(config, device, log, weights)
    if state is not None:
        run.load_state_dict(state)
        # a resumed run keeps the spacing of the curve it started
        log_every = run.log.every
    # iterations of this phase count on from the earlier ones'
    first_logged = run.log.phase_starts[-1]
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if config.bf16
        else contextlib.nullcontext()
    )
    memory_format = (
        torch.channels_last
        if config.channels_last
        else torch.contiguous_format
    )
    model = run.model.train()
    started = time.perf_counter() - run.seconds
    bar = tqdm(
        range(run.iteration + 1, config.iterations + 1),
        desc=config.architecture,
        unit="it",
        disable=not progress,
        initial=run.iteration,
        total=config.iterations,
    )
    for iteration in bar:
        clean = run.sampler.sample(config.batch_size)
        sigma = config.sigma_min + (
            config.sigma_max - config.sigma_min
        ) * torch.rand(config.batch_size, generator=run.noise_generator)
        noisy = add_gaussian_noise(clean, sigma, run.noise_generator)
        clean, noisy = (
            clean.to(device),
            noisy.to(device, memory_format=memory_format),
        )
        with autocast:
            denoised = run_model(model, noisy, sigma.to(device))
        # MSE of the denoised image = RES-MSE of the estimated noise: J -
        # R(J) - I = (J - I) - R(J)
        loss = F.mse_loss(denoised.float(), clean)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.schedule.step()
        run.window.append(float(loss.detach()))
        if iteration % log_every == 0 or iteration == config.iterations:
            model.eval()
            with torch.no_grad():
                val = psnr(
                    run.val_clean,
                    run_model(model, run.val_noisy, VALIDATION_SIGMA).clamp(
                        0, 1
                    ),
                )
            model.train()
            run.log.iterations.append(first_logged + iteration)
            run.log.loss.append(sum(run.window) / len(run.window))
            run.log.val_psnr.append(val)
            run.window = []
            bar.set_postfix(
                loss=f"{run.log.loss[-1]:.2e}", val_psnr=f"{val:.2f} dB"
            )
        run.iteration, run.seconds = (
            iteration,
            time.perf_counter() - started,
        )
        if state_path is not None and (
            iteration % save_every == 0 or iteration == config.iterations
        ):
            _save_atomically(
                {**run.state_dict(), "config": asdict(config)},
                Path(state_path),
            )
    bar.close()
    return (
        model.eval().to(memory_format=torch.contiguous_format),
        run.log,
        run.seconds,
    )


def save_checkpoint(
    path: Path,
    model: nn.Module,
    config: DenoiserConfig,
    log: TrainingLog,
    seconds: float,
    device: torch.device | str,
    command: str,
) -> None:
    """Write a checkpoint that :func:`load_denoiser` reads: weights,
    configuration, log and run facts.

    Args:
        path: the ``.pt`` file to write; missing parent folders are created.
        model: the trained model; its state dict is saved on the CPU.
        config: the run's :class:`DenoiserConfig`.
        log: the run's learning curve.
        seconds: training wall time.
        device: the device it trained on (stored as text).
        command: the command line that trained it, stored so the run can be
            repeated.
    """
    _save_atomically(
        {
            "config": _config_to_dict(config),
            "state_dict": {
                k: v.detach().cpu().contiguous()
                for k, v in model.state_dict().items()
            },
            "log": asdict(log),
            "trained": {
                "seconds": seconds,
                "device": str(device),
                "torch": str(torch.__version__),
                "machine": platform.processor() or platform.machine(),
                "threads": torch.get_num_threads(),
                "command": command,
            },
        },
        Path(path),
    )


@dataclass
class Checkpoint:
    """A trained denoiser with the facts of its training run."""

    model: nn.Module
    config: DenoiserConfig
    log: TrainingLog
    trained: dict

    @property
    def phases(self) -> list[tuple[DenoiserConfig, dict]]:
        """``(configuration, run facts)`` of every training phase, first
        to last (this one)."""
        earlier = [
            (_config_from_dict(phase["config"]), phase["trained"])
            for phase in self.log.earlier
        ]
        return [*earlier, (self.config, self.trained)]

    @property
    def seconds(self) -> float:
        """Training wall time summed over the phases."""
        return sum(trained["seconds"] for _, trained in self.phases)

    @property
    def patches(self) -> int:
        """Training patches seen, summed over the phases."""
        return sum(
            config.iterations * config.batch_size
            for config, _ in self.phases
        )

    @property
    def pixels(self) -> int:
        """Training pixels seen (patches times their area), summed over
        the phases."""
        return sum(
            config.iterations * config.batch_size * config.patch_size**2
            for config, _ in self.phases
        )


def _config_to_dict(config: DenoiserConfig) -> dict:
    return {**asdict(config), "images": list(config.images)}


def _config_from_dict(stored: dict) -> DenoiserConfig:
    known = {f.name for f in fields(DenoiserConfig)}
    stored = {key: value for key, value in stored.items() if key in known}
    # checkpoints from before FFDNet: a DnCNN trained in float32
    stored.setdefault("architecture", "dncnn")
    stored.setdefault("final_learning_rate", stored["learning_rate"] / 100)
    stored.setdefault("bf16", False)
    stored.setdefault("channels_last", False)
    return DenoiserConfig(**{**stored, "images": tuple(stored["images"])})


def load_denoiser(
    path: Path | str, device: torch.device | str = "cpu"
) -> Checkpoint:
    """Read a checkpoint written by ``python -m
    course_utils.denoiser_training``; the model is in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no denoiser checkpoint at {path}; train one with `python -m "
            f"course_utils.denoiser_training --out {path}`"
        )
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = _config_from_dict(saved["config"])
    model = build_model(config)
    model.load_state_dict(saved["state_dict"])
    return Checkpoint(
        model.to(device).eval(),
        config,
        TrainingLog(**saved["log"]),
        saved["trained"],
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m course_utils.denoiser_training``
    (defaults from :class:`DenoiserConfig`)."""
    defaults = DenoiserConfig()
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.denoiser_training",
        description="Train a gray-scale DnCNN or FFDNet on patches of "
        "the photos installed packages ship.",
    )
    parser.add_argument(
        "--architecture",
        choices=ARCHITECTURES,
        default=defaults.architecture,
    )
    parser.add_argument(
        "--depth", type=int, default=defaults.depth, help="conv layers"
    )
    parser.add_argument(
        "--channels",
        type=int,
        default=defaults.channels,
        help="filters per hidden layer",
    )
    parser.add_argument(
        "--iterations", type=int, default=defaults.iterations
    )
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size
    )
    parser.add_argument(
        "--patch-size", type=int, default=defaults.patch_size
    )
    parser.add_argument(
        "--sigma-max",
        type=float,
        default=defaults.sigma_max,
        help="noise levels are drawn uniformly from [0, sigma-max] on "
        "the 0-255 scale",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=defaults.learning_rate
    )
    parser.add_argument(
        "--final-learning-rate",
        type=float,
        default=defaults.final_learning_rate,
    )
    parser.add_argument(
        "--float32",
        action="store_true",
        help="train in float32 instead of bfloat16 autocast",
    )
    parser.add_argument(
        "--no-channels-last",
        action="store_true",
        help="keep the feature maps in the default (channels-first) layout",
    )
    parser.add_argument(
        "--images",
        nargs="+",
        default=list(defaults.images),
        metavar="NAME",
        help="training photos (course_utils.data names; the held-out "
        "five are refused)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="continue from this checkpoint's weights with the schedule "
        "given here (a new phase)",
    )
    parser.add_argument("--log-every", type=int, default=250)
    parser.add_argument(
        "--save-every",
        type=int,
        default=500,
        help="iterations between resumable states",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, ... (default: course_utils.device)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="where to write the checkpoint",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> DenoiserConfig:
    """The :class:`DenoiserConfig` that parsed command-line arguments
    ask for."""
    return DenoiserConfig(
        architecture=args.architecture,
        depth=args.depth,
        channels=args.channels,
        iterations=args.iterations,
        batch_size=args.batch_size,
        patch_size=args.patch_size,
        sigma_max=args.sigma_max,
        learning_rate=args.learning_rate,
        final_learning_rate=args.final_learning_rate,
        bf16=not args.float32,
        channels_last=not args.no_channels_last,
        seed=args.seed,
        images=tuple(args.images),
        init_from=str(args.init_from) if args.init_from else "",
    )


def main(argv: list[str] | None = None) -> int:
    """Train a denoiser from the command line and save its checkpoint;
    returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from course_utils.device import get_device

    device = torch.device(args.device) if args.device else get_device()
    config = config_from_args(args)
    state_path = args.out.with_name(args.out.name + ".resume")
    resuming = (
        "resuming from " + str(state_path)
        if state_path.is_file()
        else "from scratch"
    )
    print(
        f"Training {config.architecture} (D={config.depth}, "
        f"{config.channels} channels) on {len(config.images)} photos, "
        f"sigma in [0, {config.sigma_max:g}], {config.iterations} "
        f"iterations of {config.batch_size} patches "
        f"{config.patch_size}x{config.patch_size}, "
        f"{'bfloat16' if config.bf16 else 'float32'}, device {device}, "
        f"{resuming}"
        + (f", continuing {config.init_from}" if config.init_from else "")
    )
    model, log, seconds = train_denoiser(
        config,
        device,
        log_every=args.log_every,
        state_path=state_path,
        save_every=args.save_every,
    )
    command = "python -m course_utils.denoiser_training " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    save_checkpoint(args.out, model, config, log, seconds, device, command)
    # the checkpoint holds all of it now; a later phase written to the same
    # --out starts clean
    state_path.unlink(missing_ok=True)
    print(
        f"Trained in {seconds / 60:.1f} min; validation PSNR at sigma "
        f"{VALIDATION_SIGMA:g}: {log.val_psnr[-1]:.2f} dB; wrote "
        f"{args.out} ({args.out.stat().st_size / 1e6:.1f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
