"""The learning-rate range test (chapter 8).

Smith (2017): train for a few hundred steps while the learning rate grows
geometrically from tiny to huge, and record the loss. The loss falls once
the rate is large enough to make progress and shoots up once it is too
large; a good rate lies on the steep descent, about a tenth of where the
loss is lowest. The model and optimizer are put back as they were
afterwards, so the test costs no training.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm


def _batches(loader: DataLoader) -> Iterator:
    while True:
        yielded = False
        for batch in loader:
            yielded = True
            yield batch
        if not yielded:
            raise ValueError(
                "the loader yields no batches (check the dataset size "
                "and batch_size)"
            )


def lr_range_test(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    start_lr: float = 1e-5,
    end_lr: float = 1.0,
    steps: int = 100,
    smoothing: float = 0.1,
    stop_factor: float = 4.0,
    progress: bool = True,
) -> tuple[list[float], list[float]]:
    """Learning rates from ``start_lr`` to ``end_lr`` and the smoothed loss.

    Shown in :doc:`/book/08_training/training`,
    section "Optimizers".

    Args:
        model, optimizer: used as they are (on the model's device) and
            restored afterwards.
        loader: yields ``(inputs, targets)`` batches; cycled if it has fewer
            than ``steps`` batches.
        loss_fn: ``loss_fn(outputs, targets)`` → the batch's loss
            (a scalar).
        start_lr: the first learning rate (> 0). Default: 1e-5.
        end_lr: the last learning rate (> ``start_lr``). Default: 1.0.
        steps: number of rates, spaced geometrically (≥ 2), one training
            step each.
        smoothing: weight of the newest loss in the exponential moving
            average (0 < s ≤ 1); the average is bias-corrected like Adam's
            moments.
        stop_factor: stop early once the smoothed loss exceeds
            ``stop_factor`` × its minimum (or is not finite).
        progress: show a progress bar over the steps. Default: ``True``.

    Returns:
        ``(learning_rates, smoothed_losses)``, of equal length
        (≤ ``steps``).

    Raises:
        ValueError: unless ``0 < start_lr < end_lr``, ``steps`` ≥ 2 and
            ``0 < smoothing <= 1``, or if ``loader`` yields no batches.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(
            "expected 0 < start_lr < end_lr, "
            f"got start_lr={start_lr}, end_lr={end_lr}"
        )
    if steps < 2 or not 0 < smoothing <= 1:
        raise ValueError(
            "expected steps >= 2 and 0 < smoothing <= 1, "
            f"got steps={steps}, smoothing={smoothing}"
        )
    device = next(model.parameters()).device
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    ratio = (end_lr / start_lr) ** (1 / (steps - 1))
    rates, losses = [], []
    average, best = 0.0, math.inf
    model.train()
    try:
        batches = _batches(loader)
        bar = tqdm(range(steps), desc="LR range test", disable=not progress)
        for step in bar:
            lr = start_lr * ratio**step
            for group in optimizer.param_groups:
                group["lr"] = lr
            inputs, targets = next(batches)
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad(set_to_none=True)
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
            loss.backward()
            optimizer.step()
            newest = float(loss.detach())
            average = (1 - smoothing) * average + smoothing * newest
            # bias-corrected like Adam's moments (the average starts at 0)
            smoothed = average / (1 - (1 - smoothing) ** (step + 1))
            rates.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if not math.isfinite(smoothed) or smoothed > stop_factor * best:
                break
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        model.train(was_training)
    return rates, losses
