"""Chapter 8's library: augmentation, early stopping, calibration, the LR range test, fit's new
options."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from course_utils import augment, calibration, train
from course_utils.early_stopping import EarlyStopping
from course_utils.lr_range import lr_range_test


def blob_batch(n: int = 4, size: int = 31) -> torch.Tensor:
    """Smooth off-centre Gaussian blobs, so resampling errors are small and directions matter."""
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32),
        torch.arange(size, dtype=torch.float32),
        indexing="ij",
    )
    blobs = [torch.exp(-((yy - 12 - i) ** 2 / 18 + (xx - 17 + i) ** 2 / 8)) for i in range(n)]
    return torch.stack(blobs).unsqueeze(1)


# augmentation ----------------------------------------------------------------------------------


def test_random_affine_equals_torchvision_affine_with_the_drawn_parameters():
    images = blob_batch()
    out = augment.random_affine(
        images,
        degrees=30,
        scale=(0.8, 1.2),
        max_shift=3,
        generator=torch.Generator().manual_seed(0),
    )
    # the documented draw order: angle, zoom, shift x, shift y
    replay = torch.Generator().manual_seed(0)

    def draw(low, high):
        return torch.rand(len(images), generator=replay, dtype=torch.float64) * (high - low) + low

    angle, zoom, shift_x, shift_y = draw(-30, 30), draw(0.8, 1.2), draw(-3, 3), draw(-3, 3)
    expected = torch.stack(
        [
            TF.affine(
                image,
                angle=float(a),
                translate=[float(x), float(y)],
                scale=float(z),
                shear=[0.0, 0.0],
                interpolation=InterpolationMode.BILINEAR,
            )
            for image, a, z, x, y in zip(images, angle, zoom, shift_x, shift_y)
        ]
    )
    assert (out - expected).abs().max() < 1e-5
    assert not torch.allclose(out[0], out[1]), "each image must get its own transform"


def test_random_affine_identity_shape_dtype_and_reproducibility():
    images = torch.rand(3, 2, 9, 11, dtype=torch.float64)
    assert torch.allclose(
        augment.random_affine(images, degrees=0, scale=(1, 1), max_shift=0), images
    )
    out = augment.random_affine(images, generator=torch.Generator().manual_seed(5))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert torch.equal(
        out, augment.random_affine(images, generator=torch.Generator().manual_seed(5))
    )
    with pytest.raises(TypeError, match="floating-point"):
        augment.random_affine(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        augment.random_affine(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="scale"):
        augment.random_affine(images, scale=(1.2, 0.8))


def test_elastic_is_identity_without_displacement_and_moves_more_with_alpha():
    images = blob_batch()
    assert torch.allclose(augment.elastic(images, alpha=0.0), images, atol=1e-6)
    changes = [
        (
            augment.elastic(images, alpha=a, sigma=3, generator=torch.Generator().manual_seed(1))
            - images
        )
        .abs()
        .mean()
        for a in (1.0, 4.0, 16.0)
    ]
    assert changes[0] < changes[1] < changes[2]
    out = augment.elastic(images, generator=torch.Generator().manual_seed(2))
    assert out.shape == images.shape and torch.equal(
        out, augment.elastic(images, generator=torch.Generator().manual_seed(2))
    )
    # a constant image stays constant away from the border: the field only moves pixels
    flat = torch.ones(2, 1, 40, 40)
    warped = augment.elastic(flat, alpha=2.0, sigma=4.0, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(warped[..., 8:-8, 8:-8], flat[..., 8:-8, 8:-8], atol=1e-5)
    with pytest.raises(ValueError, match="sigma > 0"):
        augment.elastic(images, sigma=0)


def test_crop_views_are_torchvisions_five_and_ten_crops_and_predictions_average_them():
    images = torch.rand(2, 1, 28, 28)
    assert torch.equal(
        augment.crop_views(images, 24, flips=False),
        torch.stack(list(TF.five_crop(images, [24, 24]))),
    )
    ten = augment.crop_views(images, 24)
    assert ten.shape == (10, 2, 1, 24, 24)
    # the mirrored image's top-left crop is the mirror of the top-right crop; centres mirror
    # each other
    assert torch.equal(ten[5], TF.horizontal_flip(ten[1])) and torch.equal(
        ten[9], TF.horizontal_flip(ten[4])
    )
    assert torch.equal(ten[4], images[..., 2:26, 2:26])
    model = nn.Sequential(nn.Flatten(), nn.Linear(24 * 24, 3))
    model.train()
    probabilities = augment.predict_over_crops(model, images, 24)
    expected = torch.stack([F.softmax(model(view), dim=1) for view in ten]).mean(0)
    assert torch.allclose(probabilities, expected) and torch.allclose(
        probabilities.sum(1), torch.ones(2)
    )
    assert model.training, "the model's mode must be restored"
    with pytest.raises(ValueError, match="crop size"):
        augment.crop_views(images, 29)


# early stopping --------------------------------------------------------------------------------


def run_curve(curve, patience, min_delta=0.0):
    stopper, model = EarlyStopping(patience, min_delta), nn.Linear(1, 1, bias=False)
    for epoch, loss in enumerate(curve):
        with torch.no_grad():
            model.weight.fill_(epoch)  # the weights remember which epoch they come from
        if stopper.step(loss, model, epoch):
            break
    stopper.restore(model)
    return epoch, stopper.best_epoch, int(model.weight.item())


@pytest.mark.parametrize(
    "curve, patience, min_delta, expected",
    [
        (
            [1.0, 0.8, 0.8, 0.9, 0.7, 0.75, 0.76, 0.77],
            3,
            0.0,
            (7, 4),
        ),  # a tie is not an improvement
        ([1.0, 0.8, 0.8, 0.9, 0.7, 0.75, 0.76, 0.77], 2, 0.0, (3, 1)),
        ([1.0, 0.9, 0.86, 0.8], 1, 0.05, (2, 1)),  # 0.86 is not below 0.9 - 0.05
        ([3.0, 2.0, 1.0], 2, 0.0, (2, 2)),  # never stops: the last epoch
    ],
)
def test_early_stopping_stops_and_restores_the_best_epoch(curve, patience, min_delta, expected):
    stop, best, restored = run_curve(curve, patience, min_delta)
    assert (stop, best) == expected and restored == best


def test_early_stopping_rejects_bad_settings_and_nan():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(0)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(2, min_delta=-1)
    with pytest.raises(ValueError, match="NaN"):
        EarlyStopping(2).step(math.nan, nn.Linear(1, 1), 0)
    with pytest.raises(RuntimeError, match="no epoch"):
        EarlyStopping(2).restore(nn.Linear(1, 1))


# fit's chapter-8 options -----------------------------------------------------------------------


def contradicting_problem():
    """Validation labels are the opposite of the training labels: validation loss rises from
    epoch 1."""
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    train_set = TensorDataset(x, torch.zeros(64, dtype=torch.long))
    val_set = TensorDataset(x, torch.ones(64, dtype=torch.long))
    return DataLoader(train_set, batch_size=16), DataLoader(val_set, batch_size=64)


def test_fit_early_stopping_stops_and_restores_the_weights_of_the_best_epoch():
    train_loader, val_loader = contradicting_problem()
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    one_epoch = copy.deepcopy(model)
    history = train.fit(
        model,
        train_loader,
        F.cross_entropy,
        torch.optim.SGD(model.parameters(), 0.5),
        10,
        val_loader,
        device=torch.device("cpu"),
        progress=False,
        early_stopping=EarlyStopping(patience=2),
    )
    assert (history.best_epoch, history.stopped_epoch, len(history.train_loss)) == (0, 2, 3)
    train.fit(
        one_epoch,
        train_loader,
        F.cross_entropy,
        torch.optim.SGD(one_epoch.parameters(), 0.5),
        1,
        device=torch.device("cpu"),
        progress=False,
    )
    assert torch.equal(model.weight, one_epoch.weight), (
        "early stopping must restore the best epoch's weights"
    )
    with pytest.raises(ValueError, match="val_loader"):
        train.fit(
            model,
            train_loader,
            F.cross_entropy,
            torch.optim.SGD(model.parameters(), 0.5),
            2,
            early_stopping=EarlyStopping(1),
            progress=False,
        )


def test_fit_transforms_training_batches_only_and_steps_the_scheduler_per_batch():
    train_loader, val_loader = contradicting_problem()
    seen = []

    def transform(inputs):
        seen.append(inputs.shape)
        return inputs * 0  # the model then sees only zeros in training

    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = train.fit(
        model,
        train_loader,
        F.cross_entropy,
        optimizer,
        2,
        val_loader,
        device=torch.device("cpu"),
        progress=False,
        transform=transform,
        scheduler=scheduler,
    )
    assert seen == [torch.Size([16, 4])] * 8, "one call per training batch, none for validation"
    assert history.learning_rate == pytest.approx([0.5**4, 0.5**8])


# calibration -----------------------------------------------------------------------------------


def test_reliability_bins_and_ece_match_a_direct_computation():
    probabilities = torch.tensor(
        [[0.95, 0.05], [0.85, 0.15], [0.45, 0.55], [0.35, 0.65], [0.9, 0.1]]
    )
    labels = torch.tensor([0, 1, 1, 0, 0])
    diagram = calibration.reliability(probabilities, labels, bins=5)
    # top confidences 0.95, 0.85, 0.55, 0.65, 0.9 -> bins (0.8, 1]: {0.95 ok, 0.85 wrong, 0.9 ok};
    # (0.4, 0.6]: {0.55 ok}; (0.6, 0.8]: {0.65 wrong}
    assert diagram.count.tolist() == [0, 0, 1, 1, 3]
    assert diagram.accuracy[2:] == pytest.approx([1.0, 0.0, 2 / 3])
    assert diagram.confidence[4] == pytest.approx(0.9)
    expected_ece = (abs(0.55 - 1) + abs(0.65 - 0) + 3 * abs(0.9 - 2 / 3)) / 5
    assert diagram.ece == pytest.approx(expected_ece)
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        calibration.reliability(torch.rand(5), labels)


def test_fit_temperature_recovers_the_temperature_of_sampled_labels():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(20000, 10, generator=generator) * 3
    true_temperature = 2.5
    labels = torch.multinomial(
        F.softmax(logits / true_temperature, dim=1), 1, generator=generator
    ).squeeze(1)
    fitted = calibration.fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    grid = torch.linspace(1.5, 3.5, 201)
    best_on_grid = grid[torch.stack([F.cross_entropy(logits / t, labels) for t in grid]).argmin()]
    assert fitted == pytest.approx(float(best_on_grid), abs=0.02)
    # calibrated probabilities have a small ECE, miscalibrated ones a large one
    calibrated = calibration.reliability(F.softmax(logits / fitted, dim=1), labels).ece
    assert calibrated < 0.02 < calibration.reliability(F.softmax(logits, dim=1), labels).ece


# learning-rate range test ----------------------------------------------------------------------


def test_lr_range_test_restores_the_model_and_stops_when_the_loss_explodes():
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
    y = x @ torch.randn(8, 1, generator=torch.Generator().manual_seed(1))
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    torch.manual_seed(0)
    model = nn.Linear(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model(x).pow(2).mean().backward()
    optimizer.step()  # optimizer state (momentum buffers) to be restored
    before_model, before_optimizer = (
        copy.deepcopy(model.state_dict()),
        copy.deepcopy(optimizer.state_dict()),
    )
    rates, losses = lr_range_test(
        model, loader, F.mse_loss, optimizer, start_lr=1e-4, end_lr=100, steps=60, progress=False
    )
    assert rates[0] == pytest.approx(1e-4) and rates[1] / rates[0] == pytest.approx(
        (100 / 1e-4) ** (1 / 59)
    )
    assert len(rates) == len(losses) < 60, (
        "an SGD rate of 100 on least squares diverges before the end"
    )
    assert losses[-1] > 4 * min(losses) or not math.isfinite(losses[-1])
    assert all(torch.equal(v, before_model[k]) for k, v in model.state_dict().items())
    assert optimizer.state_dict()["param_groups"][0]["lr"] == 0.01
    restored_buffers = [s["momentum_buffer"] for s in optimizer.state_dict()["state"].values()]
    assert all(
        torch.equal(a, b["momentum_buffer"])
        for a, b in zip(restored_buffers, before_optimizer["state"].values())
    )
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_range_test(model, loader, F.mse_loss, optimizer, start_lr=1, end_lr=0.1)
