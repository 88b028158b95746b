"""course_utils.initialization against torch.nn.init and the variance formulas."""

import math

import pytest
import torch
from torch import nn

from course_utils.initialization import (
    fan_in,
    fan_out,
    init_weights_,
    plain_relu_net,
    propagation_stats,
)


@pytest.mark.parametrize(
    "layer",
    [
        nn.Linear(300, 40),
        nn.Conv2d(16, 32, 3),
        nn.Conv2d(8, 8, (5, 3), groups=4),
        nn.Conv1d(3, 7, 9),
    ],
)
def test_fans_equal_torch(layer):
    reference_in, reference_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
    assert (fan_in(layer.weight.shape), fan_out(layer.weight.shape)) == (
        reference_in,
        reference_out,
    )


@pytest.mark.parametrize("scheme, gain", [("he", 2.0), ("lecun", 1.0)])
def test_init_weights_gives_the_scheme_variance(scheme, gain):
    model = nn.Sequential(nn.Linear(500, 400), nn.Conv2d(64, 128, 3))
    init_weights_(model, scheme, generator=torch.Generator().manual_seed(0))
    for layer in model:
        expected = math.sqrt(gain / fan_in(layer.weight.shape))
        assert layer.weight.std().item() == pytest.approx(expected, rel=0.02)
        assert layer.weight.mean().item() == pytest.approx(0.0, abs=0.05 * expected)
        assert torch.count_nonzero(layer.bias) == 0


def test_default_scheme_leaves_torch_init_and_bad_scheme_is_named():
    layer = nn.Linear(4, 4)
    before = layer.weight.clone()
    init_weights_(layer, "default")
    assert torch.equal(layer.weight, before)
    with pytest.raises(ValueError, match="'he', 'lecun' or 'default'"):
        init_weights_(layer, "xavier")


def test_plain_relu_net_depth_counts_weight_layers():
    model = plain_relu_net(22, width=32)
    assert sum(isinstance(m, nn.Linear) for m in model) == 22
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match="depth"):
        plain_relu_net(1)


def test_he_keeps_the_signal_and_lecun_halves_its_variance_per_layer():
    x = torch.randn(512, 784)
    stats = {}
    for scheme in ("he", "lecun"):
        model = init_weights_(
            plain_relu_net(30, width=256), scheme, generator=torch.Generator().manual_seed(1)
        )
        stats[scheme] = propagation_stats(model, x)
    he, lecun = stats["he"], stats["lecun"]
    assert len(he) == 30 and list(he["layer"]) == list(range(1, 31))
    # He: Var stays ~constant through 29 ReLU layers (each factor 1 on average)
    assert 0.3 < he["forward_std"].iloc[-1] / he["forward_std"].iloc[0] < 3
    # backward from the last hidden layer (the 10-unit output layer has a different fan-out)
    assert 0.3 < he["backward_std"].iloc[0] / he["backward_std"].iloc[-2] < 3
    # 1/n: each ReLU layer multiplies the variance by 1/2, so the std by 2**-0.5, 29 times
    ratio = lecun["forward_std"].iloc[-1] / lecun["forward_std"].iloc[0]
    assert ratio == pytest.approx(2**-14.5, rel=0.5)
    back_ratio = lecun["backward_std"].iloc[0] / lecun["backward_std"].iloc[-2]
    assert back_ratio == pytest.approx(2**-14, rel=0.5)


def test_propagation_stats_leaves_no_hooks_or_gradients():
    model = plain_relu_net(3, width=8)
    propagation_stats(model, torch.randn(4, 784))
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="no linear or conv"):
        propagation_stats(nn.ReLU(), torch.randn(2, 2))


def test_fan_in_rejects_a_bias_shape():
    with pytest.raises(ValueError, match=r"\(out, in, \*kernel\)"):
        fan_in((10,))
