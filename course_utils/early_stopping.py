"""Early stopping with the best weights restored (chapter 8).

Training stops once ``patience`` epochs in a row have not improved the
validation loss by more than ``min_delta``; the weights of the best epoch
are then put back. ``fit`` in :mod:`course_utils.train` takes an
:class:`EarlyStopping` through its ``early_stopping`` argument.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class EarlyStopping:
    """Watches a validation loss and keeps a copy of the best weights.

    Shown in :doc:`/book/08_training/training`,
    section "Overfitting, and what cures it".

    Args:
        patience: epochs without improvement after which :meth:`step`
            returns ``True`` (≥ 1).
        min_delta: an epoch improves only if its loss is below
            ``best - min_delta`` (≥ 0); a loss equal to the best is not an
            improvement.
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        if (
            isinstance(patience, bool)
            or not isinstance(patience, int)
            or patience < 1
        ):
            raise ValueError(
                "patience must be a positive number of epochs, "
                f"got {patience!r}"
            )
        if not min_delta >= 0:
            raise ValueError(
                "min_delta must be a non-negative loss difference, "
                f"got {min_delta!r}"
            )
        self.patience = patience
        self.min_delta = float(min_delta)
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self.epochs_without_improvement = 0
        self._best_state: dict[str, torch.Tensor] | None = None

    def step(self, val_loss: float, model: nn.Module, epoch: int) -> bool:
        """Record epoch ``epoch``'s validation loss; ``True``: stop now."""
        if math.isnan(val_loss):
            raise ValueError(
                f"validation loss of epoch {epoch} is NaN: "
                "training diverged"
            )
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch = float(val_loss), epoch
            self.epochs_without_improvement = 0
            # copies on the CPU, so the snapshot neither aliases the live
            # weights nor holds GPU memory
            self._best_state = {
                k: v.detach().to("cpu", copy=True)
                for k, v in model.state_dict().items()
            }
        else:
            self.epochs_without_improvement += 1
        return self.epochs_without_improvement >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the weights of the best epoch into ``model``."""
        if self._best_state is None:
            raise RuntimeError(
                "no epoch has been recorded yet: "
                "call step() after each validation first"
            )
        model.load_state_dict(self._best_state)
