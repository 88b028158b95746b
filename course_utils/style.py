"""Gram matrices and the style and content losses (chapter 7).

The notation follows Gatys et al. (2015). For layer :math:`l` with
:math:`N_l` filters and feature maps of :math:`M_l` positions, :math:`F^l`
is the :math:`N_l \\times M_l` matrix of responses and the Gram matrix is
:math:`G^l_{ij} = \\sum_k F^l_{ik} F^l_{jk}` (no normalization). The losses
are

.. math::

    E_\\text{style} = \\tfrac14 \\sum_l \\frac{w_l}{N_l^2 M_l^2}
    \\sum_{ij} (G^l_{ij} - A^l_{ij})^2, \\qquad
    E_\\text{content} = \\tfrac12 \\sum_{ik}
    (F^l_{ik}(x) - F^l_{ik}(x_c))^2,

and :math:`E_\\text{total} = \\alpha E_\\text{content} + \\beta
E_\\text{style}`.

The losses are plain modules that take the ``dict`` of named feature maps an
extractor of :mod:`course_utils.features` returns;
:mod:`course_utils.synthesis` optimizes the pixels.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from course_utils.features import check_images


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Batched Gram matrices :math:`G_{ij} = \\sum_k F_{ik} F_{jk}`: (B,
    N, H, W) -> (B, N, N)."""
    if features.ndim != 4:
        raise ValueError(
            "feature maps must have shape (batch, filters, height, "
            f"width), got {tuple(features.shape)}"
        )
    flat = features.flatten(2)  # (B, N, M)
    return flat @ flat.transpose(1, 2)


def style_layer_loss(
    gram: torch.Tensor, target_gram: torch.Tensor, map_size: int
) -> torch.Tensor:
    """One layer's term :math:`\\frac{1}{4 N^2 M^2} \\sum_{ij} (G_{ij} -
    A_{ij})^2`, summed over the batch."""
    if gram.shape[-2:] != target_gram.shape[-2:]:
        raise ValueError(
            f"Gram matrices differ in shape: {tuple(gram.shape)} vs "
            f"target {tuple(target_gram.shape)}"
        )
    n_filters = gram.shape[-1]
    return (gram - target_gram).pow(2).sum() / (
        4 * n_filters**2 * map_size**2
    )


class StyleLoss(nn.Module):
    """:math:`E_\\text{style}` against fixed target features.

    Shown in :doc:`/book/07_style_transfer/style_transfer`,
    section "The Gram matrix: what it keeps and what it throws away".

    Call it with the synthetic image's features. ``weights`` maps layer
    names to :math:`w_l`; only those layers count. The targets' Gram
    matrices are stored as buffers (computed once, moved with
    ``.to(device)``).
    """

    def __init__(
        self,
        target_features: Mapping[str, torch.Tensor],
        weights: Mapping[str, float],
    ) -> None:
        super().__init__()
        missing = [name for name in weights if name not in target_features]
        if missing:
            raise ValueError(
                f"no target features for style layers {missing}; "
                f"available: {sorted(target_features)}"
            )
        if not weights:
            raise ValueError("StyleLoss needs at least one layer weight")
        self.weights = dict(weights)
        self.map_sizes: dict[str, int] = {}
        for name in self.weights:
            target = target_features[name].detach()
            gram = gram_matrix(target)
            self.register_buffer(self._key(name), gram)
            self.map_sizes[name] = target.shape[2] * target.shape[3]

    @staticmethod
    def _key(name: str) -> str:
        return f"target_gram_{name}"

    def target_gram(self, name: str) -> torch.Tensor:
        return getattr(self, self._key(name))

    def layer_losses(
        self, features: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Each layer's unweighted term: which layer is matched how well."""
        losses = {}
        for name in self.weights:
            if name not in features:
                raise KeyError(
                    f"style layer {name!r} missing from the features; "
                    f"got {sorted(features)}"
                )
            fmap = features[name]
            size = fmap.shape[2] * fmap.shape[3]
            target = self.target_gram(name)
            if size != self.map_sizes[name]:
                # a different image size changes M_l; the Gram of a sum
                # over M positions scales with M
                target = target * (size / self.map_sizes[name])
            target = target.expand(fmap.shape[0], -1, -1)
            gram = gram_matrix(fmap)
            losses[name] = style_layer_loss(gram, target, size)
        return losses

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        losses = self.layer_losses(features)
        return sum(
            self.weights[name] * loss for name, loss in losses.items()
        )


class ContentLoss(nn.Module):
    """:math:`E_\\text{content}`, half the squared error at one layer.

    Shown in :doc:`/book/07_style_transfer/style_transfer`,
    section "Style transfer".

    :math:`E_\\text{content} = \\frac12 \\sum (F^l(x) - F^l(x_c))^2`.
    """

    def __init__(
        self, target_features: Mapping[str, torch.Tensor], layer: str
    ) -> None:
        super().__init__()
        if layer not in target_features:
            raise ValueError(
                f"no target features for content layer {layer!r}; "
                f"available: {sorted(target_features)}"
            )
        self.layer = layer
        target = target_features[layer].detach().clone()
        self.register_buffer("target", target)

    def forward(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        fmap = features[self.layer]
        if fmap.shape[1:] != self.target.shape[1:]:
            raise ValueError(
                f"content layer {self.layer!r}: features "
                f"{tuple(fmap.shape)} vs target {tuple(self.target.shape)}"
                " (the synthetic image must have the content image's size)"
            )
        return 0.5 * (fmap - self.target).pow(2).sum()


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Sum of squared differences between neighbouring pixels: a
    smoothness prior on the image."""
    check_images(images)
    dx = images[..., :, 1:] - images[..., :, :-1]
    dy = images[..., 1:, :] - images[..., :-1, :]
    return dx.pow(2).sum() + dy.pow(2).sum()
