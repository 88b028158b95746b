"""A small, explicit training loop (chapters 1 and 3–9).

``fit`` is the loop every chapter would otherwise rewrite: device placement,
a ``tqdm.auto`` progress bar, optional validation after each epoch, and a
returned :class:`History`. Chapter 8 adds its three options: a batch
``transform`` (data augmentation), a per-step learning-rate ``scheduler``
and ``early_stopping``. The teaching happens in the model and the loss; this
is plumbing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from course_utils.device import get_device
from course_utils.early_stopping import EarlyStopping

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class History:
    """Per-epoch metrics; accuracies are ``None`` for regression tasks."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    # at the end of each epoch
    learning_rate: list[float] = field(default_factory=list)
    seconds: float = 0.0
    # 0-based; set when early stopping restored its weights
    best_epoch: int | None = None
    # 0-based; the last epoch trained when early stopping ended the run
    stopped_epoch: int | None = None


def _check_loader(name: str, loader: DataLoader) -> None:
    if len(loader) == 0:
        raise ValueError(
            f"{name} is empty: it yields no batches (check the dataset "
            "size and batch_size)"
        )


def _batch_metrics(
    outputs: torch.Tensor, targets: torch.Tensor, classification: bool
) -> int:
    return (
        int((outputs.argmax(dim=1) == targets).sum())
        if classification
        else 0
    )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: LossFn,
    device: torch.device | None = None,
    classification: bool = True,
) -> tuple[float, float | None]:
    """Mean loss and (for classification) accuracy of ``model`` over
    ``loader``, in eval mode.

    Gradients are off; the model's training flag is restored afterwards.

    Args:
        model: the model to score; it is not moved.
        loader: yields ``(inputs, targets)`` batches; must not be empty.
        loss_fn: ``loss_fn(outputs, targets)`` -> the batch's *mean* loss
            (a scalar); each batch is weighted by its size.
        device: where the batches go; ``None`` means the device of the
            model's first parameter. Default: ``None``.
        classification: also compute the accuracy (outputs are logits
            ``(N, K)``, targets class ids ``(N,)``). Default: ``True``.

    Returns:
        ``(mean_loss, accuracy)``, averaged over all samples; ``accuracy``
        (in [0, 1]) is ``None`` when ``classification`` is ``False``.

    Raises:
        ValueError: if ``loader`` yields no batches.
    """
    _check_loader("loader", loader)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        outputs = model(inputs)
        total_loss += float(loss_fn(outputs, targets)) * len(inputs)
        correct += _batch_metrics(outputs, targets, classification)
        count += len(inputs)
    model.train(was_training)
    return total_loss / count, (correct / count if classification else None)


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    val_loader: DataLoader | None = None,
    device: torch.device | None = None,
    classification: bool = True,
    progress: bool = True,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    early_stopping: EarlyStopping | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs; returns the per-epoch
    :class:`History`.

    Args:
        model: trained in place, moved to ``device`` (default:
            :func:`course_utils.device.get_device`).
        train_loader: yields ``(inputs, targets)`` training batches; must
            not be empty.
        loss_fn: ``loss_fn(outputs, targets)`` → the batch's mean loss
            (a scalar).
        optimizer: updates ``model``'s parameters once per batch.
        epochs: passes over ``train_loader`` (a positive int), fewer if
            early stopping ends the run.
        val_loader: yields ``(inputs, targets)``; :func:`evaluate` runs on
            it after each epoch. ``None`` skips validation.
            Default: ``None``.
        device: where the model and batches go; ``None`` means
            :func:`course_utils.device.get_device`. Default: ``None``.
        classification: also record accuracy (outputs are logits (N, K),
            targets class ids (N,)). Default: ``True``.
        progress: show a progress bar over batches with the latest losses.
            Default: ``True``.
        transform: applied to each training batch of inputs (N, C, H, W) on
            the device, for example a random augmentation; validation
            batches are not transformed.
        scheduler: stepped after every optimizer step, so its schedule
            counts batches.
        early_stopping: needs ``val_loader``; stops when it says so and
            restores the best epoch's weights (``History.best_epoch``,
            ``History.stopped_epoch``).

    Returns:
        :class:`History` with one entry per epoch trained in each list
        (training loss and accuracy, the learning rate at the epoch's end,
        validation loss and accuracy, the validation lists empty without
        ``val_loader``, accuracies ``None`` for regression) and the wall
        time in ``seconds``.

    Raises:
        ValueError: if ``epochs`` is not a positive int, a loader is empty,
            or ``early_stopping`` is given without ``val_loader``.
    """
    if (
        isinstance(epochs, bool)
        or not isinstance(epochs, int)
        or epochs < 1
    ):
        raise ValueError(
            f"epochs must be a positive integer, got {epochs!r}"
        )
    _check_loader("train_loader", train_loader)
    if val_loader is not None:
        _check_loader("val_loader", val_loader)
    elif early_stopping is not None:
        raise ValueError(
            "early_stopping watches the validation loss: pass a "
            "val_loader too"
        )
    device = device or get_device(verbose=False)
    model.to(device)
    history = History()
    start = time.perf_counter()
    bar = tqdm(
        total=epochs * len(train_loader),
        desc="training",
        unit="batch",
        disable=not progress,
    )
    for epoch in range(1, epochs + 1):
        model.train()
        total_loss, correct, count = 0.0, 0, 0
        for inputs, targets in train_loader:
            inputs, targets = inputs.to(device), targets.to(device)
            if transform is not None:
                inputs = transform(inputs)
            optimizer.zero_grad(set_to_none=True)
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += float(loss.detach()) * len(inputs)
            correct += _batch_metrics(
                outputs.detach(), targets, classification
            )
            count += len(inputs)
            bar.update(1)
        history.train_loss.append(total_loss / count)
        history.train_accuracy.append(
            correct / count if classification else None
        )
        history.learning_rate.append(float(optimizer.param_groups[0]["lr"]))
        summary = {"epoch": epoch, "loss": f"{history.train_loss[-1]:.4g}"}
        if val_loader is not None:
            val_loss, val_accuracy = evaluate(
                model, val_loader, loss_fn, device, classification
            )
            history.val_loss.append(val_loss)
            history.val_accuracy.append(val_accuracy)
            summary["val_loss"] = f"{val_loss:.4g}"
        bar.set_postfix(summary)
        if early_stopping is not None and early_stopping.step(
            history.val_loss[-1], model, epoch - 1
        ):
            history.stopped_epoch = epoch - 1
            break
    bar.close()
    if early_stopping is not None:
        early_stopping.restore(model)
        history.best_epoch = early_stopping.best_epoch
    history.seconds = time.perf_counter() - start
    return history
