"""course_utils.conv against torch's own layers on thousands of random configurations."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_utils import conv

sizes = st.integers(1, 40)
kernels = st.integers(1, 9)
strides = st.integers(1, 5)
paddings = st.integers(0, 5)
dilations = st.integers(1, 3)


def torch_shape(layer: nn.Module, n: int) -> int | None:
    """Output length torch computes, or None when torch rejects the configuration."""
    try:
        with torch.no_grad():
            return layer(torch.zeros(1, 1, n, n)).shape[-1]
    except RuntimeError:
        return None


def ours(fn, *args, **kwargs) -> int | None:
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


@settings(max_examples=3000, deadline=None)
@given(n=sizes, f=kernels, s=strides, p=paddings, d=dilations)
def test_conv_output_size_matches_conv2d(n, f, s, p, d):
    layer = nn.Conv2d(1, 1, f, stride=s, padding=p, dilation=d, bias=False)
    assert ours(conv.conv_output_size, n, f, s, p, d) == torch_shape(layer, n)


@settings(max_examples=3000, deadline=None)
@given(n=sizes, f=kernels, s=strides, p=paddings, d=dilations, ceil=st.booleans())
def test_pool_output_size_matches_maxpool2d(n, f, s, p, d, ceil):
    try:
        layer = nn.MaxPool2d(f, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    except (RuntimeError, ValueError):
        layer = None
    expected = None if layer is None else torch_shape(layer, n)
    assert ours(conv.pool_output_size, n, f, s, p, d, ceil_mode=ceil) == expected


@settings(max_examples=2000, deadline=None)
@given(n=sizes, f=kernels, s=st.one_of(st.none(), strides), p=paddings, ceil=st.booleans())
def test_pool_output_size_matches_avgpool2d(n, f, s, p, ceil):
    layer = nn.AvgPool2d(f, stride=s, padding=p, ceil_mode=ceil)
    assert ours(conv.pool_output_size, n, f, s, p, ceil_mode=ceil) == torch_shape(layer, n)


@settings(max_examples=500, deadline=None)
@given(
    h=sizes,
    w=sizes,
    f=st.tuples(kernels, kernels),
    s=st.tuples(strides, strides),
    p=st.tuples(paddings, paddings),
)
def test_conv2d_output_shape_rectangular(h, w, f, s, p):
    layer = nn.Conv2d(1, 1, f, stride=s, padding=p, bias=False)
    try:
        expected = tuple(layer(torch.zeros(1, 1, h, w)).shape[-2:])
    except RuntimeError:
        with pytest.raises(ValueError):
            conv.conv2d_output_shape((h, w), f, s, p)
    else:
        assert conv.conv2d_output_shape((h, w), f, s, p) == expected


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 64), f=st.integers(0, 5).map(lambda k: 2 * k + 1), d=dilations)
def test_same_padding_keeps_size(n, f, d):
    p = conv.same_padding(f, d)
    layer = nn.Conv2d(1, 1, f, padding=p, dilation=d, bias=False)
    assert torch_shape(layer, n) == n


@settings(max_examples=300, deadline=None)
@given(
    c_in=st.integers(1, 16),
    c_out=st.integers(1, 16),
    kh=kernels,
    kw=kernels,
    bias=st.booleans(),
    groups=st.sampled_from([1, 2, 4]),
)
def test_conv2d_params_match_module(c_in, c_out, kh, kw, bias, groups):
    c_in, c_out = c_in * groups, c_out * groups
    layer = nn.Conv2d(c_in, c_out, (kh, kw), bias=bias, groups=groups)
    assert conv.conv2d_params(c_in, c_out, (kh, kw), bias=bias, groups=groups) == sum(
        t.numel() for t in layer.parameters()
    )


def test_linear_params_match_module_and_lecture():
    assert conv.linear_params(9216, 4096) == sum(
        t.numel() for t in nn.Linear(9216, 4096).parameters()
    )
    # seed 002: a fully connected layer from a 1024x1024 image to as many units has 2^40 weights
    assert conv.linear_params(2**20, 2**20, bias=False) == 2**40


def test_lecture_examples():
    # seed 001: (28x28x192) convolved with 32 filters of 1x1x192 keeps 28x28; 6,176 parameters
    assert conv.conv2d_output_shape((28, 28), 1) == (28, 28)
    assert conv.conv2d_params(192, 32, 1) == 192 * 32 + 32
    # AlexNet conv1 on 227 input: 55; overlapping 3/2 pooling: 27
    assert conv.conv_output_size(227, 11, stride=4) == 55
    assert conv.pool_output_size(55, 3, stride=2) == 27
    # seed 002 VGG-7: conv(3, 32, 3x3) has 896 parameters
    assert conv.conv2d_params(3, 32, 3) == 896


def test_receptive_field_matches_gradient_support():
    """The receptive field is where an output pixel's gradient is non-zero in the input.

    Average pooling, not max pooling: max pooling sends the gradient to one pixel per
    window, so its gradient support would understate the field it looks at.
    """
    stack = nn.Sequential(
        nn.Conv2d(1, 1, 3),
        nn.AvgPool2d(2),
        nn.Conv2d(1, 1, 3, dilation=2),
        nn.Conv2d(1, 1, 5, stride=2),
    )
    for m in stack:
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 1.0)
    x = torch.ones(1, 1, 64, 64, requires_grad=True)
    y = stack(x)
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    assert conv.receptive_field(stack) == int(rows.max() - rows.min() + 1)
    assert conv.receptive_fields([(3, 1)] * 4) == [3, 5, 7, 9]
    assert conv.receptive_field([]) == 1


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: conv.conv_output_size(-3, 3), ["input_size", "-3"]),
        (lambda: conv.conv_output_size(5, 7), ["kernel", "7", "padded input", "5"]),
        (lambda: conv.conv_output_size(32, 3, stride=2, exact=True), ["14.5", "not an integer"]),
        (lambda: conv.conv_output_size(32.0, 3), ["input_size", "32.0", "float"]),
        (lambda: conv.conv_output_size(True, 3), ["input_size", "boolean"]),
        (lambda: conv.conv_output_size(10, 3, stride=0), ["stride", ">= 1", "0"]),
        (lambda: conv.pool_output_size(10, 2, padding=2), ["padding 2", "half"]),
        (lambda: conv.same_padding(4), ["odd", "4"]),
        (lambda: conv.conv2d_params(3, 8, 3, groups=2), ["divisible", "groups (2)"]),
        (lambda: conv.conv2d_output_shape((8,), 3), ["input_hw", "(8,)"]),
        (lambda: conv.receptive_fields([(3,)]), ["(3,)"]),
    ],
)
def test_invalid_input_names_the_offending_values(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} missing from error message {str(info.value)!r}"


def test_conv2d_macs_counts_output_volume_times_filter_volume():
    # AlexNet conv1 (seed 003 style): 55*55*64 outputs, each 11*11*3 multiply-accumulates
    assert conv.conv2d_macs(3, (55, 55), 64, 11) == 55 * 55 * 64 * 11 * 11 * 3
