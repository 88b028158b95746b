"""Localization and detection on canvases of real digits (chapter 9).

- :func:`make_canvases`: a seeded composition of real MNIST digits on empty
  canvases, each at its own random scale and position, with their tight
  bounding boxes and labels; some canvases are left empty (an image with no
  object is a case a detector must handle).
- :func:`draw_boxes`: boxes, labels and scores drawn on a matplotlib axis.
- :func:`average_precision`: PASCAL VOC / COCO-style mean average precision
  at one IoU threshold, with COCO's greedy matching and 101-point
  interpolation, so that it agrees with ``torchmetrics``'
  ``MeanAveragePrecision`` (which runs COCO's own evaluation code).

Boxes are (x1, y1, x2, y2) in pixels, x to the right and y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from torchvision.ops import box_iou


@dataclass
class Canvases:
    """Canvases (N, 1, size, size) in [0, 1], and per canvas its boxes
    (k, 4) and labels (k,)."""

    images: torch.Tensor
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    description: str


def _tight_box(
    digit: torch.Tensor, threshold: float
) -> tuple[int, int, int, int]:
    rows = torch.nonzero(digit.amax(dim=1) > threshold).flatten()
    cols = torch.nonzero(digit.amax(dim=0) > threshold).flatten()
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def make_canvases(
    images: torch.Tensor,
    labels: torch.Tensor,
    count: int,
    size: int = 56,
    digits: tuple[int, int] = (0, 1),
    scale: tuple[float, float] = (0.7, 1.4),
    max_overlap: float = 0.1,
    ink_threshold: float = 0.3,
    generator: torch.Generator | None = None,
) -> Canvases:
    """``count`` canvases, each holding between ``digits[0]`` and
    ``digits[1]`` digits (uniform).

    Args:
        images: source digits (M, 1, 28, 28) in [0, 1].
        labels: their classes (M,).
        count: number of canvases (≥ 1).
        size: side of the square canvas in pixels.
        digits: smallest and largest number of digits per canvas; 0 allows
            empty canvases.
        scale: range of the zoom applied to each 28 × 28 digit before
            placing it.
        max_overlap: a new digit is re-placed (up to 20 tries) while its box
            has an IoU above this with a box already on the canvas; after 20
            tries the last place is kept.
        ink_threshold: pixels above it count as ink for the tight bounding
            box.
        generator: source of every random choice, so a seed fixes the whole
            set.

    Returns:
        :class:`Canvases` with ``images`` (count, 1, size, size) in [0, 1]
        (where digits touch, the brighter pixel wins), per canvas ``boxes``
        (k, 4) float32 ``(x1, y1, x2, y2)`` and ``labels`` (k,) int64, and a
        one-line ``description``.

    Raises:
        ValueError: if ``images`` is not (M, 1, H, W) with one label each,
            if ``count`` < 1 or ``digits`` is not an ordered pair ≥ 0, or if
            the largest zoomed digit does not fit on the canvas.
    """
    if (
        images.ndim != 4
        or images.shape[1] != 1
        or len(images) != len(labels)
    ):
        raise ValueError(
            "expected images (M, 1, H, W) with one label each, got "
            f"{tuple(images.shape)} and {tuple(labels.shape)}"
        )
    if not 0 <= digits[0] <= digits[1] or count < 1:
        raise ValueError(
            "expected count >= 1 and 0 <= digits[0] <= digits[1], got "
            f"count={count}, digits={digits}"
        )
    largest = round(images.shape[-1] * scale[1])
    if largest > size:
        raise ValueError(
            f"a digit zoomed by {scale[1]} is {largest} pixels, larger "
            f"than the {size}-pixel canvas"
        )
    canvases = torch.zeros(count, 1, size, size)
    all_boxes, all_labels = [], []
    for index in range(count):
        boxes, classes = [], []
        k = int(
            torch.randint(
                digits[0], digits[1] + 1, (1,), generator=generator
            )
        )
        for _ in range(k):
            source = int(
                torch.randint(len(images), (1,), generator=generator)
            )
            zoom = (
                float(torch.rand(1, generator=generator))
                * (scale[1] - scale[0])
                + scale[0]
            )
            side = round(images.shape[-1] * zoom)
            digit = F.interpolate(
                images[source : source + 1],
                size=(side, side),
                mode="bilinear",
                align_corners=False,
            )[0, 0]
            digit = digit.clamp(0, 1)
            x1, y1, x2, y2 = _tight_box(digit, ink_threshold)
            for _attempt in range(20):
                top = int(
                    torch.randint(
                        0, size - side + 1, (1,), generator=generator
                    )
                )
                left = int(
                    torch.randint(
                        0, size - side + 1, (1,), generator=generator
                    )
                )
                box = torch.tensor(
                    [[left + x1, top + y1, left + x2, top + y2]],
                    dtype=torch.float32,
                )
                if (
                    not boxes
                    or box_iou(box, torch.cat(boxes)).max() <= max_overlap
                ):
                    break
            region = canvases[
                index, 0, top : top + side, left : left + side
            ]
            # ink over ink where digits touch
            torch.maximum(region, digit, out=region)
            boxes.append(box)
            classes.append(int(labels[source]))
        all_boxes.append(torch.cat(boxes) if boxes else torch.zeros(0, 4))
        all_labels.append(torch.tensor(classes, dtype=torch.long))
    description = (
        f"{count} canvases of {size} x {size} with "
        f"{digits[0]}-{digits[1]} real digits each, zoomed "
        f"{scale[0]}-{scale[1]}x, placed at random (seeded)"
    )
    return Canvases(canvases, all_boxes, all_labels, description)


def draw_boxes(
    ax: Axes,
    boxes: torch.Tensor,
    labels: torch.Tensor | None = None,
    scores: torch.Tensor | None = None,
    color: str = "lime",
    linestyle: str = "-",
) -> None:
    """Draw (k, 4) corner boxes on ``ax``, captioned with their labels (and
    scores).

    Args:
        ax: the axis the image was shown on with ``imshow`` (pixel centres
            at integer coordinates).
        boxes: (k, 4) boxes ``(x1, y1, x2, y2)`` in pixels, x2 and y2
            exclusive.
        labels: (k,) classes written above each box; ``None`` writes none.
            Default: ``None``.
        scores: (k,) confidences written with two decimals after the label;
            ``None`` writes none. Default: ``None``.
        color: matplotlib colour of the boxes and captions.
            Default: ``"lime"``.
        linestyle: matplotlib line style of the boxes (``"--"`` for dashed).
            Default: ``"-"``.
    """
    from matplotlib.patches import Rectangle

    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        # pixel (i, j) covers [j - 0.5, j + 0.5] in imshow's coordinates
        ax.add_patch(
            Rectangle(
                (x1 - 0.5, y1 - 0.5),
                x2 - x1,
                y2 - y1,
                fill=False,
                edgecolor=color,
                linewidth=1.5,
                linestyle=linestyle,
            )
        )
        caption = "" if labels is None else str(int(labels[i]))
        if scores is not None:
            caption += f" {float(scores[i]):.2f}"
        if caption:
            ax.text(
                x1 - 0.5,
                y1 - 1.5,
                caption.strip(),
                color=color,
                fontsize=10,
                va="bottom",
            )


def _precision_at_recall_points(
    matched: np.ndarray, gt_count: int, points: int = 101
) -> float:
    """Mean interpolated precision at ``points`` evenly spaced recalls.

    Shown in :doc:`/book/09_transfer_detection/transfer_detection`,
    section "Detection: YOLO's idea".

    ``matched`` says, for the detections in decreasing score order, which
    matched a ground-truth box; ``gt_count`` is the number of those boxes.
    """
    true_positives = np.cumsum(matched)
    false_positives = np.cumsum(~matched)
    recall = true_positives / gt_count
    detections = np.maximum(
        true_positives + false_positives, np.finfo(float).eps
    )
    precision = true_positives / detections
    # the best precision at this recall or beyond
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    sampled = []
    for r in np.linspace(0, 1, points):
        index = np.searchsorted(recall, r, side="left")
        sampled.append(precision[index] if index < len(precision) else 0.0)
    return float(np.mean(sampled))


def average_precision(
    predictions: list[dict[str, torch.Tensor]],
    targets: list[dict[str, torch.Tensor]],
    iou_threshold: float = 0.5,
    max_detections: int = 100,
) -> tuple[float, dict[int, float]]:
    """Mean average precision at ``iou_threshold`` (classes with a box).

    Shown in :doc:`/book/09_transfer_detection/transfer_detection`,
    section "Detection: YOLO's idea".

    Args:
        predictions: per image
            ``{"boxes": (d, 4), "scores": (d,), "labels": (d,)}``.
        targets: per image ``{"boxes": (g, 4), "labels": (g,)}``.
        iou_threshold: a detection matches a ground-truth box of its class
            when their IoU is at least this; each ground-truth box matches
            at most one detection.
        max_detections: per image, only the highest-scoring detections count
            (COCO: 100).
    Returns:
        ``(mAP, {class: AP})``. Detections are matched greedily in
        decreasing score order within each image, to the unmatched box of
        highest IoU; precision is made monotone and averaged at 101 recall
        points (0, 0.01, ..., 1), as COCO does.
    """
    if len(predictions) != len(targets):
        raise ValueError(
            f"{len(predictions)} predictions for {len(targets)} images: "
            "expected one entry per image"
        )
    classes = sorted({int(c) for t in targets for c in t["labels"]})
    per_class: dict[int, float] = {}
    for cls in classes:
        scores, matched, gt_count = [], [], 0
        for prediction, target in zip(predictions, targets):
            gt = target["boxes"][target["labels"] == cls]
            gt_count += len(gt)
            keep = prediction["labels"] == cls
            boxes = prediction["boxes"][keep]
            image_scores = prediction["scores"][keep]
            order = torch.argsort(
                image_scores, descending=True, stable=True
            )
            order = order[:max_detections]
            boxes, image_scores = boxes[order], image_scores[order]
            taken = torch.zeros(len(gt), dtype=torch.bool)
            if len(gt) and len(boxes):
                ious = box_iou(boxes, gt)
            else:
                ious = torch.zeros(len(boxes), len(gt))
            for d in range(len(boxes)):
                best, best_iou = -1, iou_threshold
                for g in range(len(gt)):
                    if not taken[g] and ious[d, g] >= best_iou:
                        best, best_iou = g, float(ious[d, g])
                if best >= 0:
                    taken[best] = True
                scores.append(float(image_scores[d]))
                matched.append(best >= 0)
        if not scores:
            per_class[cls] = 0.0
            continue
        order = np.argsort(-np.array(scores), kind="stable")
        in_order = np.array(matched, dtype=bool)[order]
        per_class[cls] = _precision_at_recall_points(in_order, gt_count)
    if not per_class:
        return float("nan"), per_class
    return float(np.mean(list(per_class.values()))), per_class
