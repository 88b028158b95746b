"""Every module with device code, on every device this machine has (CPU always, CUDA and MPS
when present), in the manner of torchvision's device-parametrized tests.

Each test runs the same seeded computation on the CPU and on ``device`` and checks that the
result lives on ``device`` and agrees with the CPU's: random numbers are drawn on the CPU and
moved, so one seed means the same noise, augmentation or initialization everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import (
    augment,
    denoise,
    dncnn,
    ffdnet,
    initialization,
    lr_range,
    noise,
    style,
    synthesis,
    train,
)
from course_utils import features as extractors


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


DEVICES = available_devices()
# float32 on a GPU uses other kernels (and TF32 on recent NVIDIA parts): agreement, not identity
TOLERANCE = {"cpu": 0.0, "cuda": 1e-3, "mps": 1e-3}


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


def assert_on_device_and_close(
    result: torch.Tensor, on_cpu: torch.Tensor, device: torch.device, what: str
) -> None:
    assert result.device.type == device.type, (
        f"{what}: result on {result.device}, expected {device}"
    )
    difference = (result.detach().cpu().double() - on_cpu.detach().double()).abs().max().item()
    assert difference <= TOLERANCE[device.type], (
        f"{what}: differs from the CPU by {difference:.3g} on {device}"
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def test_augmentations_are_the_same_on_every_device(device):
    images = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    for name, augmentation in [
        ("random_affine", augment.random_affine),
        ("elastic", augment.elastic),
    ]:
        on_cpu = augmentation(images, generator=torch.Generator().manual_seed(1))
        moved = augmentation(images.to(device), generator=torch.Generator().manual_seed(1))
        assert_on_device_and_close(moved, on_cpu, device, name)


def test_predict_over_crops_on_the_model_device(device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    images = torch.rand(2, 1, 10, 10, generator=torch.Generator().manual_seed(2))
    on_cpu = augment.predict_over_crops(model, images, size=8)
    moved = augment.predict_over_crops(model.to(device), images.to(device), size=8)
    assert_on_device_and_close(moved, on_cpu, device, "predict_over_crops")


def test_gaussian_noise_is_drawn_once_for_every_device(device):
    clean = torch.full((2, 1, 8, 8), 0.5)
    on_cpu = noise.add_gaussian_noise(
        clean, torch.tensor([15.0, 50.0]), torch.Generator().manual_seed(3)
    )
    moved = noise.add_gaussian_noise(
        clean.to(device), torch.tensor([15.0, 50.0]), torch.Generator().manual_seed(3)
    )
    assert_on_device_and_close(moved, on_cpu, device, "add_gaussian_noise")


@pytest.mark.parametrize("architecture", ["dncnn", "ffdnet"])
def test_denoise_image_runs_on_the_model_device(device, architecture):
    torch.manual_seed(0)
    model = (
        dncnn.DnCNN(depth=3, channels=4)
        if architecture == "dncnn"
        else ffdnet.FFDNet(depth=3, channels=4)
    )
    nn.init.normal_(model.layers[-1].weight, std=0.1)
    model.eval()
    noisy = np.random.default_rng(0).random((16, 17)).astype(np.float32)
    on_cpu = denoise.denoise_image(model, noisy, 25.0)
    moved = denoise.denoise_image(model.to(device), noisy, 25.0)
    assert isinstance(moved, np.ndarray) and moved.shape == noisy.shape
    assert_on_device_and_close(
        torch.from_numpy(moved).to(device),
        torch.from_numpy(on_cpu),
        device,
        f"denoise_image ({architecture})",
    )


def test_propagation_stats_are_the_same_on_every_device(device):
    torch.manual_seed(0)
    model = initialization.plain_relu_net(depth=3, width=16, in_features=8, num_classes=4)
    inputs = torch.randn(32, 8, generator=torch.Generator().manual_seed(4))
    on_cpu = initialization.propagation_stats(model, inputs)
    moved = initialization.propagation_stats(model.to(device), inputs.to(device))
    for column in ("forward_std", "backward_std"):
        assert_on_device_and_close(
            torch.tensor(moved[column].to_numpy()),
            torch.tensor(on_cpu[column].to_numpy()),
            torch.device("cpu"),
            f"propagation_stats {column} on {device}",
        )


def classification_data() -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(5)
    inputs = torch.randn(64, 6, generator=generator)
    targets = (inputs[:, 0] > 0).long()
    dataset = TensorDataset(inputs, targets)
    return DataLoader(dataset, batch_size=16), DataLoader(dataset, batch_size=32)


def test_fit_and_evaluate_train_on_the_requested_device(device):
    train_loader, val_loader = classification_data()
    histories = {}
    for where in ("cpu", device):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        histories[str(where)] = train.fit(
            model,
            train_loader,
            F.cross_entropy,
            optimizer,
            3,
            val_loader,
            device=torch.device(where),
            progress=False,
        )
        synchronize(torch.device(where))
        assert next(model.parameters()).device.type == torch.device(where).type, (
            "fit did not move the model"
        )
    on_cpu, moved = histories["cpu"], histories[str(device)]
    assert_on_device_and_close(
        torch.tensor(moved.train_loss),
        torch.tensor(on_cpu.train_loss),
        torch.device("cpu"),
        f"fit's training losses on {device}",
    )


def test_lr_range_test_restores_the_model_on_its_device(device):
    train_loader, _ = classification_data()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)).to(device)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    rates, losses = lr_range.lr_range_test(
        model, train_loader, F.cross_entropy, optimizer, steps=8, progress=False
    )
    assert len(rates) == len(losses) > 0
    for key, value in model.state_dict().items():
        assert value.device.type == device.type, f"{key} left {device}"
        assert torch.equal(value, before[key]), f"lr_range_test did not restore {key} on {device}"


def test_style_synthesis_runs_and_synchronizes_on_the_device(device):
    extractor = extractors.RandomMultiScaleFeatures(kernel_sizes=(3,), filters=4, levels=2, seed=0)
    layers = ("s0k3", "s1k3")
    target = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    results = {}
    for where in ("cpu", device):
        where = torch.device(where)
        features = extractor.to(where)
        with torch.no_grad():
            target_features = features(target.to(where))
        loss = style.StyleLoss(target_features, {layer: 1.0 for layer in layers})
        init = synthesis.noise_like(target.to(where), seed=1)
        assert init.device.type == where.type
        results[where.type] = synthesis.synthesize(
            features, init, style=loss, optimizer="adam", evaluations=3, progress=False
        )
    assert_on_device_and_close(
        results[device.type].image, results["cpu"].image, device, "synthesize"
    )


def test_denoiser_training_runs_on_the_device(device):
    from course_utils.denoiser_training import DenoiserConfig, train_denoiser

    config = DenoiserConfig(
        depth=3, channels=4, iterations=2, batch_size=2, patch_size=16, images=("brick",)
    )
    model, log, _ = train_denoiser(config, device, log_every=1, progress=False)
    assert next(model.parameters()).device.type == device.type
    assert len(log.val_psnr) == 2 and all(np.isfinite(log.val_psnr))


def test_denoiser_training_resumes_on_the_device(device, tmp_path):
    from course_utils.denoiser_training import DenoiserConfig, train_denoiser

    config = DenoiserConfig(
        depth=3, channels=4, iterations=4, batch_size=2, patch_size=16, images=("brick",)
    )
    state = tmp_path / "run.resume"
    train_denoiser(config, device, log_every=2, progress=False, state_path=state, save_every=2)
    # a finished run's state resumes at its end: the generators' states come back on the CPU
    model, log, _ = train_denoiser(config, device, log_every=2, progress=False, state_path=state)
    assert log.iterations == [2, 4] and next(model.parameters()).device.type == device.type
