r"""Per-layer tables of shapes, memory, parameters and multiply-accumulates (chapter 2; used in 5 and 6).

:func:`summarize` runs one forward pass with hooks on every leaf module and returns a
:class:`ModelSummary`, whose :meth:`~ModelSummary.table` is a pandas DataFrame with a totals row.

Counting convention, stated once for the whole course:

- **memory**: the layer's output volume in KiB, ``numel * bytes per element / 1024`` (4 bytes
  for float32), for the whole input batch;
- **parameters**: learnable (``requires_grad``) parameters of the module itself, counted once
  even if the module is called several times;
- **MACs**: multiply-accumulates of convolution and linear layers *without bias*, i.e.
  ``output volume x filter volume`` as the AlexNet table of the lecture counts them (its
  "FLOPs (Mul+Add)" column). Every other layer counts 0: pooling, activations, batch norm,
  element-wise additions. ``FLOPs = 2 x MACs`` when one wants to count multiplications and
  additions separately (:attr:`ModelSummary.total_flops`).

For convolutions with ``groups`` the filter volume is ``in_channels / groups x kernel``; for
transposed convolutions every *input* element is multiplied by a whole
``out_channels / groups x kernel`` filter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)

COLUMNS = ["layer", "type", "input_shape", "output_shape", "memory_kb", "params", "macs"]


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _shape(tensors: list[torch.Tensor]) -> tuple[int, ...] | list[tuple[int, ...]] | None:
    shapes = [tuple(t.shape) for t in tensors]
    if not shapes:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


def layer_macs(module: nn.Module, inputs: Sequence[torch.Tensor], output: torch.Tensor) -> int:
    """Multiply-accumulates of one call of ``module`` (conv and linear only, bias excluded)."""
    if isinstance(module, _CONV):
        filter_volume = module.in_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * filter_volume
    if isinstance(module, _CONV_TRANSPOSE):
        filter_volume = module.out_channels // module.groups * math.prod(module.kernel_size)
        return inputs[0].numel() * filter_volume
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, nn.Bilinear):
        return output.numel() * module.in1_features * module.in2_features
    return 0


def own_params(module: nn.Module) -> int:
    """Learnable parameters held by ``module`` itself, not by its children."""
    return sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)


@dataclass(repr=False)
class ModelSummary:
    """The result of :func:`summarize`: one row per call of a leaf module, plus totals."""

    layers: pd.DataFrame
    total_params: int
    input_shape: tuple[int, ...]
    output_shape: Any

    @property
    def total_macs(self) -> int:
        return int(self.layers["macs"].sum())

    @property
    def total_flops(self) -> int:
        return 2 * self.total_macs

    @property
    def total_memory_kb(self) -> float:
        return float(self.layers["memory_kb"].sum())

    def table(self) -> pd.DataFrame:
        """The per-layer rows followed by a ``Total`` row, for display."""
        total = pd.DataFrame(
            [{"layer": "Total", "type": "", "input_shape": self.input_shape, "output_shape": self.output_shape,
              "memory_kb": self.total_memory_kb, "params": self.total_params, "macs": self.total_macs}]
        )
        return pd.concat([self.layers, total], ignore_index=True)

    def _repr_html_(self) -> str:
        styled = self.table().style.format({"memory_kb": "{:,.1f}", "params": "{:,}", "macs": "{:,}"})
        return styled.hide(axis="index").to_html()

    def __str__(self) -> str:
        return self.table().to_string(index=False)

    __repr__ = __str__


def _make_input(model: nn.Module, input_size: Sequence[int]) -> torch.Tensor:
    shape = tuple(input_size)
    if not shape or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ValueError(
            f"input_size must be a shape with a batch dimension, e.g. (1, 3, 224, 224); got {input_size!r}"
        )
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    return torch.randn(shape, device=device, dtype=dtype)


def summarize(model: nn.Module, input_size: Sequence[int] | None = None, *, input: torch.Tensor | None = None) -> ModelSummary:
    """Run ``model`` once (in eval mode, without gradients) and tabulate every leaf module call.

    Give either ``input_size`` (including the batch dimension) or an ``input`` tensor. The
    model's training mode is restored afterwards. Parameters held directly by non-leaf modules
    (rare) count in ``total_params`` but have no row.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if (input_size is None) == (input is None):
        raise ValueError("give exactly one of input_size=(batch, channels, height, width) or input=<tensor>")
    example = input if input is not None else _make_input(model, input_size)  # type: ignore[arg-type]

    rows: list[dict[str, Any]] = []
    counted: set[int] = set()

    def record(name: str):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            inputs, outputs = _tensors(args), _tensors(output)
            first_call = id(module) not in counted
            counted.add(id(module))
            rows.append({
                "layer": name,
                "type": type(module).__name__,
                "input_shape": _shape(inputs),
                "output_shape": _shape(outputs),
                "memory_kb": sum(t.numel() * t.element_size() for t in outputs) / 1024,
                "params": own_params(module) if first_call else 0,
                "macs": layer_macs(module, inputs, outputs[0]) if outputs else 0,
            })
        return hook

    handles = [
        module.register_forward_hook(record(name or type(module).__name__))
        for name, module in model.named_modules()
        if next(module.children(), None) is None
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            output = model(example)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()

    layers = pd.DataFrame(rows, columns=COLUMNS)
    layers["params"] = layers["params"].astype("int64")
    layers["macs"] = layers["macs"].astype("int64")
    total_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelSummary(layers, total_params, tuple(example.shape), _shape(_tensors(output)))
