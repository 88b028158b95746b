"""Is a classifier's confidence its accuracy? Reliability diagrams, ECE and
temperature scaling (chapter 8).

A classifier is *calibrated* when, among the predictions it makes with
confidence about 0.8, about 80 % are right. :func:`reliability` sorts
predictions into confidence bins and compares each bin's mean confidence
with its accuracy; the expected calibration error (ECE, Guo et al. 2017) is
the count-weighted mean gap. :func:`fit_temperature` finds the single
temperature :math:`T` that makes ``softmax(logits / T)`` best calibrated on
held-out data (minimum negative log-likelihood), without changing any
prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes


@dataclass
class Reliability:
    """Per-bin mean confidence, accuracy and count (empty bins hold NaN),
    and the ECE."""

    edges: np.ndarray  # (bins + 1,)
    confidence: np.ndarray  # (bins,)
    accuracy: np.ndarray  # (bins,)
    count: np.ndarray  # (bins,)
    ece: float


def _check(probabilities: torch.Tensor, labels: torch.Tensor) -> None:
    if probabilities.ndim != 2 or labels.shape != probabilities.shape[:1]:
        raise ValueError(
            "expected probabilities (N, K) and labels (N,), got "
            f"{tuple(probabilities.shape)} and {tuple(labels.shape)}"
        )
    if len(labels) == 0:
        raise ValueError("no predictions to bin")


def reliability(
    probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 10
) -> Reliability:
    """Reliability diagram and ECE of the top-class confidence.

    Shown in :doc:`/book/08_training/training`,
    section "Can the probabilities be trusted?".

    The top-class confidences of ``probabilities`` (N, K) go into ``bins``
    equal-width bins of (0, 1].
    """
    _check(probabilities, labels)
    if bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins}")
    confidence, predicted = probabilities.detach().double().max(dim=1)
    correct = (predicted == labels).double()
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin i holds confidences in (edges[i], edges[i+1]]; a confidence of
    # exactly 0 cannot occur
    index = torch.ceil(confidence * bins).long() - 1
    index = torch.clamp(index, 0, bins - 1)
    count = torch.bincount(index, minlength=bins).double()
    confidence_sum = torch.bincount(index, confidence, minlength=bins)
    correct_sum = torch.bincount(index, correct, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = (confidence_sum / count).numpy()
        accuracy = (correct_sum / count).numpy()
    gaps = np.abs(mean_confidence - accuracy)
    gaps = np.nan_to_num(gaps) * count.numpy()
    ece = float(gaps.sum() / len(labels))
    counts = count.numpy().astype(int)
    return Reliability(edges, mean_confidence, accuracy, counts, ece)


def fit_temperature(
    logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 200
) -> float:
    """The temperature T > 0 minimizing the cross-entropy of softmax(z / T).

    Shown in :doc:`/book/08_training/training`,
    section "Can the probabilities be trusted?".

    Fit it on held-out data (the validation set), not the training set.
    """
    _check(logits, labels)
    logits = logits.detach().double()
    # T = exp(log_t) stays positive
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        temperature = log_t.exp()
        loss = F.cross_entropy(logits / temperature, labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def plot_reliability(
    diagrams: dict[str, Reliability], ax: Axes | None = None
) -> Axes:
    """Accuracy against confidence per bin for each labelled diagram,
    with the diagonal of perfect calibration."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(
        [0, 1],
        [0, 1],
        color="0.6",
        linestyle="--",
        label="perfectly calibrated",
    )
    for label, diagram in diagrams.items():
        filled = diagram.count > 0
        ax.plot(
            diagram.confidence[filled],
            diagram.accuracy[filled],
            marker="o",
            label=f"{label} (ECE {diagram.ece:.3f})",
        )
    ax.set(
        xlabel="confidence (top-class probability)",
        ylabel="accuracy",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left", fontsize="small")
    return ax
