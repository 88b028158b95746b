"""Figures every chapter draws: image grids, feature maps, training
curves."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from course_utils.train import History


def to_display_array(image: Any) -> np.ndarray:
    """A tensor or array as something ``imshow`` draws: (H, W) or (H, W, 3)
    numpy.

    Accepts (H, W), (H, W, C) and, from torch, (C, H, W) or (1, C, H, W)
    with C = 1 or 3.
    """
    if hasattr(image, "detach"):  # a torch tensor: channels first
        array = image.detach().cpu().float().numpy()
        if array.ndim == 4 and array.shape[0] == 1:
            array = array[0]
        if array.ndim == 3:
            array = np.moveaxis(array, 0, -1)
    else:
        array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (
        array.ndim == 3 and array.shape[-1] not in (3, 4)
    ):
        raise ValueError(
            f"cannot show an array of shape {array.shape} as an image; "
            "expected (H, W), (H, W, 3) or a torch tensor (C, H, W) with "
            "C = 1 or 3"
        )
    return array


# The widest figure the book shows at (nearly) its natural size. The text
# column is 688 px (Chromium, 1280 px window); the inline backend draws at
# 100 dpi, so an 8.5 in figure is shown at >= 80 % and its 10 pt labels at
# >= 11 px (tests/test_book.py measures this).
MAX_FIGURE_WIDTH = 8.5


def _grid(
    n: int, ncols: int | None, size: float
) -> tuple[Figure, np.ndarray]:
    ncols = max(1, min(n, ncols or n))
    nrows = math.ceil(n / ncols)
    # wider grids would be shrunk on the page
    size = min(size, MAX_FIGURE_WIDTH / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def show_images(
    images: Sequence[Any],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    cmap: str = "gray",
    size: float = 2.5,
    suptitle: str | None = None,
    **imshow_kwargs: Any,
) -> Figure:
    """Draw images in a grid with optional titles; returns the figure.

    Each image is ``size`` inches square, less when ``ncols`` of them would
    be wider than ``MAX_FIGURE_WIDTH`` (the page would shrink the figure and
    its titles with it).

    Args:
        images: arrays or tensors, each (H, W) or (H, W, C), or from torch
            (C, H, W) or (1, C, H, W) with C = 1 or 3, as
            :func:`to_display_array` accepts them.
        titles: one title per image, or None for none.
        ncols: images per row; default all in one row.
        cmap: colormap for one-channel images.
        size: side of each panel in inches, before the width cap.
        suptitle: a title above the whole grid.
        **imshow_kwargs: passed to ``Axes.imshow`` (``vmin``, ``vmax`` ...).

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: no images, or not one title per image.
    """
    if len(images) == 0:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(
            f"got {len(titles)} titles for {len(images)} images"
        )
    fig, axes = _grid(len(images), ncols, size)
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        ax.imshow(to_display_array(image), cmap=cmap, **imshow_kwargs)
        if titles is not None:
            ax.set_title(titles[i])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_feature_maps(
    feature_maps: Any,
    ncols: int = 8,
    max_maps: int = 32,
    cmap: str = "viridis",
    title: str | None = None,
) -> Figure:
    """Draw the channels of a (C, H, W) or (1, C, H, W) activation volume
    side by side.

    Args:
        feature_maps: a tensor or array of shape (C, H, W) or (1, C, H, W).
        ncols: maps per row.
        max_maps: how many channels to show, the first ones.
        cmap: colormap of every map.
        title: a title above the grid.

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: the volume is not (C, H, W) or (1, C, H, W).
    """
    maps = (
        feature_maps.detach().cpu().float().numpy()
        if hasattr(feature_maps, "detach")
        else np.asarray(feature_maps)
    )
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(
            "feature maps must have shape (C, H, W) or (1, C, H, W), got "
            f"{maps.shape}"
        )
    shown = maps[:max_maps]
    return show_images(
        list(shown),
        [f"channel {c}" for c in range(len(shown))],
        ncols=ncols,
        cmap=cmap,
        size=min(2.5, MAX_FIGURE_WIDTH / max(1, min(ncols, len(shown)))),
        suptitle=title,
    )


def plot_history(history: History, title: str | None = None) -> Figure:
    """Loss (and accuracy, when recorded) per epoch for training and
    validation."""
    has_accuracy = any(v is not None for v in history.train_accuracy)
    fig, axes = plt.subplots(
        1,
        2 if has_accuracy else 1,
        figsize=(MAX_FIGURE_WIDTH if has_accuracy else 5, 3.5),
        squeeze=False,
    )
    epochs = range(1, len(history.train_loss) + 1)
    panels = [("loss", history.train_loss, history.val_loss)]
    if has_accuracy:
        panels.append(
            ("accuracy", history.train_accuracy, history.val_accuracy)
        )
    for ax, (name, train_values, val_values) in zip(axes.flat, panels):
        ax.plot(epochs, train_values, marker="o", label=f"training {name}")
        if val_values:
            ax.plot(
                epochs, val_values, marker="s", label=f"validation {name}"
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
