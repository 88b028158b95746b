"""DnCNN, the residual denoiser of Zhang et al. (2017) (chapter 6).

The architecture: ``depth`` layers of 3x3 convolutions with ``channels``
filters, ReLU, no pooling; batch normalization in layers 2 .. depth-1; and
*residual learning*: the layers estimate the noise :math:`R(J) \\approx J -
I` and the denoiser returns :math:`J - R(J)`. With depth :math:`D` the
receptive field is :math:`(2D+1)^2` pixels.

Training and checkpoints are in :mod:`course_utils.denoiser_training`, the
noise in :mod:`course_utils.noise`, the patches in
:mod:`course_utils.patches`, and denoising a whole image with a trained
model in :func:`course_utils.denoise.denoise_image`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from course_utils import conv


def stack_receptive_field(depth: int, kernel_size: int = 3) -> int:
    """Side of the receptive field of ``depth`` stacked stride-1 convs:
    2D+1 for 3x3."""
    if depth < 1 or kernel_size < 1:
        raise ValueError(
            f"depth and kernel_size must be positive, got depth={depth}, "
            f"kernel_size={kernel_size}"
        )
    return conv.receptive_field([(kernel_size, 1)] * depth)


def init_residual_stack_(layers: nn.Sequential) -> None:
    """He init for every conv of ``layers`` but the last, which starts at
    zero; zero biases.

    DnCNN and :class:`~course_utils.ffdnet.FFDNet` start this way. A zero
    output layer makes the untrained residual model the identity (it returns
    the noisy input), so training starts at the noisy image's PSNR instead
    of far below it; on the 17-layer DnCNN this reached 28 dB at sigma 25 in
    150 iterations, He init 21 dB.
    """
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    for conv_layer in convs[:-1]:
        nn.init.kaiming_normal_(conv_layer.weight, nonlinearity="relu")
    nn.init.zeros_(convs[-1].weight)
    for conv_layer in convs:
        if conv_layer.bias is not None:
            nn.init.zeros_(conv_layer.bias)


class DnCNN(nn.Module):
    """Denoising CNN: ``forward`` denoises, :meth:`noise` estimates noise.

    Shown in :doc:`/book/06_autoencoders_dncnn/dncnn`,
    section "The architecture".

    ``batch_norm`` and ``residual`` switch off the paper's two ideas for the
    ablation: without ``residual`` the same layers must output the clean
    image directly.

    Args:
        depth: D, the number of 3x3 conv layers (≥ 3): conv-ReLU, D - 2
            times conv-BN-ReLU, conv. Default: 17 (the paper's gray-scale
            model).
        channels: filters in every layer but the last. Default: 64.
        image_channels: channels of the input and output images
            (1 grey, 3 colour). Default: 1.
        batch_norm: batch normalization in layers 2 .. D-1 (their convs
            then have no bias). Default: ``True``.
        residual: the layers estimate the noise and ``forward`` subtracts
            it from the input; ``False``: they output the clean image.
            Default: ``True``.

    Raises:
        ValueError: if ``depth`` < 3 or a channel count is below 1.

    Shape:
        - Input: ``(N, image_channels, H, W)``, noisy images in [0, 1]
          (any H and W).
        - Output: ``(N, image_channels, H, W)``, the denoised images
          (not clipped).
    """

    def __init__(
        self,
        depth: int = 17,
        channels: int = 64,
        image_channels: int = 1,
        batch_norm: bool = True,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(
                "DnCNN needs at least 3 layers (first, middle, last), "
                f"got depth={depth}"
            )
        if channels < 1 or image_channels < 1:
            raise ValueError(
                "channels and image_channels must be positive, "
                f"got {channels} and {image_channels}"
            )
        self.depth, self.residual = depth, residual
        layers: list[nn.Module] = [
            nn.Conv2d(image_channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            # a conv followed by BN needs no bias: BN's shift replaces it
            layers.append(
                nn.Conv2d(
                    channels, channels, 3, padding=1, bias=not batch_norm
                )
            )
            if batch_norm:
                layers.append(nn.BatchNorm2d(channels))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(channels, image_channels, 3, padding=1))
        self.layers = nn.Sequential(*layers)
        init_residual_stack_(self.layers)

    def noise(self, noisy: torch.Tensor) -> torch.Tensor:
        """The estimated noise :math:`R(J)` (residual models only)."""
        if not self.residual:
            raise RuntimeError(
                "this DnCNN was built with residual=False: "
                "its layers estimate the clean image"
            )
        return self.layers(noisy)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        if noisy.ndim != 4:
            raise ValueError(
                "DnCNN expects images of shape "
                "(batch, channels, height, width), "
                f"got {tuple(noisy.shape)}"
            )
        out = self.layers(noisy)
        return noisy - out if self.residual else out


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """An inference copy of ``model`` with every BatchNorm folded into the
    convolution before it.

    In eval mode BN is a fixed per-channel affine map, so it can be merged
    into the conv's weights and bias: the copy computes the same outputs (to
    float rounding) with one pass over the feature maps fewer per BN layer
    (15 in DnCNN-17). ``model`` is left unchanged.
    """
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module)
        for index in range(len(children) - 1):
            conv_layer, norm = children[index], children[index + 1]
            if isinstance(conv_layer, nn.Conv2d) and isinstance(
                norm, nn.BatchNorm2d
            ):
                module[index] = fuse_conv_bn_eval(conv_layer, norm)
                module[index + 1] = nn.Identity()
    return folded
