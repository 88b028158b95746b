"""DnCNN, the residual denoiser of Zhang et al. (2017), and its training script (chapter 6).

The architecture: ``depth`` layers of 3x3 convolutions with ``channels`` filters,
ReLU, no pooling; batch normalization in layers 2 .. depth-1; and *residual learning*: the
layers estimate the noise :math:`R(J) \\approx J - I` and the denoiser returns
:math:`J - R(J)`. With depth :math:`D` the receptive field is :math:`(2D+1)^2` pixels.

Train the gray-scale blind model (one network for every noise level in ``--sigma-max``)
on patches of the ``skimage.data`` photos that the chapter does *not* evaluate on::

    python -m course_utils.dncnn --iterations 6000 --out course_utils/checkpoints/dncnn_gray_blind.pt

The run is seeded, shows a progress bar and writes a checkpoint (weights, configuration,
learning curve and how it was trained) that :func:`load_dncnn` reads back.
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from tqdm.auto import tqdm

from course_utils.conv import receptive_field as conv_receptive_field
from course_utils.metrics import psnr

#: The chapter's test images, never used for training (``cat`` is the same photo as ``chelsea``).
HELD_OUT_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "coins")
#: Real photos and textures shipped by scikit-image that the shipped model was trained on.
TRAINING_IMAGES = (
    "brick", "grass", "gravel", "moon", "page", "text", "clock", "rocket", "cell",
    "hubble_deep_field", "immunohistochemistry", "retina", "microaneurysms",
)
DEFAULT_CHECKPOINT = Path(__file__).parent / "checkpoints" / "dncnn_gray_blind.pt"


def receptive_field(depth: int, kernel_size: int = 3) -> int:
    """Side of the receptive field of ``depth`` stacked stride-1 convolutions: 2D+1 for 3x3."""
    if depth < 1 or kernel_size < 1:
        raise ValueError(f"depth and kernel_size must be positive, got depth={depth}, kernel_size={kernel_size}")
    return conv_receptive_field([(kernel_size, 1)] * depth)


class DnCNN(nn.Module):
    """Denoising CNN: ``forward`` returns the denoised image, :meth:`noise` the estimated residual.

    ``batch_norm`` and ``residual`` switch off the paper's two ideas for the ablation: without
    ``residual`` the same layers must output the clean image directly.

    Args:
        depth: D, the number of 3x3 conv layers (≥ 3): conv-ReLU, D - 2
            times conv-BN-ReLU, conv. Default: 17 (the paper's gray-scale
            model).
        channels: filters in every layer but the last. Default: 64.
        image_channels: channels of the input and output images
            (1 grey, 3 colour). Default: 1.
        batch_norm: batch normalization in layers 2 .. D-1 (their convs then
            have no bias). Default: ``True``.
        residual: the layers estimate the noise and ``forward`` subtracts it
            from the input; ``False``: they output the clean image.
            Default: ``True``.

    Raises:
        ValueError: if ``depth`` < 3 or a channel count is below 1.

    Shape:
        - Input: ``(N, image_channels, H, W)``, noisy images in [0, 1]
          (any H and W).
        - Output: ``(N, image_channels, H, W)``, the denoised images
          (not clipped).
    """

    def __init__(self, depth: int = 17, channels: int = 64, image_channels: int = 1,
                 batch_norm: bool = True, residual: bool = True) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(f"DnCNN needs at least 3 layers (first, middle, last), got depth={depth}")
        if channels < 1 or image_channels < 1:
            raise ValueError(f"channels and image_channels must be positive, got {channels} and {image_channels}")
        self.depth, self.residual = depth, residual
        layers: list[nn.Module] = [nn.Conv2d(image_channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            # a conv followed by BN needs no bias: BN's shift replaces it
            layers.append(nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(channels))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(channels, image_channels, 3, padding=1))
        self.layers = nn.Sequential(*layers)
        self._initialize()

    def _initialize(self) -> None:
        convs = [m for m in self.layers if isinstance(m, nn.Conv2d)]
        for conv in convs[:-1]:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        # A zero output layer makes the untrained residual model the identity (it returns the noisy
        # input), so training starts at the noisy image's PSNR instead of far below it; on the
        # 17-layer model this reached 28 dB at sigma 25 in 150 iterations, He init 21 dB.
        nn.init.zeros_(convs[-1].weight)
        for conv in convs:
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    def noise(self, noisy: torch.Tensor) -> torch.Tensor:
        """The estimated noise :math:`R(J)`; only meaningful for a residual model."""
        if not self.residual:
            raise RuntimeError("this DnCNN was built with residual=False: its layers estimate the clean image")
        return self.layers(noisy)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        if noisy.ndim != 4:
            raise ValueError(f"DnCNN expects images of shape (batch, channels, height, width), got {tuple(noisy.shape)}")
        out = self.layers(noisy)
        return noisy - out if self.residual else out


def add_gaussian_noise(clean: torch.Tensor, sigma: float | torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """``clean + n`` with :math:`n \\sim N(0, (\\sigma/255)^2)`: images in [0, 1], ``sigma`` on the 0-255 scale.

    ``sigma`` may be one number or one per image, shape (batch,). Nothing is clipped, as in
    the DnCNN and BM3D papers.
    """
    sigma = torch.as_tensor(sigma, dtype=clean.dtype, device=clean.device)
    if torch.any(sigma < 0):
        raise ValueError(f"sigma must be non-negative, got {sigma.tolist()}")
    if sigma.ndim == 1:
        if clean.ndim < 2 or sigma.shape[0] != clean.shape[0]:
            raise ValueError(f"one sigma per image needs {clean.shape[0]} values, got {sigma.shape[0]}")
        sigma = sigma.view(-1, *([1] * (clean.ndim - 1)))
    noise = torch.randn(clean.shape, generator=generator, dtype=clean.dtype, device="cpu").to(clean.device)
    return clean + noise * (sigma / 255.0)


class PatchSampler:
    """Random training patches: a random image and scale, a random crop, one of the 8 flips/rotations.

    Images are (H, W) arrays in [0, 1]. Each image is picked with probability proportional to
    its area, so every pixel is equally likely to be seen.

    Args:
        images: gray-scale training images, each an ``(H, W)`` array in
            [0, 1].
        patch_size: side of the square patches in pixels. Default: 40
            (the paper's).
        scales: resize factors of the image pyramid (antialiased bilinear);
            a scaled image smaller than a patch is left out.
            Default: ``(1.0, 0.9, 0.8, 0.7)``.
        seed: seed of the sampler's own ``torch.Generator``. Default: 0.

    Raises:
        ValueError: if ``images`` is empty, an image is not 2-D, or no
            scaled image holds a patch.
    """

    def __init__(self, images: list[np.ndarray], patch_size: int = 40,
                 scales: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7), seed: int = 0) -> None:
        if not images:
            raise ValueError("PatchSampler needs at least one training image")
        self.patch_size = patch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.pyramid: list[torch.Tensor] = []
        for image in images:
            if image.ndim != 2:
                raise ValueError(f"training images must be gray-scale (H, W), got shape {image.shape}")
            tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
            for scale in scales:
                size = (round(tensor.shape[-2] * scale), round(tensor.shape[-1] * scale))
                if min(size) < patch_size:
                    continue
                resized = tensor if scale == 1.0 else F.interpolate(
                    tensor, size=size, mode="bilinear", antialias=True, align_corners=False)
                self.pyramid.append(resized[0, 0].clamp(0, 1))
        if not self.pyramid:
            raise ValueError(f"every training image is smaller than the {patch_size}-pixel patch size")
        areas = torch.tensor([float(p.numel()) for p in self.pyramid])
        self.weights = areas / areas.sum()

    def sample(self, count: int) -> torch.Tensor:
        """``count`` patches of shape (count, 1, patch_size, patch_size)."""
        p = self.patch_size
        picks = torch.multinomial(self.weights, count, replacement=True, generator=self.generator)
        patches = []
        for index in picks.tolist():
            image = self.pyramid[index]
            top = int(torch.randint(image.shape[0] - p + 1, (1,), generator=self.generator))
            left = int(torch.randint(image.shape[1] - p + 1, (1,), generator=self.generator))
            patch = image[top:top + p, left:left + p]
            turns, flip = (int(v) for v in torch.randint(4, (2,), generator=self.generator))
            patch = torch.rot90(patch, turns)
            patches.append(patch.flip(1) if flip % 2 else patch)
        return torch.stack(patches)[:, None].contiguous()


def load_training_images(names: tuple[str, ...] = TRAINING_IMAGES) -> list[np.ndarray]:
    """The training photos as gray-scale float arrays; refuses any held-out image."""
    from course_utils.data import load_image

    overlap = set(names) & {*HELD_OUT_IMAGES, "cat"}
    if overlap:
        raise ValueError(f"{sorted(overlap)} are held out for evaluation and must not be trained on")
    return [load_image(name, gray=True, verbose=False) for name in names]


@dataclass
class TrainingConfig:
    """Everything that determines a training run; stored in the checkpoint."""

    depth: int = 17
    channels: int = 64
    batch_norm: bool = True
    residual: bool = True
    iterations: int = 6000
    batch_size: int = 32
    patch_size: int = 40
    sigma_min: float = 0.0
    sigma_max: float = 55.0
    learning_rate: float = 1e-3
    seed: int = 0
    images: tuple[str, ...] = TRAINING_IMAGES


@dataclass
class TrainingLog:
    """The learning curve: mean training loss and validation PSNR every ``every`` iterations."""

    every: int
    iterations: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_psnr: list[float] = field(default_factory=list)
    val_sigma: float = 25.0


def train_dncnn(config: TrainingConfig, device: torch.device | str = "cpu", log_every: int = 100,
                progress: bool = True) -> tuple[DnCNN, TrainingLog, float]:
    """Train a blind DnCNN from ``config``; returns the model (eval mode), its log and the seconds taken.

    Adam with cosine decay to 1% of the learning rate; each batch holds fresh patches from
    :class:`PatchSampler` with noise levels drawn uniformly from
    [``sigma_min``, ``sigma_max``]; the loss is the MSE of the denoised patch.

    Args:
        config: every setting of the run (model, iterations, batch, noise
            range, seed, images).
        device: where to train (the patches and noise are drawn on the CPU,
            then moved). Default: ``"cpu"``.
        log_every: record the mean training loss and the PSNR on 64 fixed
            validation patches at sigma 25 every this many iterations
            (and at the last). Default: 100.
        progress: show a progress bar. Default: ``True``.

    Returns:
        ``(model, log, seconds)``, the trained :class:`DnCNN` in eval mode
        on ``device``, its :class:`TrainingLog` and the wall time in
        seconds.

    Raises:
        ValueError: if ``iterations`` or ``batch_size`` is below 1, the
            sigma range is not ``0 <= sigma_min <= sigma_max``, or
            ``config.images`` names a held-out image.
    """
    if config.iterations < 1 or config.batch_size < 1:
        raise ValueError(f"iterations and batch_size must be positive, got {config.iterations} and {config.batch_size}")
    if not 0 <= config.sigma_min <= config.sigma_max:
        raise ValueError(f"need 0 <= sigma_min <= sigma_max, got {config.sigma_min} and {config.sigma_max}")
    device = torch.device(device)
    torch.manual_seed(config.seed)
    images = load_training_images(config.images)
    sampler = PatchSampler(images, config.patch_size, seed=config.seed)
    noise_generator = torch.Generator().manual_seed(config.seed + 1)
    # fixed validation patches: other crops of the training photos, with noise of their own
    val_clean = PatchSampler(images, config.patch_size, seed=config.seed + 2).sample(64)
    log = TrainingLog(every=log_every)
    val_noisy = add_gaussian_noise(val_clean, log.val_sigma, torch.Generator().manual_seed(config.seed + 3))
    val_clean, val_noisy = val_clean.to(device), val_noisy.to(device)

    model = DnCNN(config.depth, config.channels, batch_norm=config.batch_norm, residual=config.residual).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    # cosine decay to 1% of the initial rate over the run
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.iterations, config.learning_rate / 100)
    start, window = time.perf_counter(), []
    bar = tqdm(range(1, config.iterations + 1), desc="DnCNN", unit="it", disable=not progress)
    for iteration in bar:
        clean = sampler.sample(config.batch_size)
        sigma = config.sigma_min + (config.sigma_max - config.sigma_min) * torch.rand(
            config.batch_size, generator=noise_generator)
        noisy = add_gaussian_noise(clean, sigma, noise_generator)
        clean, noisy = clean.to(device), noisy.to(device)
        # MSE of the denoised image = RES-MSE of the estimated noise: J - R(J) - I = (J - I) - R(J)
        loss = F.mse_loss(model(noisy), clean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        window.append(float(loss.detach()))
        if iteration % log_every == 0 or iteration == config.iterations:
            model.eval()
            with torch.no_grad():
                val = psnr(val_clean, model(val_noisy).clamp(0, 1))
            model.train()
            log.iterations.append(iteration)
            log.loss.append(sum(window) / len(window))
            log.val_psnr.append(val)
            window = []
            bar.set_postfix(loss=f"{log.loss[-1]:.2e}", val_psnr=f"{val:.2f} dB")
    bar.close()
    return model.eval(), log, time.perf_counter() - start


def save_checkpoint(path: Path, model: DnCNN, config: TrainingConfig, log: TrainingLog, seconds: float,
                    device: torch.device | str, command: str) -> None:
    """Write a checkpoint that :func:`load_dncnn` reads: weights, configuration, log and run facts.

    Args:
        path: the ``.pt`` file to write; missing parent folders are created.
        model: the trained model; its state dict is saved on the CPU.
        config: the run's :class:`TrainingConfig`.
        log: the run's learning curve.
        seconds: training wall time.
        device: the device it trained on (stored as text).
        command: the command line that trained it, stored so the run can be
            repeated.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "config": {**asdict(config), "images": list(config.images)},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "log": asdict(log),
        "trained": {"seconds": seconds, "device": str(device), "torch": str(torch.__version__),
                    "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "command": command},
    }, path)


@dataclass
class Checkpoint:
    """A trained DnCNN with the facts of its training run."""

    model: DnCNN
    config: TrainingConfig
    log: TrainingLog
    trained: dict


def load_dncnn(path: Path | str = DEFAULT_CHECKPOINT, device: torch.device | str = "cpu") -> Checkpoint:
    """Read a checkpoint written by ``python -m course_utils.dncnn``; the model is in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no DnCNN checkpoint at {path}; train one with `python -m course_utils.dncnn --out {path}`")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = TrainingConfig(**{**saved["config"], "images": tuple(saved["config"]["images"])})
    model = DnCNN(config.depth, config.channels, batch_norm=config.batch_norm, residual=config.residual)
    model.load_state_dict(saved["state_dict"])
    return Checkpoint(model.to(device).eval(), config, TrainingLog(**saved["log"]), saved["trained"])


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """An inference copy of ``model`` with every BatchNorm folded into the convolution before it.

    In eval mode BN is a fixed per-channel affine map, so it can be merged into the conv's
    weights and bias: the copy computes the same outputs (to float rounding) with one pass
    over the feature maps fewer per BN layer (15 in DnCNN-17). ``model`` is left unchanged.
    """
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module)
        for index in range(len(children) - 1):
            conv, norm = children[index], children[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[index] = fuse_conv_bn_eval(conv, norm)
                module[index + 1] = nn.Identity()
    return folded


@torch.inference_mode()
def denoise(model: nn.Module, noisy: np.ndarray) -> np.ndarray:
    """Denoise one gray-scale (H, W) image with ``model`` on the model's device; returns (H, W) numpy.

    Runs an inference copy of the model: batch normalization folded into the convolutions
    (:func:`fold_batch_norm`) and the channels-last memory layout. On two CPU cores these took
    a 512 x 512 image from 1.5 s to 0.75 s with the shipped model (same results).
    """
    if noisy.ndim != 2:
        raise ValueError(f"denoise expects one gray-scale image of shape (H, W), got {noisy.shape}")
    device = next(model.parameters()).device
    inference_model = fold_batch_norm(model).to(memory_format=torch.channels_last)
    image = torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32))[None, None].to(device)
    estimate = inference_model(image.contiguous(memory_format=torch.channels_last))
    return estimate[0, 0].cpu().numpy()


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m course_utils.dncnn`` (defaults from :class:`TrainingConfig`)."""
    defaults = TrainingConfig()
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.dncnn",
        description="Train a gray-scale blind DnCNN on patches of the skimage.data training photos.")
    parser.add_argument("--depth", type=int, default=defaults.depth, help="layers D (receptive field 2D+1)")
    parser.add_argument("--channels", type=int, default=defaults.channels, help="filters per hidden layer")
    parser.add_argument("--no-batch-norm", action="store_true", help="leave out batch normalization")
    parser.add_argument("--no-residual", action="store_true", help="estimate the clean image, not the noise")
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--patch-size", type=int, default=defaults.patch_size)
    parser.add_argument("--sigma-max", type=float, default=defaults.sigma_max,
                        help="noise levels are drawn uniformly from [0, sigma-max] on the 0-255 scale")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: course_utils.device)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT, help="where to write the checkpoint")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Train a DnCNN from the command line and save its checkpoint; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from course_utils.device import get_device

    device = torch.device(args.device) if args.device else get_device()
    config = TrainingConfig(depth=args.depth, channels=args.channels, batch_norm=not args.no_batch_norm,
                            residual=not args.no_residual, iterations=args.iterations, batch_size=args.batch_size,
                            patch_size=args.patch_size, sigma_max=args.sigma_max,
                            learning_rate=args.learning_rate, seed=args.seed)
    print(f"Training DnCNN (D={config.depth}, {config.channels} channels) on {len(config.images)} skimage.data "
          f"photos, sigma in [0, {config.sigma_max:g}], {config.iterations} iterations of {config.batch_size} "
          f"patches {config.patch_size}x{config.patch_size}, device {device}")
    model, log, seconds = train_dncnn(config, device)
    command = "python -m course_utils.dncnn " + " ".join(argv if argv is not None else sys.argv[1:])
    save_checkpoint(args.out, model, config, log, seconds, device, command)
    print(f"Trained in {seconds / 60:.1f} min; validation PSNR at sigma 25: {log.val_psnr[-1]:.2f} dB; "
          f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
