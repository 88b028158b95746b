"""course_utils.batchnorm against torch.nn.BatchNorm1d/2d over many training steps."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.batchnorm import BatchNorm, keras_to_torch_momentum

# Agreement within 1e-6: absolute, or relative for values above 1, in float64 and float32.
TOLERANCE = 1e-6


def assert_close(ours, theirs, what):
    difference = ((ours - theirs).abs() / theirs.abs().clamp(min=1.0)).max().item()
    assert difference <= TOLERANCE, (
        f"{what}: max |difference| / max(1, |value|) = {difference:.2e} > {TOLERANCE}"
    )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("momentum", [0.1, 0.01, 0.5, 1.0])
@pytest.mark.parametrize(
    "shape, reference_class",
    [
        ((16, 5), nn.BatchNorm1d),
        ((8, 5, 7), nn.BatchNorm1d),
        ((4, 5, 6, 6), nn.BatchNorm2d),
        ((2, 5, 1, 3), nn.BatchNorm2d),
    ],
)
def test_equal_to_torch_in_both_modes_over_many_steps(momentum, shape, reference_class, dtype):
    torch.manual_seed(0)
    ours, theirs = (
        BatchNorm(5, momentum=momentum).to(dtype),
        reference_class(5, momentum=momentum).to(dtype),
    )
    with torch.no_grad():  # non-trivial affine parameters, the same in both
        for module in (ours, theirs):
            module.weight.copy_(torch.linspace(0.5, 2.0, 5))
            module.bias.copy_(torch.linspace(-1.0, 1.0, 5))
    optimizer = torch.optim.SGD(list(ours.parameters()) + list(theirs.parameters()), lr=0.1)
    for step in range(60):
        x = torch.randn(shape, dtype=dtype) * (1 + step % 7) + step % 3  # shifting statistics
        ours.train(), theirs.train()
        y_ours, y_theirs = ours(x), theirs(x)
        assert_close(y_ours, y_theirs, f"training output, step {step}")
        optimizer.zero_grad()
        target = torch.randn(shape, dtype=dtype)
        F.mse_loss(y_ours, target).backward()
        F.mse_loss(y_theirs, target).backward()
        assert_close(ours.weight.grad, theirs.weight.grad, f"gamma gradient, step {step}")
        optimizer.step()
        # keep gamma and beta identical so float32 rounding cannot compound over steps
        with torch.no_grad():
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
        assert_close(ours.running_mean, theirs.running_mean, f"running mean, step {step}")
        assert_close(ours.running_var, theirs.running_var, f"running var, step {step}")
        ours.eval(), theirs.eval()
        with torch.no_grad():
            assert_close(ours(x), theirs(x), f"evaluation output, step {step}")


def test_mode_follows_the_module_flag_not_grad_mode():
    bn = BatchNorm(3).train()
    x = torch.randn(10, 3) * 4 + 2
    with torch.no_grad():  # still training mode: batch statistics, running stats updated
        y = bn(x)
    assert torch.allclose(y.mean(0), torch.zeros(3), atol=1e-5)
    assert not torch.equal(bn.running_mean, torch.zeros(3))
    bn.eval()
    before = bn.running_mean.clone()
    y = bn(x)  # gradients enabled, evaluation mode: running statistics, no update
    assert torch.equal(bn.running_mean, before)
    expected = (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    assert torch.allclose(y, expected)


def test_running_variance_is_unbiased_and_output_uses_biased():
    bn = BatchNorm(1, momentum=1.0).train()
    x = torch.tensor([[1.0], [3.0]])
    y = bn(x)
    assert bn.running_var.item() == pytest.approx(2.0)  # unbiased: ((1-2)^2 + (3-2)^2) / 1
    # biased var 1
    assert y.squeeze().tolist() == pytest.approx([-1 / (1 + 1e-5) ** 0.5, 1 / (1 + 1e-5) ** 0.5])


def test_clear_errors():
    with pytest.raises(ValueError, match="more than one value per channel"):
        BatchNorm(4).train()(torch.randn(1, 4))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4\)"):
        BatchNorm(4)(torch.randn(8, 3))
    with pytest.raises(ValueError, match="keras_to_torch_momentum"):
        BatchNorm(4, momentum=0.0)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        keras_to_torch_momentum(1.5)


def test_keras_momentum_conversion_matches_keras_update_rule():
    keras_momentum = 0.99
    running, batch = torch.tensor(5.0), torch.tensor(1.0)
    # Keras: momentum weights the old value
    keras = keras_momentum * running + (1 - keras_momentum) * batch
    m = keras_to_torch_momentum(keras_momentum)
    torch_rule = (1 - m) * running + m * batch
    assert torch_rule.item() == pytest.approx(keras.item())
