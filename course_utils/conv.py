r"""Convolution arithmetic (chapter 1; used again in chapters 2 and 5).

For one spatial dimension of size :math:`n`, kernel :math:`f`, padding
:math:`p` on each side, stride :math:`s` and dilation :math:`d` (effective
kernel :math:`d(f-1)+1`)

.. math::

    n_\text{out} = \left\lfloor \frac{n + 2p - d(f-1) - 1}{s} \right\rfloor
    + 1,

which for :math:`d = 1` is the familiar :math:`\lfloor (n+2p-f)/s \rfloor +
1`. The functions follow PyTorch's conventions exactly (``nn.Conv2d``,
``nn.MaxPool2d``, ``nn.AvgPool2d``) and raise ``ValueError`` naming the
offending values on bad input.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any


def _as_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(
            f"{name} must be an integer, got the boolean {value!r}"
        )
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(
            f"{name} must be an integer, got {value!r} of type "
            f"{type(value).__name__}"
        ) from None
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Span of a dilated kernel: ``dilation * (kernel_size - 1) + 1``."""
    kernel_size = _as_int("kernel_size", kernel_size, 1)
    dilation = _as_int("dilation", dilation, 1)
    return dilation * (kernel_size - 1) + 1


def conv_output_size(
    input_size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    exact: bool = False,
) -> int:
    """Output length of a convolution along one dimension, as ``nn.Conv2d``.

    Shown in :doc:`/book/01_convolution/convolution`,
    section "Stride and the output-size formula".

    With ``exact=True`` a stride that does not divide
    ``n + 2p - d(f-1) - 1`` is an error instead of being floored away (the
    last input rows would never be covered).

    Args:
        input_size: n, the input length in pixels (≥ 1).
        kernel_size: f, the kernel length (≥ 1).
        stride: s (≥ 1). Default: 1.
        padding: p, zeros added on *each* side (≥ 0). Default: 0.
        dilation: d, the spacing of the kernel taps (≥ 1); 1 is an ordinary
            kernel. Default: 1.
        exact: raise instead of flooring when the stride does not fit evenly
            (keyword only). Default: ``False``.

    Returns:
        The output length, ``floor((n + 2p - d(f-1) - 1) / s) + 1`` (≥ 1).

    Raises:
        ValueError: if an argument is not an integer or below its minimum,
            if the dilated kernel is larger than the padded input, or, with
            ``exact``, if the stride does not divide evenly.
    """
    n = _as_int("input_size", input_size, 1)
    f = _as_int("kernel_size", kernel_size, 1)
    s = _as_int("stride", stride, 1)
    p = _as_int("padding", padding, 0)
    d = _as_int("dilation", dilation, 1)
    span = d * (f - 1) + 1
    if span > n + 2 * p:
        raise ValueError(
            f"kernel (size {f}, dilation {d}, effective size {span}) is "
            f"larger than the padded input (size {n} + 2*padding {p} = "
            f"{n + 2 * p})"
        )
    covered = n + 2 * p - span
    if exact and covered % s:
        raise ValueError(
            "(input_size + 2*padding - effective_kernel) / stride = "
            f"({n} + {2 * p} - {span}) / {s} = {covered / s:g} is not an "
            f"integer: the last {covered % s} input position(s) are never "
            "covered; change padding or stride, or call with exact=False "
            "to floor"
        )
    return covered // s + 1


def pool_output_size(
    input_size: int,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    *,
    ceil_mode: bool = False,
) -> int:
    """Output length of max or average pooling along one dimension
    (``nn.MaxPool2d`` rules).

    ``stride`` defaults to ``kernel_size`` as in PyTorch. Padding may be at
    most half the kernel size (PyTorch checks the undilated size). With
    ``ceil_mode`` the last window may run past the input, but it must start
    inside the input or its left padding (so a window larger than the input
    can still give one output).

    Args:
        input_size: n, the input length in pixels (≥ 1).
        kernel_size: f, the window length (≥ 1).
        stride: s (≥ 1); ``None`` means ``kernel_size`` (non-overlapping
            windows). Default: ``None``.
        padding: p, added on *each* side (≥ 0, at most ``kernel_size / 2``).
            Default: 0.
        dilation: d, the spacing of the window's taps (≥ 1). Default: 1.
        ceil_mode: round the output length up instead of down
            (keyword only). Default: ``False``.

    Returns:
        The output length (≥ 1).

    Raises:
        ValueError: if an argument is not an integer or below its minimum,
            if the padding exceeds half the kernel, or if no window fits in
            the padded input.
    """
    n = _as_int("input_size", input_size, 1)
    f = _as_int("kernel_size", kernel_size, 1)
    s = f if stride is None else _as_int("stride", stride, 1)
    p = _as_int("padding", padding, 0)
    d = _as_int("dilation", dilation, 1)
    span = d * (f - 1) + 1
    if 2 * p > f:
        raise ValueError(
            "pooling padding must be at most half the kernel size; got "
            f"padding {p} with kernel_size {f}"
        )
    covered = n + 2 * p - span
    out = (covered + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        # PyTorch drops a last window that would start in the right padding
        out -= 1
    if out < 1:
        raise ValueError(
            f"pooling window (effective size {span}) is larger than the "
            f"padded input (size {n} + 2*padding {p} = {n + 2 * p}) and "
            f"ceil_mode={ceil_mode} leaves no output"
        )
    return out


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding per side that keeps the size at stride 1: ``(f - 1) / 2``
    for odd ``f``."""
    span = effective_kernel_size(kernel_size, dilation)
    if span % 2 == 0:
        raise ValueError(
            "'same' padding needs an odd effective kernel size, got "
            f"{span} (kernel_size {kernel_size}, dilation {dilation}): an "
            "even kernel has no centre pixel, so it would need "
            f"{(span - 1) // 2} pixel(s) on one side and {span // 2} on "
            "the other"
        )
    return (span - 1) // 2


def conv2d_output_shape(
    input_hw: Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    *,
    exact: bool = False,
) -> tuple[int, int]:
    """(height, width) after a 2-D convolution; each argument is an int or
    an (h, w) pair.

    Applies :func:`conv_output_size` to the height and to the width.

    Args:
        input_hw: the input's ``(H, W)`` in pixels.
        kernel_size: f, or ``(f_h, f_w)``.
        stride: s, or ``(s_h, s_w)``. Default: 1.
        padding: zeros on each side, p or ``(p_h, p_w)``. Default: 0.
        dilation: d, or ``(d_h, d_w)``. Default: 1.
        exact: raise instead of flooring when a stride does not fit evenly
            (keyword only). Default: ``False``.

    Returns:
        ``(H_out, W_out)``.

    Raises:
        ValueError: if ``input_hw`` or a pair does not have two entries, or
            as :func:`conv_output_size` raises for either dimension.
    """

    def pair(name: str, value: int | Sequence[int]) -> tuple[int, int]:
        if isinstance(value, Sequence):
            if len(value) != 2:
                raise ValueError(
                    f"{name} must be an int or a (height, width) pair, "
                    f"got {value!r}"
                )
            return value[0], value[1]
        return value, value

    if not isinstance(input_hw, Sequence) or len(input_hw) != 2:
        raise ValueError(
            f"input_hw must be a (height, width) pair, got {input_hw!r}"
        )
    k, s, p, d = (
        pair(n, v)
        for n, v in (
            ("kernel_size", kernel_size),
            ("stride", stride),
            ("padding", padding),
            ("dilation", dilation),
        )
    )
    return tuple(  # type: ignore[return-value]
        conv_output_size(input_hw[i], k[i], s[i], p[i], d[i], exact=exact)
        for i in range(2)
    )


def _layer_geometry(layer: Any) -> tuple[int, int, int]:
    """(kernel, stride, dilation) of a tuple ``(f, s)``/``(f, s, d)`` or
    a conv/pool module."""
    if isinstance(layer, tuple):
        if len(layer) not in (2, 3):
            raise ValueError(
                "a layer tuple must be (kernel, stride) or (kernel, "
                f"stride, dilation), got {layer!r}"
            )
        kernel, stride, dilation = (*layer, 1) if len(layer) == 2 else layer
    elif hasattr(layer, "kernel_size"):

        def first(value: Any) -> Any:
            return value[0] if isinstance(value, tuple) else value

        kernel = first(layer.kernel_size)
        stride = first(getattr(layer, "stride", None) or kernel)
        dilation = first(getattr(layer, "dilation", 1))
    else:
        raise ValueError(
            f"cannot read kernel/stride from {layer!r}; pass (kernel, "
            "stride[, dilation]) tuples"
        )
    return (
        _as_int("kernel_size", kernel, 1),
        _as_int("stride", stride, 1),
        _as_int("dilation", dilation, 1),
    )


def receptive_fields(layers: Iterable[Any]) -> list[int]:
    r"""Receptive field (input pixels, one dimension) after each layer.

    Shown in :doc:`/book/01_convolution/convolution`,
    section "Receptive fields of stacked convolutions".

    Each layer adds :math:`(f_\text{eff} - 1) \cdot j` where the jump
    :math:`j` is the product of the strides before it. Layers are
    ``(kernel, stride[, dilation])`` tuples or modules with
    ``kernel_size``/``stride``/``dilation`` (``nn.Conv2d``, pooling).
    """
    field, jump, fields = 1, 1, []
    for layer in layers:
        kernel, stride, dilation = _layer_geometry(layer)
        field += (dilation * (kernel - 1)) * jump
        jump *= stride
        fields.append(field)
    return fields


def receptive_field(layers: Iterable[Any]) -> int:
    """Receptive field of a whole stack (1 for an empty stack)."""
    fields = receptive_fields(layers)
    return fields[-1] if fields else 1


def conv2d_params(
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    bias: bool = True,
    groups: int = 1,
) -> int:
    """Learnable parameters of ``nn.Conv2d``: weights and biases.

    Shown in :doc:`/book/01_convolution/convolution`,
    section "Parameter counts".

    ``f_h f_w (c_in / groups) n_f`` weights and ``n_f`` biases.

    Args:
        in_channels: c_in, channels of the input (≥ 1).
        out_channels: n_f, the number of filters (≥ 1).
        kernel_size: f for an f x f kernel, or ``(f_h, f_w)``.
        bias: count one bias per filter. Default: ``True``.
        groups: g; each filter sees ``c_in / g`` channels (``g = c_in`` is a
            depthwise convolution). Default: 1.

    Returns:
        The number of weights and biases.

    Raises:
        ValueError: if a count is not a positive integer, or if ``groups``
            does not divide both channel counts.
    """
    c_in = _as_int("in_channels", in_channels, 1)
    c_out = _as_int("out_channels", out_channels, 1)
    g = _as_int("groups", groups, 1)
    if c_in % g or c_out % g:
        raise ValueError(
            f"in_channels ({c_in}) and out_channels ({c_out}) must both "
            f"be divisible by groups ({g})"
        )
    if isinstance(kernel_size, Sequence):
        kh, kw = kernel_size
    else:
        kh, kw = kernel_size, kernel_size
    f_h = _as_int("kernel height", kh, 1)
    f_w = _as_int("kernel width", kw, 1)
    weights = f_h * f_w * (c_in // g) * c_out
    return weights + (c_out if bias else 0)


def linear_params(
    in_features: int, out_features: int, bias: bool = True
) -> int:
    """Learnable parameters of ``nn.Linear``: ``in * out`` weights +
    ``out`` biases."""
    n_in = _as_int("in_features", in_features, 1)
    n_out = _as_int("out_features", out_features, 1)
    return n_in * n_out + (n_out if bias else 0)


def conv2d_macs(
    in_channels: int,
    out_hw: Sequence[int],
    out_channels: int,
    kernel_size: int | Sequence[int],
    groups: int = 1,
) -> int:
    """Multiply-accumulates of a convolution (no bias): output volume x
    filter volume.

    Args:
        in_channels: c_in, channels of the input (≥ 1).
        out_hw: the output's ``(H_out, W_out)``, e.g. from
            :func:`conv2d_output_shape`.
        out_channels: n_f, the number of filters (≥ 1).
        kernel_size: f, or ``(f_h, f_w)``.
        groups: g; each filter sees ``c_in / g`` channels. Default: 1.

    Returns:
        ``H_out * W_out * n_f * f_h * f_w * c_in / g``, the MACs for one
        image.

    Raises:
        ValueError: as :func:`conv2d_params` raises.
    """
    per_output = (
        conv2d_params(
            in_channels,
            out_channels,
            kernel_size,
            bias=False,
            groups=groups,
        )
        // out_channels
    )
    return math.prod(out_hw) * out_channels * per_output
