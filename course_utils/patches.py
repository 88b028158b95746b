"""Training patches for chapter 6's denoisers, and which photos they may
come from.

The five photos the chapter evaluates on are held out:
:func:`load_training_images` refuses them (and ``cat``, the same photo as
``chelsea``), and the tests check that no training photo equals one of them
pixel for pixel, whatever package ships it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

#: The chapter's test images, never used for training (``cat`` is the same
#: photo as ``chelsea``).
HELD_OUT_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "coins")
#: Every real photo and texture that installed packages ship
#: (:mod:`course_utils.data`), except the held-out five and ``retina`` (a
#: 1411 x 1411 fundus photo, mostly dark and smooth, that would be a quarter
#: of the patches). The FFDNet checkpoint's last phase was trained on these;
#: its first two had the 19 before ``barbara``.
TRAINING_PHOTOS = (
    "brick",
    "grass",
    "gravel",
    "moon",
    "page",
    "text",
    "clock",
    "rocket",
    "cell",
    "hubble_deep_field",
    "immunohistochemistry",
    "microaneurysms",
    "motorcycle_left",
    "motorcycle_right",
    "china",
    "flower",
    "aero",
    "ascent",
    "grace_hopper",
    "barbara",
    "kodim23",
    "monarch",
    "sail",
    "tulips",
    "luispedro",
)


class PatchSampler:
    """Random training patches: a random image and scale, a random crop, one
    of the 8 flips/rotations.

    Images are (H, W) arrays in [0, 1]. Each image is picked with
    probability proportional to its area, so every pixel is equally likely
    to be seen.

    Args:
        images: gray-scale training images, each an ``(H, W)`` array in
            [0, 1].
        patch_size: side of the square patches in pixels. Default: 40
            (the paper's).
        scales: resize factors of the image pyramid (antialiased bilinear);
            a scaled image smaller than a patch is left out.
            Default: ``(1.0, 0.9, 0.8, 0.7)``.
        seed: seed of the sampler's own ``torch.Generator``. Default: 0.

    Raises:
        ValueError: if ``images`` is empty, an image is not 2-D, or no
            scaled image holds a patch.
    """

    def __init__(
        self,
        images: list[np.ndarray],
        patch_size: int = 40,
        scales: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7),
        seed: int = 0,
    ) -> None:
        if not images:
            raise ValueError(
                "PatchSampler needs at least one training image"
            )
        self.patch_size = patch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.pyramid: list[torch.Tensor] = []
        for image in images:
            if image.ndim != 2:
                raise ValueError(
                    "training images must be gray-scale (H, W), got "
                    f"shape {image.shape}"
                )
            tensor = torch.from_numpy(
                np.ascontiguousarray(image, dtype=np.float32)
            )[None, None]
            for scale in scales:
                size = (
                    round(tensor.shape[-2] * scale),
                    round(tensor.shape[-1] * scale),
                )
                if min(size) < patch_size:
                    continue
                resized = (
                    tensor
                    if scale == 1.0
                    else F.interpolate(
                        tensor,
                        size=size,
                        mode="bilinear",
                        antialias=True,
                        align_corners=False,
                    )
                )
                self.pyramid.append(resized[0, 0].clamp(0, 1))
        if not self.pyramid:
            raise ValueError(
                "every training image is smaller than the "
                f"{patch_size}-pixel patch size"
            )
        areas = torch.tensor([float(p.numel()) for p in self.pyramid])
        self.weights = areas / areas.sum()

    def sample(self, count: int) -> torch.Tensor:
        """``count`` patches of shape (count, 1, patch_size, patch_size)."""
        p = self.patch_size
        picks = torch.multinomial(
            self.weights, count, replacement=True, generator=self.generator
        )
        patches = []
        for index in picks.tolist():
            image = self.pyramid[index]
            top = int(
                torch.randint(
                    image.shape[0] - p + 1, (1,), generator=self.generator
                )
            )
            left = int(
                torch.randint(
                    image.shape[1] - p + 1, (1,), generator=self.generator
                )
            )
            patch = image[top : top + p, left : left + p]
            turns, flip = (
                int(v)
                for v in torch.randint(4, (2,), generator=self.generator)
            )
            patch = torch.rot90(patch, turns)
            patches.append(patch.flip(1) if flip % 2 else patch)
        return torch.stack(patches)[:, None].contiguous()


def load_training_images(
    names: tuple[str, ...] = TRAINING_PHOTOS,
) -> list[np.ndarray]:
    """The training photos as gray-scale float arrays; refuses any
    held-out image."""
    from course_utils.data import load_image

    overlap = set(names) & {*HELD_OUT_IMAGES, "cat"}
    if overlap:
        raise ValueError(
            f"{sorted(overlap)} are held out for evaluation and must not "
            "be trained on"
        )
    return [load_image(name, gray=True, verbose=False) for name in names]
