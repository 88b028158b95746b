r"""Multiply-accumulates counted where they happen: at the level of
PyTorch's operators.

:class:`ProductCounter` is a ``TorchDispatchMode``: while it is active it
sees every ATen operator a forward pass runs, whoever calls it (a module's
``forward``, ``F.linear`` with a weight passed by hand, ``torch.matmul``, an
attention kernel), and reports each *product* operator to a callback with
its multiply-accumulates (MACs). :mod:`course_utils.summary` uses it to fill
its table; the formulas follow the course's convention (bias additions
excluded):

- ``convolution``: output elements x filter volume (``C_in/groups x
  kernel``); transposed: *input* elements x ``C_out/groups x kernel``;
- ``mm``, ``addmm`` (``F.linear``): ``n x k x m`` for an ``(n, k) @ (k, m)``
  product;
- ``bmm``, ``baddbmm``, ``addbmm``: ``b x n x k x m``;
- ``mv``, ``addmv``, ``dot``, ``vdot``: elements of the matrix (or vector);
- ``_trilinear`` (``nn.Bilinear``): output elements x ``in1 x in2``;
- scaled dot-product attention kernels: ``batch x heads x L x S x (E +
  E_v)``, the two products ``Q K^T`` and ``softmax(.) V``;
- ``mkldnn_rnn_layer`` (CPU LSTM layer): time steps x batch x (elements of
  ``W_ih`` + ``W_hh``).

Each product is classified by its operands. The counter follows which
tensors depend on the input (*activations*; everything computed from the
input) and which do not (*weights*: parameters, buffers, constants and
tensors computed only from them, such as a normalized weight). A product
with a weight operand is **weight work** (``kind == "weight"``): a
convolution or a linear layer, however it is called. A product whose
operands are all activations is an **attention product** (``kind ==
"attention"``): ``Q K^T`` and the weighting of ``V`` in self-attention, and
the scaled dot-product attention kernels. A convolution is always weight
work (its second operand is a filter, even when computed).

Operators that look like products but have no formula here are collected in
:attr:`ProductCounter.uncounted` so that the caller can warn; element-wise
operators (bias, activation functions, normalization, layer scale) are not
products and count 0.
"""

from __future__ import annotations

import math
import re
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# A formula maps an operator's (args, first output) to its MACs.
Formula = Callable[[tuple, Any], int]


def _conv(args: tuple, out: torch.Tensor) -> int:
    x, w, transposed = args[0], args[1], bool(args[6])
    # C_in/groups x kernel, or C_out/groups x kernel if transposed
    filter_volume = math.prod(w.shape[1:])
    return (x.numel() if transposed else out.numel()) * filter_volume


def _mm(a: torch.Tensor, b: torch.Tensor) -> int:
    return a.shape[0] * a.shape[1] * b.shape[1]


def _bmm(a: torch.Tensor, b: torch.Tensor) -> int:
    return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]


def _trilinear(args: tuple, out: torch.Tensor) -> int:
    # _trilinear(i1, w, i2, expand1, expand2, expand3, sumdim, ...): every
    # operand is unsqueezed at its expand dims to one common rank; the
    # product runs over the broadcast shape.
    shapes = []
    for tensor, expand in zip(args[:3], args[3:6]):
        shape = list(tensor.shape)
        for dim in sorted(expand):
            shape.insert(dim, 1)
        shapes.append(shape)
    return math.prod(max(sizes) for sizes in zip(*shapes))


def _attention(args: tuple, out: Any) -> int:
    q, k, v = args[0], args[1], args[2]
    return (
        math.prod(q.shape[:-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])
    )


def _rnn_layer(args: tuple, out: Any) -> int:
    x, w_ih, w_hh = args[0], args[1], args[2]
    steps_times_batch = x.numel() // x.shape[-1]
    return steps_times_batch * (w_ih.numel() + w_hh.numel())


# packet -> (formula, operand positions classified as weight or activation)
_FORMULAS: dict[Any, tuple[Formula, tuple[int, ...]]] = {
    aten.convolution: (_conv, (0, 1)),
    aten._convolution: (_conv, (0, 1)),
    aten.mm: (lambda a, o: _mm(a[0], a[1]), (0, 1)),
    aten._int_mm: (lambda a, o: _mm(a[0], a[1]), (0, 1)),
    aten.addmm: (lambda a, o: _mm(a[1], a[2]), (1, 2)),
    aten.bmm: (lambda a, o: _bmm(a[0], a[1]), (0, 1)),
    aten.baddbmm: (lambda a, o: _bmm(a[1], a[2]), (1, 2)),
    aten.addbmm: (lambda a, o: _bmm(a[1], a[2]), (1, 2)),
    aten.mv: (lambda a, o: a[0].numel(), (0, 1)),
    aten.addmv: (lambda a, o: a[1].numel(), (1, 2)),
    aten.dot: (lambda a, o: a[0].numel(), (0, 1)),
    aten.vdot: (lambda a, o: a[0].numel(), (0, 1)),
    aten._trilinear: (_trilinear, (0, 1, 2)),
    aten.mkldnn_rnn_layer: (_rnn_layer, (0, 1, 2)),
}
_ATTENTION_KERNELS = [
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
]
for _name in _ATTENTION_KERNELS:
    if hasattr(aten, _name):
        _FORMULAS[getattr(aten, _name)] = (_attention, ())
_ALWAYS_WEIGHT = {
    aten.convolution,
    aten._convolution,
    aten.mkldnn_rnn_layer,
}
_ALWAYS_ATTENTION = {
    packet
    for packet, (formula, _) in _FORMULAS.items()
    if formula is _attention
}

# names of operators that multiply tensors together but have no
# formula above
_LOOKS_LIKE_A_PRODUCT = re.compile(
    r"conv(?!ert)|mm|matmul|linear|attention|transformer|rnn|lstm|gru|einsum|dot"
)
_NOT_A_PRODUCT = re.compile(r"upsample|grid_sampler|interp")


def tensors_in(value: Any) -> Iterator[torch.Tensor]:
    """The tensors in an operator's argument or result (one level of
    lists and tuples)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, torch.Tensor):
                yield item


class ProductCounter(TorchDispatchMode):
    """Reports every product operator of a forward pass to ``on_product``.

    ``on_product(kind, macs, operand, weight, out)`` receives ``kind``
    (``"weight"`` or ``"attention"``), the MACs, the first activation
    operand (or the first operand), the weight-like operand (``None`` for an
    attention product) and the operator's first output. Mark the model's
    input with :meth:`mark_activation` before the forward pass.
    """

    def __init__(
        self,
        on_product: Callable[
            [str, int, torch.Tensor, torch.Tensor | None, torch.Tensor],
            None,
        ],
    ):
        super().__init__()
        self.on_product = on_product
        #: operator name -> how many calls looked like a product but were
        #: not counted
        self.uncounted: Counter[str] = Counter()
        self._activations: dict[int, weakref.ref] = {}
        self._suspicious: dict[Any, bool] = {}

    def mark_activation(self, tensor: torch.Tensor) -> None:
        self._activations[id(tensor)] = weakref.ref(tensor)

    def is_activation(self, tensor: torch.Tensor) -> bool:
        ref = self._activations.get(id(tensor))
        return ref is not None and ref() is tensor

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **kwargs) if kwargs else func(*args)
        if self._depends_on_input(args) or (
            kwargs and self._depends_on_input(tuple(kwargs.values()))
        ):
            activations = self._activations
            if isinstance(out, torch.Tensor):
                activations[id(out)] = weakref.ref(out)
            else:
                for t in tensors_in(out):
                    activations[id(t)] = weakref.ref(t)
        packet = func.overloadpacket
        entry = _FORMULAS.get(packet)
        if entry is None:
            if self._looks_like_a_product(packet):
                self.uncounted[str(packet)] += 1
            return out
        formula, positions = entry
        first_out = next(tensors_in(out), None)
        macs = int(formula(args, first_out))
        if packet in _ALWAYS_ATTENTION:
            self.on_product("attention", macs, args[0], None, first_out)
            return out
        operands = [args[i] for i in positions]
        kinds = [self.is_activation(t) for t in operands]
        if packet not in _ALWAYS_WEIGHT and all(kinds):
            self.on_product("attention", macs, operands[0], None, first_out)
        else:
            weight = (
                operands[1]
                if packet in _ALWAYS_WEIGHT
                else next(
                    (t for t, act in zip(operands, kinds) if not act),
                    operands[-1],
                )
            )
            operand = next(
                (t for t, act in zip(operands, kinds) if act), operands[0]
            )
            self.on_product("weight", macs, operand, weight, first_out)
        return out

    def _depends_on_input(self, args: tuple) -> bool:
        activations = self._activations
        for value in args:
            if isinstance(value, torch.Tensor):
                ref = activations.get(id(value))
                if ref is not None and ref() is value:
                    return True
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, torch.Tensor):
                        ref = activations.get(id(item))
                        if ref is not None and ref() is item:
                            return True
        return False

    def _looks_like_a_product(self, packet: Any) -> bool:
        verdict = self._suspicious.get(packet)
        if verdict is None:
            name = str(packet)
            verdict = bool(
                _LOOKS_LIKE_A_PRODUCT.search(name)
            ) and not _NOT_A_PRODUCT.search(name)
            self._suspicious[packet] = verdict
        return verdict
