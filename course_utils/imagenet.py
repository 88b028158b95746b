"""ImageNet: the challenge's results, today's models' figures, and their
weights offline (chapters 7 and 9).

- :data:`ILSVRC_TOP5_ACCURACY`: the ILSVRC classification results the
  chapter plots, as collected in published course notes, each with its
  source paper.
- :func:`torchvision_weights_table`: accuracy, parameters and GFLOPS of
  torchvision's ImageNet weights, read from the weights enums' metadata (no
  download).
- :func:`load_imagenet_classifier`: a torchvision model with its ImageNet
  weights from the torch hub cache (or a download where the network allows),
  plus the enum's preprocessing and class names; a ``RuntimeError`` that
  says where it looked otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

IMAGENET_CLASSES = 1000
IMAGENET_IMAGES = {
    "train": 1_281_167,
    "validation": 50_000,
    "test": 100_000,
}
WEIGHTS_HOST = "download.pytorch.org"

#: ILSVRC results as (year, network, top-5 accuracy in %, place, source).
ILSVRC_TOP5_ACCURACY: tuple[tuple[int, str, float, str, str], ...] = (
    (
        2012,
        "AlexNet",
        84.6,
        "winner",
        "Krizhevsky, Sutskever & Hinton (2012)",
    ),
    (2013, "ZFNet", 85.3, "winner's network", "Zeiler & Fergus (2014)"),
    (2014, "VGG", 92.0, "runner-up", "Simonyan & Zisserman (2015)"),
    (2014, "GoogLeNet", 92.2, "winner", "Szegedy et al. (2015)"),
    (2015, "ResNet", 94.29, "winner", "He et al. (2016)"),
)


def torchvision_weights_table(
    models: tuple[str, ...] = (
        "alexnet",
        "vgg16",
        "googlenet",
        "resnet18",
        "resnet50",
        "densenet121",
        "efficientnet_b0",
        "vit_b_16",
    ),
) -> Any:
    """A pandas DataFrame of torchvision's default ImageNet weights for
    ``models``: top-1 and top-5 accuracy (%), parameters (millions) and
    GFLOPS, from each weights enum's ``meta``."""
    import pandas as pd
    from torchvision.models import get_model_weights

    rows = []
    for name in models:
        weights = get_model_weights(name).DEFAULT
        metrics = weights.meta["_metrics"]["ImageNet-1K"]
        rows.append(
            {
                "model": name,
                "weights": str(weights).split(".")[-1],
                "top-1 accuracy": metrics["acc@1"],
                "top-5 accuracy": metrics["acc@5"],
                "parameters (M)": weights.meta["num_params"] / 1e6,
                "GFLOPS": weights.meta["_ops"],
            }
        )
    return pd.DataFrame(rows).set_index("model")


def weights_checkpoint(weights: Any) -> Path:
    """Where ``torch.hub`` keeps the file of a torchvision weights enum
    member."""
    return (
        Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    )


def require_weights(
    weights: Any, label: str, allow_download: bool | None = None
) -> str:
    """Check that ``weights`` can be loaded: cached, or downloadable here;
    say which (chapters 7 and 9).

    ``allow_download=None`` asks
    :func:`course_utils.data.network_allows_download`. Raises
    ``RuntimeError`` naming the cache path when the weights are neither
    cached nor downloadable.
    """
    from course_utils.data import network_allows_download

    checkpoint = weights_checkpoint(weights)
    if checkpoint.is_file():
        return f"read from the torch hub cache {checkpoint}"
    if allow_download is None:
        allow_download = network_allows_download(WEIGHTS_HOST)
    if not allow_download:
        raise RuntimeError(
            f"{label} ImageNet weights are not in the torch hub cache "
            f"({checkpoint}) and downloading is not allowed here"
        )
    return f"downloaded to {checkpoint}"


@dataclass
class ImageNetClassifier:
    """A pretrained model in eval mode, its preprocessing, its class
    names and where it came from."""

    model: nn.Module
    preprocess: Any
    categories: list[str]
    description: str


def load_imagenet_classifier(
    name: str = "resnet18", allow_download: bool | None = None
) -> ImageNetClassifier:
    """torchvision's ``name`` with its default ImageNet weights, from the
    hub cache or a download.

    ``allow_download=None`` asks
    :func:`course_utils.data.network_allows_download`. Raises
    ``RuntimeError`` naming the cache path when the weights are neither
    cached nor downloadable.
    """
    from torchvision.models import get_model, get_model_weights

    weights = get_model_weights(name).DEFAULT
    how = require_weights(weights, name, allow_download)
    model = get_model(name, weights=weights).eval()
    return ImageNetClassifier(
        model,
        weights.transforms(),
        list(weights.meta["categories"]),
        f"torchvision {name} {weights} ({how})",
    )
