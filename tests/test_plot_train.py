"""course_utils.plot and course_utils.train."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from course_utils import plot, train  # noqa: E402


def test_to_display_array_layouts():
    assert plot.to_display_array(torch.zeros(3, 5, 7)).shape == (5, 7, 3)
    assert plot.to_display_array(torch.zeros(1, 1, 5, 7)).shape == (5, 7)
    assert plot.to_display_array(np.zeros((5, 7, 1))).shape == (5, 7)
    with pytest.raises(ValueError, match=r"shape \(2, 5, 7\)"):
        plot.to_display_array(np.zeros((2, 5, 7)))


def test_show_images_and_feature_maps_make_one_axis_per_image():
    fig = plot.show_images([np.zeros((4, 4))] * 5, titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 6 and [ax.get_title() for ax in fig.axes[:5]] == list("abcde")
    fig = plot.show_feature_maps(torch.rand(1, 10, 6, 6), ncols=4, max_maps=8)
    assert sum(bool(ax.images) for ax in fig.axes) == 8
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        plot.show_images([np.zeros((2, 2))] * 3, titles=["a", "b"])


def separable_problem(n=256, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return TensorDataset(x, y)


def test_fit_learns_and_returns_history():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    loader = DataLoader(separable_problem(), batch_size=32, shuffle=True)
    val = DataLoader(separable_problem(seed=1), batch_size=64)
    history = train.fit(
        model,
        loader,
        nn.functional.cross_entropy,
        torch.optim.Adam(model.parameters(), 1e-2),
        epochs=8,
        val_loader=val,
        device=torch.device("cpu"),
        progress=False,
    )
    assert len(history.train_loss) == len(history.val_accuracy) == 8
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_accuracy[-1] > 0.9
    assert history.seconds > 0
    fig = plot.plot_history(history)
    assert len(fig.axes) == 2


def test_fit_regression_and_evaluate_restores_mode():
    model = nn.Linear(2, 1)
    x = torch.randn(64, 2)
    loader = DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=16)
    history = train.fit(
        model,
        loader,
        nn.functional.mse_loss,
        torch.optim.SGD(model.parameters(), 0.1),
        epochs=20,
        device=torch.device("cpu"),
        classification=False,
        progress=False,
    )
    assert history.train_accuracy == [None] * 20 and history.train_loss[-1] < 1e-3
    model.train()
    loss, accuracy = train.evaluate(model, loader, nn.functional.mse_loss, classification=False)
    assert accuracy is None and loss < 1e-3 and model.training


@pytest.mark.parametrize("epochs", [0, 1.5, True])
def test_fit_rejects_bad_epochs(epochs):
    model = nn.Linear(2, 2)
    loader = DataLoader(separable_problem(8), batch_size=4)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train.fit(
            model,
            loader,
            nn.functional.cross_entropy,
            torch.optim.SGD(model.parameters(), 0.1),
            epochs,
        )


def test_fit_rejects_empty_loader():
    model = nn.Linear(2, 2)
    empty = DataLoader(
        TensorDataset(torch.zeros(3, 2), torch.zeros(3).long()), batch_size=4, drop_last=True
    )
    with pytest.raises(ValueError, match="train_loader is empty"):
        train.fit(
            model, empty, nn.functional.cross_entropy, torch.optim.SGD(model.parameters(), 0.1), 1
        )
