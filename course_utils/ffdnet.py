"""FFDNet, the fast and flexible denoiser of Zhang, Zuo and Zhang (chapter
6).

DnCNN's next step. FFDNet folds the noisy image into four half-resolution
sub-images (pixel unshuffle), appends a *noise level map* (:math:`\\sigma`
at every pixel), runs the same kind of conv-BN-ReLU stack at half resolution
and unfolds the result (pixel shuffle). Working on a quarter of the pixels
makes every layer about 4x cheaper and doubles the receptive field; the
noise map makes one network serve every noise level with the level given, as
BM3D is given it.

As in the course's :class:`~course_utils.dncnn.DnCNN`, the layers estimate
the noise of the sub-images and the model subtracts it (the paper's FFDNet
outputs the clean sub-images; the course keeps residual learning, which
makes the untrained model the identity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.dncnn import init_residual_stack_


def noise_level_map(
    sigma: float | torch.Tensor, like: torch.Tensor
) -> torch.Tensor:
    """A ``(N, 1, H, W)`` map of ``sigma``/255 for ``like``, (N, C, H, W).

    Raises:
        ValueError: if ``sigma`` is negative or holds neither one value nor
            one per image.
    """
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    sigma = sigma.flatten()
    if sigma.numel() not in (1, like.shape[0]):
        raise ValueError(
            "sigma must be one value or one per image "
            f"({like.shape[0]}), got {sigma.numel()}"
        )
    if torch.any(sigma < 0):
        raise ValueError(
            "sigma must be non-negative (0-255 scale), "
            f"got {sigma.tolist()}"
        )
    level = (sigma / 255.0).view(-1, 1, 1, 1)
    return level.expand(like.shape[0], 1, like.shape[2], like.shape[3])


class FFDNet(nn.Module):
    """FFDNet: a DnCNN-like stack on four sub-images and a noise level map.

    Shown in :doc:`/book/06_autoencoders_dncnn/dncnn`,
    section "FFDNet: a quarter of the pixels".

    Args:
        depth: conv layers (≥ 3): conv-ReLU, ``depth`` - 2 times
            conv-BN-ReLU, conv. Default: 15 (the paper's gray-scale model).
        channels: filters in every layer but the last. Default: 64.
        image_channels: channels of the images (1 grey, 3 colour).
            Default: 1.

    Raises:
        ValueError: if ``depth`` < 3 or a channel count is below 1.

    Shape:
        - Input: ``noisy`` ``(N, image_channels, H, W)`` in [0, 1], any H
          and W (odd sizes are padded by replicating the last row or
          column, then cropped back), and ``sigma`` on the 0-255 scale:
          one number or a tensor of shape ``(N,)``.
        - Output: ``(N, image_channels, H, W)``, the denoised images (not
          clipped).
    """

    def __init__(
        self, depth: int = 15, channels: int = 64, image_channels: int = 1
    ) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(
                "FFDNet needs at least 3 layers (first, middle, last), "
                f"got depth={depth}"
            )
        if channels < 1 or image_channels < 1:
            raise ValueError(
                "channels and image_channels must be positive, "
                f"got {channels} and {image_channels}"
            )
        self.depth, self.image_channels = depth, image_channels
        sub_images = 4 * image_channels
        layers: list[nn.Module] = [
            # the sub-images and the noise level map
            nn.Conv2d(sub_images + 1, channels, 3, padding=1),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            layers.append(
                nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            )
            layers.append(nn.BatchNorm2d(channels))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(channels, sub_images, 3, padding=1))
        self.layers = nn.Sequential(*layers)
        # DnCNN's start: He init, a zero output layer (the untrained
        # model returns its input), zero biases
        init_residual_stack_(self.layers)

    def forward(
        self, noisy: torch.Tensor, sigma: float | torch.Tensor
    ) -> torch.Tensor:
        if noisy.ndim != 4 or noisy.shape[1] != self.image_channels:
            raise ValueError(
                "FFDNet expects images of shape "
                f"(batch, {self.image_channels}, height, width), "
                f"got {tuple(noisy.shape)}"
            )
        height, width = noisy.shape[-2:]
        # an odd side gets one replicated row or column, cropped at the end
        padding = (0, width % 2, 0, height % 2)
        padded = F.pad(noisy, padding, mode="replicate")
        sub_images = F.pixel_unshuffle(padded, 2)
        level = noise_level_map(sigma, sub_images)
        inputs = torch.cat([sub_images, level], dim=1)
        estimated_noise = self.layers(inputs)
        denoised = F.pixel_shuffle(sub_images - estimated_noise, 2)
        return denoised[..., :height, :width]
