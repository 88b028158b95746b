r"""Batch normalization from scratch (chapter 4; its blocks return in 5 and
6).

Training mode normalizes each channel with the batch mean and the *biased*
batch variance,

.. math::

    \hat x = \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad
    y = \gamma \hat x + \beta,

and updates the running statistics with the *unbiased* variance, ``running =
(1 - momentum) * running + momentum * batch`` (PyTorch's convention:
momentum weights the new batch). Evaluation mode uses the running
statistics. Which mode applies is decided by the module's ``training`` flag,
never by whether gradients are enabled.
"""

from __future__ import annotations

import torch
from torch import nn


def keras_to_torch_momentum(keras_momentum: float) -> float:
    """Keras' ``momentum`` weights the *old* running value; PyTorch's
    weights the new batch."""
    if not 0.0 <= keras_momentum <= 1.0:
        raise ValueError(f"a momentum lies in [0, 1], got {keras_momentum}")
    return 1.0 - keras_momentum


class BatchNorm(nn.Module):
    """Batch norm over dimension 1 of (N, C), (N, C, L) or (N, C, H, W)
    inputs, like ``nn.BatchNorm1d/2d``.

    Args:
        num_features: C, the number of channels (features) normalized
            separately.
        eps: added to the variance before the square root, for numerical
            stability. Default: 1e-5.
        momentum: weight of the new batch in the running statistics, in (0,
            1] (PyTorch's convention; convert a Keras momentum with
            :func:`keras_to_torch_momentum`). Default: 0.1.
        affine: learn a scale ``weight`` (gamma, initially 1) and shift
            ``bias`` (beta, initially 0) per channel; ``False`` returns the
            normalized values. Default: ``True``.

    Raises:
        ValueError: if ``num_features`` < 1 or ``momentum`` is outside (0,
            1]; in ``forward``, for an input whose dimension 1 is not
            ``num_features`` or, in training mode, with only one value per
            channel.

    Shape:
        - Input: ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``.
        - Output: the same shape as the input.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
    ) -> None:
        super().__init__()
        if num_features < 1:
            raise ValueError(
                f"num_features must be positive, got {num_features}"
            )
        if not 0.0 < momentum <= 1.0:
            raise ValueError(
                "momentum weights the new batch and lies in (0, 1], got "
                f"{momentum}"
                + (
                    " (a Keras momentum? use keras_to_torch_momentum)"
                    if momentum > 1.0 or momentum == 0
                    else ""
                )
            )
        self.num_features, self.eps, self.momentum = (
            num_features,
            eps,
            momentum,
        )
        self.weight = (
            nn.Parameter(torch.ones(num_features)) if affine else None
        )
        self.bias = (
            nn.Parameter(torch.zeros(num_features)) if affine else None
        )
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 3, 4) or x.shape[1] != self.num_features:
            raise ValueError(
                f"expected input of shape (N, {self.num_features}), (N, "
                f"{self.num_features}, L) or (N, {self.num_features}, H, "
                f"W), got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, self.num_features] + [1] * (x.dim() - 2)
        if self.training:
            count = x.numel() // self.num_features
            if count < 2:
                raise ValueError(
                    "training-mode batch norm needs more than one value "
                    f"per channel, got input shape {tuple(x.shape)}; use "
                    "a larger batch or call model.eval()"
                )
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)
            with torch.no_grad():
                unbiased = var * count / (count - 1)
                self.running_mean.mul_(1 - self.momentum).add_(
                    self.momentum * mean
                )
                self.running_var.mul_(1 - self.momentum).add_(
                    self.momentum * unbiased
                )
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(shape)) / torch.sqrt(
            var.view(shape) + self.eps
        )
        if self.weight is None:
            return x_hat
        return self.weight.view(shape) * x_hat + self.bias.view(shape)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, "
            f"momentum={self.momentum}, "
            f"affine={self.weight is not None}"
        )
