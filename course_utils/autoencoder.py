"""Convolutional autoencoders for 28x28 digits, with four ways to upsample
(chapter 6).

The encoder halves the image twice (conv, ReLU, 2x2 max pool, twice) to a
code of ``code_channels`` x 7 x 7; the decoder mirrors it (upsample, conv,
ReLU, twice) and a last 3x3 convolution with a sigmoid returns the image.
``upsampling`` picks how the decoder doubles the size:

- ``"nearest"``: pixel replication;
- ``"max_unpool"``: each value goes back where its pooling maximum came
  from, zeros elsewhere (the encoder's pooling indices travel with the
  code);
- ``"bilinear"``: interpolation;
- ``"transposed"``: a learned 2x2 transposed convolution with stride 2.

With ``code_channels=32`` and ``"nearest"`` this is chapter 6's denoising
autoencoder: 32 filters of 3x3 in every layer, a 7x7x32 = 1,568-number code,
28,353 parameters.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Upsampling = Literal["nearest", "max_unpool", "bilinear", "transposed"]
UPSAMPLINGS: tuple[Upsampling, ...] = (
    "nearest",
    "max_unpool",
    "bilinear",
    "transposed",
)


def _upsample(kind: Upsampling, channels: int) -> nn.Module:
    if kind == "nearest":
        return nn.Upsample(scale_factor=2, mode="nearest")
    if kind == "bilinear":
        return nn.Upsample(
            scale_factor=2, mode="bilinear", align_corners=False
        )
    if kind == "transposed":
        return nn.ConvTranspose2d(
            channels, channels, kernel_size=2, stride=2
        )
    return nn.MaxUnpool2d(2)


class ConvAutoencoder(nn.Module):
    """Encoder (conv, ReLU, pool) x 2 to ``code_channels`` x 7 x 7; mirrored
    decoder; sigmoid output.

    Args:
        code_channels: channels of the code (the second conv's output).
            Default: 32.
        upsampling: how the decoder doubles H and W: ``"nearest"``,
            ``"max_unpool"``, ``"bilinear"`` or ``"transposed"`` (see the
            module docstring). Default: ``"nearest"``.
        hidden_channels: channels of the first conv and of the two decoder
            convs. Default: 32.
        image_channels: channels of the input and output images. Default: 1
            (grey).

    Raises:
        ValueError: for an unknown ``upsampling`` or a channel count below
            1.

    Shape:
        - Input: ``(N, image_channels, H, W)`` with H and W divisible by 4
          (28x28 digits give a 7x7 code).
        - Output: ``(N, image_channels, H, W)``, values in (0, 1).
    """

    def __init__(
        self,
        code_channels: int = 32,
        upsampling: Upsampling = "nearest",
        hidden_channels: int = 32,
        image_channels: int = 1,
    ) -> None:
        super().__init__()
        if upsampling not in UPSAMPLINGS:
            raise ValueError(
                f"upsampling must be one of {', '.join(UPSAMPLINGS)}, got "
                f"{upsampling!r}"
            )
        if code_channels < 1 or hidden_channels < 1:
            raise ValueError(
                "channel counts must be positive, got "
                f"code={code_channels}, hidden={hidden_channels}"
            )
        self.upsampling = upsampling
        unpool = upsampling == "max_unpool"
        self.conv1 = nn.Conv2d(
            image_channels, hidden_channels, 3, padding=1
        )
        self.pool1 = nn.MaxPool2d(2, return_indices=unpool)
        self.conv2 = nn.Conv2d(hidden_channels, code_channels, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2, return_indices=unpool)
        self.up1 = _upsample(upsampling, code_channels)
        self.conv3 = nn.Conv2d(code_channels, hidden_channels, 3, padding=1)
        self.up2 = _upsample(upsampling, hidden_channels)
        self.conv4 = nn.Conv2d(
            hidden_channels, hidden_channels, 3, padding=1
        )
        self.output = nn.Conv2d(
            hidden_channels, image_channels, 3, padding=1
        )
        self.relu = nn.ReLU()
        self._indices: tuple[torch.Tensor, torch.Tensor] | None = None

    def _pool(
        self, pool: nn.MaxPool2d, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = pool(x)
        return out if isinstance(out, tuple) else (out, None)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The code, (B, code_channels, H/4, W/4). For max-unpooling,
        remembers the pooling indices."""
        if images.ndim != 4 or images.shape[-1] % 4 or images.shape[-2] % 4:
            raise ValueError(
                "expected images of shape (batch, channels, H, W) with H "
                f"and W divisible by 4, got {tuple(images.shape)}"
            )
        x, indices1 = self._pool(self.pool1, self.relu(self.conv1(images)))
        code, indices2 = self._pool(self.pool2, self.relu(self.conv2(x)))
        self._indices = (
            (indices1, indices2) if indices1 is not None else None
        )
        return code

    def _up(
        self,
        layer: nn.Module,
        x: torch.Tensor,
        indices: torch.Tensor | None,
    ) -> torch.Tensor:
        if isinstance(layer, nn.MaxUnpool2d):
            if indices is None or indices.shape != x.shape:
                raise RuntimeError(
                    "max-unpooling needs the pooling indices of the same "
                    "batch: call encode() first"
                )
            return layer(x, indices)
        return layer(x)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from a code."""
        indices1, indices2 = (
            self._indices if self._indices is not None else (None, None)
        )
        x = self.relu(self.conv3(self._up(self.up1, code, indices2)))
        x = self.relu(self.conv4(self._up(self.up2, x, indices1)))
        return torch.sigmoid(self.output(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))


def code_sparsity(codes: torch.Tensor, threshold: float = 1e-3) -> float:
    """Fraction of code entries whose magnitude is at most ``threshold``
    (ReLU codes have exact zeros)."""
    return float((codes.abs() <= threshold).float().mean())
