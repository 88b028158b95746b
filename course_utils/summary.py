r"""Per-layer tables of shapes, memory, parameters and multiply-accumulates
(chapter 2; used in 5, 6 and 8).

:func:`summarize` runs one forward pass and returns a :class:`ModelSummary`,
whose :meth:`~ModelSummary.table` is a pandas DataFrame with a totals row.

Counting convention, stated once for the whole course:

- **memory**: the layer's output volume in KiB, ``numel * bytes per element
  / 1024`` (4 bytes for float32), for the whole input batch;
- **parameters**: learnable (``requires_grad``) parameters, each in exactly
  one row: the first row of the module that holds it (the first holder, for
  a weight shared by several modules), counted once even if the module is
  called several times. The rows add up to the total;
- **MACs** (``macs``): multiply-accumulates of convolutions and of products
  with a weight (linear layers, attention projections) *without bias*, i.e.
  ``output volume x filter volume`` as the published AlexNet table counts
  them (its "FLOPs (Mul+Add)" column). Every other operation counts 0:
  pooling, activations, normalization, element-wise additions and scalings.
  ``FLOPs = 2 x MACs`` when one wants to count multiplications and additions
  separately (:attr:`ModelSummary.total_flops`);
- **attention MACs** (``attention_macs``, a separate column): products of
  two activations, which have no weight: in self-attention ``Q K^T`` and the
  weighting of ``V``, ``batch x heads x L x S x (d_k + d_v)`` for ``L``
  queries and ``S`` keys. They are not in ``macs`` nor in
  :attr:`~ModelSummary.total_macs` (CNNs have none); see
  :attr:`~ModelSummary.total_attention_macs`.

For convolutions with ``groups`` the filter volume is ``in_channels / groups
x kernel``; for transposed convolutions every *input* element is multiplied
by a whole ``out_channels / groups x kernel`` filter.

How it counts: the work is counted at the level of PyTorch's operators
(:class:`course_utils.op_counting.ProductCounter`), so a weight used outside
its module's ``forward`` (``nn.MultiheadAttention``'s ``in_proj_weight`` and
``out_proj.weight``, a weight passed to ``F.linear`` by hand) is counted
too, in a row of the module that holds it. Rows:

- one per call of a leaf module (a module without children), as before;
- one per call of a module with children when it holds parameters itself (a
  class token, a layer scale, an attention's packed projection) or does
  products itself (attention); its ``memory_kb`` counts the outputs of those
  products only, since the rest of its output is already in its children's
  rows;
- one per product done with the weight of a module that is not running at
  that moment (``out_proj`` inside ``nn.MultiheadAttention``), with the
  operator's shapes;
- one, at the end and without shapes, per module whose parameters were never
  used.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from course_utils.op_counting import ProductCounter

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TRANSPOSE = (
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)

COLUMNS = [
    "layer",
    "type",
    "input_shape",
    "output_shape",
    "memory_kb",
    "params",
    "macs",
    "attention_macs",
]
_INTEGER_COLUMNS = ["params", "macs", "attention_macs"]


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _shape(
    tensors: list[torch.Tensor],
) -> tuple[int, ...] | list[tuple[int, ...]] | None:
    shapes = [tuple(t.shape) for t in tensors]
    if not shapes:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


def _kib(tensors: list[torch.Tensor]) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / 1024


def layer_macs(
    module: nn.Module, inputs: Sequence[torch.Tensor], output: torch.Tensor
) -> int:
    """Multiply-accumulates of one call of a conv or linear ``module``, from
    its shapes (bias excluded).

    The counting formulas for one layer; :func:`summarize` counts the same
    quantities at the operator level, which also covers weights used outside
    a module's ``forward``.
    """
    if isinstance(module, _CONV):
        filter_volume = (
            module.in_channels
            // module.groups
            * math.prod(module.kernel_size)
        )
        return output.numel() * filter_volume
    if isinstance(module, _CONV_TRANSPOSE):
        filter_volume = (
            module.out_channels
            // module.groups
            * math.prod(module.kernel_size)
        )
        return inputs[0].numel() * filter_volume
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, nn.Bilinear):
        return output.numel() * module.in1_features * module.in2_features
    return 0


def own_params(module: nn.Module) -> int:
    """Learnable parameters held by ``module`` itself, not by its
    children."""
    return sum(
        p.numel()
        for p in module.parameters(recurse=False)
        if p.requires_grad
    )


@dataclass(repr=False)
class ModelSummary:
    """The result of :func:`summarize`: the rows (see the module's
    docstring), plus totals."""

    layers: pd.DataFrame
    total_params: int
    input_shape: tuple[int, ...]
    output_shape: Any

    @property
    def total_macs(self) -> int:
        """Convolution and weight MACs (the ``macs`` column), attention
        products excluded."""
        return int(self.layers["macs"].sum())

    @property
    def total_attention_macs(self) -> int:
        """MACs of products of two activations (the ``attention_macs``
        column); 0 for a CNN."""
        return int(self.layers["attention_macs"].sum())

    @property
    def total_flops(self) -> int:
        return 2 * self.total_macs

    @property
    def total_memory_kb(self) -> float:
        return float(self.layers["memory_kb"].sum())

    def table(self) -> pd.DataFrame:
        """The per-layer rows followed by a ``Total`` row, for display."""
        total = pd.DataFrame(
            [
                {
                    "layer": "Total",
                    "type": "",
                    "input_shape": self.input_shape,
                    "output_shape": self.output_shape,
                    "memory_kb": self.total_memory_kb,
                    "params": self.total_params,
                    "macs": self.total_macs,
                    "attention_macs": self.total_attention_macs,
                }
            ]
        )
        return pd.concat([self.layers, total], ignore_index=True)

    def _shown(self) -> pd.DataFrame:
        # the attention column is displayed only for models that have
        # attention products
        table = self.table()
        return (
            table
            if self.total_attention_macs
            else table.drop(columns="attention_macs")
        )

    def _repr_html_(self) -> str:
        formats = {
            "memory_kb": "{:,.1f}",
            "params": "{:,}",
            "macs": "{:,}",
            "attention_macs": "{:,}",
        }
        shown = self._shown()
        styled = shown.style.format(
            {k: v for k, v in formats.items() if k in shown.columns}
        )
        return styled.hide(axis="index").to_html()

    def __str__(self) -> str:
        return self._shown().to_string(index=False)

    __repr__ = __str__


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    if (
        hasattr(model, "_orig_mod")
        and type(model).__name__ == "OptimizedModule"
    ):
        raise TypeError(
            "summarize cannot look inside a torch.compile'd model: pass "
            "the original module, model._orig_mod"
        )
    for name, module in model.named_modules():
        if isinstance(module, torch.jit.ScriptModule):
            where = f"its submodule {name!r}" if name else "the model"
            raise TypeError(
                f"{where} is a TorchScript module "
                f"({type(module).__name__}, from torch.jit.script or "
                "torch.jit.trace): it runs without Python forward hooks, "
                "so its layers cannot be counted. Pass the Python "
                "nn.Module it was made from, before scripting or tracing."
            )


def _make_input(model: nn.Module, input_size: Any) -> torch.Tensor:
    example = "e.g. (1, 3, 224, 224) for one RGB image"
    try:
        entries = (
            [] if isinstance(input_size, (str, bytes)) else list(input_size)
        )
    except TypeError:
        entries = []
    if not entries:
        raise ValueError(
            "input_size must be a shape with a batch dimension, "
            f"{example}; got {input_size!r}"
        )
    shape = []
    for position, n in enumerate(entries):
        try:
            if isinstance(n, bool):
                raise TypeError
            # int, numpy integers, 0-d integer tensors
            size = operator.index(n)
        except TypeError:
            raise ValueError(
                f"input_size must contain integers, {example}; got "
                f"{input_size!r}, whose entry {position} is {n!r} "
                f"({type(n).__name__})"
            ) from None
        if size <= 0:
            raise ValueError(
                f"input_size must contain positive sizes, {example}; got "
                f"{input_size!r}"
            )
        shape.append(size)
    parameter = next(model.parameters(), None)
    device = (
        parameter.device if parameter is not None else torch.device("cpu")
    )
    dtype = (
        parameter.dtype
        if parameter is not None and parameter.is_floating_point()
        else torch.float32
    )
    # a private generator: the global random state is left as it was
    generator = torch.Generator().manual_seed(0)
    return torch.randn(tuple(shape), generator=generator, dtype=dtype).to(
        device
    )


class _Frame:
    __slots__ = ("module", "leaf", "index", "args", "kwargs")

    def __init__(
        self,
        module: nn.Module,
        leaf: bool,
        index: int,
        args: tuple,
        kwargs: dict,
    ):
        self.module, self.leaf, self.index, self.args, self.kwargs = (
            module,
            leaf,
            index,
            args,
            kwargs,
        )


class _Recorder:
    """Hooks on every module (to know which calls are running) and the
    product counter."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.names: dict[nn.Module, str] = {}
        self.leaves: set[nn.Module] = set()
        # learnable parameters each module holds first
        self.owned: dict[nn.Module, int] = {}
        # id(parameter) -> first holder
        self.owner: dict[int, nn.Module] = {}
        # id(parameter) -> every module holding it
        self.holders: dict[int, set[nn.Module]] = {}
        self.by_storage: dict[int, list[tuple[int, int, nn.Parameter]]] = {}
        for name, module in model.named_modules():
            self.names[module] = name or type(module).__name__
            if next(module.children(), None) is None:
                self.leaves.add(module)
            for p in module.parameters(recurse=False):
                self.holders.setdefault(id(p), set()).add(module)
                if id(p) in self.owner:
                    continue
                self.owner[id(p)] = module
                if p.requires_grad:
                    self.owned[module] = (
                        self.owned.get(module, 0) + p.numel()
                    )
                pointer = p.untyped_storage().data_ptr() if p.numel() else 0
                if pointer:
                    start = p.storage_offset() * p.element_size()
                    self.by_storage.setdefault(pointer, []).append(
                        (start, start + p.nbytes, p)
                    )
        self.rows: list[dict[str, Any] | None] = []
        self.stack: list[_Frame] = []
        self.seen: set[nn.Module] = set()

    # -- rows --------------------------------------------------------------
    def _row(
        self,
        module: nn.Module,
        input_shape: Any,
        output_shape: Any = None,
        memory_kb: float = 0.0,
    ) -> dict:
        params = self.owned.get(module, 0) if module not in self.seen else 0
        self.seen.add(module)
        return {
            "layer": self.names[module],
            "type": type(module).__name__,
            "input_shape": input_shape,
            "output_shape": output_shape,
            "memory_kb": memory_kb,
            "params": params,
            "macs": 0,
            "attention_macs": 0,
        }

    def _frame_row(self, frame: _Frame) -> dict:
        row = self.rows[frame.index]
        if row is None:
            inputs = _tensors(frame.args) + _tensors(frame.kwargs)
            row = self.rows[frame.index] = self._row(
                frame.module, _shape(inputs)
            )
        return row

    # -- hooks -------------------------------------------------------------
    def pre_hook(
        self, module: nn.Module, args: tuple, kwargs: dict
    ) -> None:
        frame = _Frame(
            module, module in self.leaves, len(self.rows), args, kwargs
        )
        self.rows.append(None)
        self.stack.append(frame)
        if frame.leaf or (
            self.owned.get(module) and module not in self.seen
        ):
            self._frame_row(frame)

    def post_hook(
        self, module: nn.Module, args: tuple, output: Any
    ) -> None:
        frame = self.stack.pop()
        row = self.rows[frame.index]
        if row is not None:
            outputs = _tensors(output)
            row["output_shape"] = _shape(outputs)
            if frame.leaf:
                row["memory_kb"] = _kib(outputs)

    def _parameter(self, tensor: torch.Tensor) -> nn.Parameter | None:
        try:
            pointer = tensor.untyped_storage().data_ptr()
        except (RuntimeError, NotImplementedError):
            return None
        candidates = self.by_storage.get(pointer) if pointer else None
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0][2]
        offset = tensor.storage_offset() * tensor.element_size()
        return next(
            (p for start, end, p in candidates if start <= offset < end),
            None,
        )

    def on_product(
        self,
        kind: str,
        macs: int,
        operand: torch.Tensor,
        weight: torch.Tensor | None,
        out: torch.Tensor | None,
    ) -> None:
        out_kib = _kib([out]) if out is not None else 0.0
        parameter = self._parameter(weight) if weight is not None else None
        if parameter is not None:
            holders = self.holders[id(parameter)]
            frame = next(
                (f for f in reversed(self.stack) if f.module in holders),
                None,
            )
            # the holder is not running: a row for this use of its weight
            if frame is None:
                row = self._row(
                    self.owner[id(parameter)],
                    tuple(operand.shape),
                    tuple(out.shape) if out is not None else None,
                    out_kib,
                )
                row["macs"] = macs
                self.rows.append(row)
                return
        # a product before the model's first module started (a pre-hook of
        # its own)
        elif not self.stack:
            row = self._row(
                self.model,
                tuple(operand.shape),
                tuple(out.shape) if out is not None else None,
                out_kib,
            )
            row["attention_macs" if kind == "attention" else "macs"] = macs
            self.rows.append(row)
            return
        else:
            # attention, or a weight computed in this call
            frame = self.stack[-1]
        row = self._frame_row(frame)
        row["attention_macs" if kind == "attention" else "macs"] += macs
        if not frame.leaf:
            row["memory_kb"] += out_kib

    # -- the pass ----------------------------------------------------------
    def run(
        self, example: torch.Tensor, input_size: Any
    ) -> tuple[pd.DataFrame, Any]:
        model = self.model
        modes = [(module, module.training) for module in model.modules()]
        fastpath = torch.backends.mha.get_fastpath_enabled()
        rng = _RandomState(example.device)
        handles = []
        counter = ProductCounter(self.on_product)
        try:
            for module in self.names:
                handles.append(
                    module.register_forward_pre_hook(
                        self.pre_hook, with_kwargs=True
                    )
                )
                handles.append(module.register_forward_hook(self.post_hook))
            model.eval()
            # the fused attention kernels hide their projections: take the
            # path made of operators
            torch.backends.mha.set_fastpath_enabled(False)
            with torch.no_grad(), counter:
                counter.mark_activation(example)
                try:
                    output = model(example)
                except Exception as error:
                    if input_size is None:
                        raise
                    raise ValueError(
                        "the model's forward pass failed on a random "
                        f"input of shape {tuple(example.shape)} built "
                        f"from input_size={input_size!r}. input_size is "
                        "the whole input shape, batch dimension "
                        "included, e.g. (1, 3, 224, 224) for one RGB "
                        "image; check its length and its channels. The "
                        f"model said: {type(error).__name__}: {error}"
                    ) from error
        finally:
            for handle in handles:
                handle.remove()
            for module, training in modes:
                module.training = training
            torch.backends.mha.set_fastpath_enabled(fastpath)
            rng.restore()
        if counter.uncounted:
            listed = ", ".join(
                f"{name} ({calls} calls)"
                for name, calls in counter.uncounted.items()
            )
            warnings.warn(
                "summarize: these operators multiply tensors but "
                "course_utils.op_counting has no formula for them, so "
                f"the MACs miss their work: {listed}",
                stacklevel=3,
            )
        rows = [row for row in self.rows if row is not None]
        for module in self.owned:  # parameters that no call used
            if module not in self.seen:
                rows.append(self._row(module, None))
        layers = pd.DataFrame(rows, columns=COLUMNS)
        layers[_INTEGER_COLUMNS] = layers[_INTEGER_COLUMNS].astype("int64")
        layers["memory_kb"] = layers["memory_kb"].astype("float64")
        return layers, output


class _RandomState:
    """The global random state of the CPU and of the input's accelerator,
    to put back."""

    def __init__(self, device: torch.device):
        self.cpu = torch.get_rng_state()
        self.device = device
        self.accelerator = None
        if device.type == "cuda":
            self.accelerator = torch.cuda.get_rng_state(device)
        elif device.type == "mps":
            self.accelerator = torch.mps.get_rng_state()

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(self.accelerator, self.device)
        elif self.device.type == "mps":
            torch.mps.set_rng_state(self.accelerator)


def summarize(
    model: nn.Module,
    input_size: Sequence[int] | None = None,
    *,
    input: torch.Tensor | None = None,
) -> ModelSummary:
    """Run ``model`` once (in eval mode, without gradients) and tabulate its
    layers' work.

    Give either ``input_size`` (the whole shape, batch dimension included)
    or an ``input`` tensor. Afterwards every submodule is back in the mode
    it was in, no hook is left on the model and the global random state is
    unchanged, also when the forward pass fails. TorchScript (scripted or
    traced) and ``torch.compile``'d models are refused: pass the Python
    module they were made from. A warning names any product operator that
    could not be counted.
    """
    _check_model(model)
    if (input_size is None) == (input is None):
        raise ValueError(
            "give exactly one of input_size=(batch, channels, height, "
            "width) or input=<tensor>"
        )
    if input is not None and not isinstance(input, torch.Tensor):
        raise TypeError(
            f"input must be a torch.Tensor, got {type(input).__name__}; "
            "or give input_size=<shape>"
        )
    example = input if input is not None else _make_input(model, input_size)
    layers, output = _Recorder(model).run(example, input_size)
    total_params = sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )
    return ModelSummary(
        layers, total_params, tuple(example.shape), _shape(_tensors(output))
    )
