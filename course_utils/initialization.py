r"""Weight initialization and variance propagation (chapter 3; the plain
nets return in 4).

For a layer :math:`y = \sum_{k=1}^{n} w_k x_k` with independent zero-mean
weights, :math:`\mathrm{Var}[y] = n\,\mathrm{Var}[w]\,\mathrm{Var}[x]`; a
ReLU keeps half of the second moment (:math:`G_0 = G_1 = 1/2`), so He et al.
(2015) choose :math:`\mathrm{Var}[w] = 2/n_\text{in}`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import pandas as pd
import torch
from torch import nn

Scheme = Literal["he", "lecun", "default"]
#: weight variance times fan-in for each scheme; "default" keeps PyTorch's
#: own initialization
SCHEME_GAINS: dict[str, float] = {"he": 2.0, "lecun": 1.0}
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def fan_in(weight_shape: Sequence[int] | torch.Size) -> int:
    """Inputs feeding one output unit: ``in_features`` or
    ``in_channels/groups x kernel area``.

    PyTorch stores linear weights as (out, in) and conv weights as ``(out,
    in/groups, *kernel)``.
    """
    shape = tuple(weight_shape)
    if len(shape) < 2 or any(n < 1 for n in shape):
        raise ValueError(
            "a weight shape is (out, in, *kernel) with positive sizes, "
            f"got {shape}"
        )
    return math.prod(shape[1:])


def fan_out(weight_shape: Sequence[int] | torch.Size) -> int:
    """Outputs each input unit feeds: ``out_features`` or ``out_channels
    x kernel area``."""
    shape = tuple(weight_shape)
    fan_in(shape)  # validates
    return shape[0] * math.prod(shape[2:])


def init_weights_(
    model: nn.Module,
    scheme: Scheme,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Re-initialize every linear and conv layer in place.

    Shown in :doc:`/book/03_initialization/initialization`,
    section "Many layers: a product of factors".

    The weights are drawn from N(0, gain/fan_in), the biases set to zero.
    ``scheme`` is ``"he"`` (Var[w] = 2/n), ``"lecun"`` (Var[w] = 1/n) or
    ``"default"`` (leave PyTorch's uniform(±1/sqrt(n)) weights,
    Var[w] = 1/(3n), and its biases untouched).
    """
    if scheme == "default":
        return model
    if scheme not in SCHEME_GAINS:
        raise ValueError(
            f"unknown init scheme {scheme!r}; "
            "expected 'he', 'lecun' or 'default'"
        )
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _WEIGHTED):
                n = fan_in(module.weight.shape)
                std = math.sqrt(SCHEME_GAINS[scheme] / n)
                module.weight.normal_(0.0, std, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
    return model


def plain_relu_net(
    depth: int,
    width: int = 128,
    in_features: int = 784,
    num_classes: int = 10,
) -> nn.Sequential:
    """A plain fully connected ReLU net with ``depth`` weight layers, no
    normalization, no skips.

    Args:
        depth: weight (linear) layers, the output layer included (≥ 2).
        width: units of every hidden layer. Default: 128.
        in_features: inputs after flattening. Default: 784 (28x28 MNIST).
        num_classes: outputs of the last layer (logits, no ReLU).
            Default: 10.

    Returns:
        ``nn.Sequential`` of ``Flatten``, then ``depth - 1`` times
        ``Linear``-``ReLU``, then ``Linear``; it maps ``(N, *)`` inputs with
        ``in_features`` values each to ``(N, num_classes)``.

    Raises:
        ValueError: if ``depth`` < 2.
    """
    if depth < 2:
        raise ValueError(
            "depth counts weight layers including the output layer and "
            f"must be >= 2, got {depth}"
        )
    layers: list[nn.Module] = [
        nn.Flatten(),
        nn.Linear(in_features, width),
        nn.ReLU(),
    ]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def propagation_stats(
    model: nn.Module, inputs: torch.Tensor, seed: int = 0
) -> pd.DataFrame:
    """Std of each weighted layer's output and of the gradient reaching it.

    Shown in :doc:`/book/03_initialization/initialization`,
    section "Many layers: a product of factors".

    A gradient of unit variance is sent back from the model's output, as in
    He et al.'s analysis, so the backward column shows how each scheme
    scales gradients layer by layer.
    """
    layers = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, _WEIGHTED)
    ]
    if not layers:
        raise ValueError(
            "the model has no linear or conv layers to measure"
        )
    forward_std: dict[str, float] = {}
    backward_std: dict[str, float] = {}

    def record_forward(name: str):
        def hook(module, args, out):
            forward_std[name] = out.detach().std().item()

        return hook

    def record_backward(name: str):
        def hook(module, grad_in, grad_out):
            backward_std[name] = grad_out[0].std().item()

        return hook

    handles = []
    for name, module in layers:
        handles.append(module.register_forward_hook(record_forward(name)))
        handles.append(
            module.register_full_backward_hook(record_backward(name))
        )
    try:
        inputs = inputs.detach().requires_grad_(True)
        output = model(inputs)
        # drawn on the CPU, then moved, so that one seed gives the same
        # statistics on every device
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(
            output.shape, generator=generator, dtype=output.dtype
        )
        output.backward(noise.to(output.device))
    finally:
        for handle in handles:
            handle.remove()
        model.zero_grad(set_to_none=True)
    return pd.DataFrame(
        {
            "layer": range(1, len(layers) + 1),
            "name": [name for name, _ in layers],
            "forward_std": [forward_std[name] for name, _ in layers],
            "backward_std": [backward_std[name] for name, _ in layers],
        }
    )
