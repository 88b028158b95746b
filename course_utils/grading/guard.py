"""A tamper check for graded kernels (instructor grading and the student's
Validate).

nbgrader runs the hidden tests in the same process as the student's code, so
an answer can make failing tests pass without being right: replace
``torch.allclose``, return an ``int`` whose ``__eq__`` is always true or a
tensor subclass with ``__torch_function__``, or install an IPython AST
transformer that swallows every failed ``assert``.

:func:`install` runs at kernel start, before any student code
(``nbgrader_config.py`` adds it to the kernel's ``exec_lines``). It records
the comparison functions the tests rely on and the interpreter's hooks, and
registers a ``pre_run_cell`` callback. From the moment something was
tampered with, every cell that runs starts with an error output that names
it, so every later test cell scores 0; IPython raises that error outside the
cell's code, where no transformer of the cell's code can catch it.

This raises the bar; it is not a proof. A determined student with full
control of the process can defeat any in-process check, which is why
:mod:`.review` also lists such code for the instructor.
"""

from __future__ import annotations

import builtins
import math
import sys
from typing import Any

# builtins the tests compare and check types with
BUILTIN_NAMES = (
    "isinstance",
    "issubclass",
    "type",
    "len",
    "abs",
    "round",
    "float",
    "int",
    "bool",
    "all",
    "any",
    "sum",
    "min",
    "max",
    "sorted",
    "repr",
    "str",
    "tuple",
    "list",
    "range",
    "zip",
    "print",
    "getattr",
    "hasattr",
    "callable",
    "AssertionError",
    "Exception",
    "__import__",
)
# methods that make a value compare equal or true
COMPARISON_METHODS = (
    "__eq__",
    "__ne__",
    "__bool__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__float__",
    "__int__",
    "__index__",
    "__len__",
    "__torch_function__",
    "__torch_dispatch__",
    "__array_function__",
    "__array_ufunc__",
    "__instancecheck__",
    "__subclasscheck__",
)


def _watched_functions() -> dict[str, Any]:
    """Every function and type the tests rely on, by a dotted name, as
    they are now."""
    import numpy
    import torch

    watched: dict[str, Any] = {
        f"builtins.{name}": getattr(builtins, name)
        for name in BUILTIN_NAMES
    }
    # comparisons only: libraries legitimately wrap other functions
    # (torch._dynamo wraps torch.manual_seed)
    for name in (
        "allclose",
        "equal",
        "isclose",
        "all",
        "any",
        "abs",
        "is_tensor",
    ):
        watched[f"torch.{name}"] = getattr(torch, name)
    for name in (
        "__eq__",
        "__ne__",
        "__bool__",
        "__float__",
        "__int__",
        "__len__",
        "item",
        "tolist",
        "abs",
        "all",
        "any",
        "sum",
        "max",
        "min",
        "allclose",
        "equal",
        "__getattribute__",
    ):
        watched[f"torch.Tensor.{name}"] = getattr(torch.Tensor, name)
    for name in ("allclose", "array_equal", "isclose", "asarray", "array"):
        watched[f"numpy.{name}"] = getattr(numpy, name)
    watched["math.isclose"] = math.isclose
    for name in (
        "torch",
        "numpy",
        "math",
        "builtins",
        "torch.nn",
        "torch.nn.functional",
    ):
        watched[f"sys.modules[{name!r}]"] = sys.modules[name]
    return watched


def _current(name: str) -> Any:
    if name.startswith("sys.modules["):
        return sys.modules.get(name[len("sys.modules['") : -2])
    module_name, _, attribute = name.rpartition(".")
    root, *rest = module_name.split(".")
    value = sys.modules.get(root)
    for part in rest:
        value = getattr(value, part, None)
    return getattr(value, attribute, None)


def _own_subclasses(base: type) -> list[type]:
    """Subclasses of ``base`` defined in the notebook (not by a library)
    that change comparisons."""
    found, stack = [], [base]
    while stack:
        cls = stack.pop()
        try:
            children = type.__subclasses__(cls)
        except TypeError:
            continue
        for child in children:
            stack.append(child)
            if getattr(child, "__module__", "") == "__main__" and any(
                m in vars(child) for m in COMPARISON_METHODS
            ):
                found.append(child)
    return found


class Guard:
    """What :func:`install` recorded, and the check that compares the
    kernel with it."""

    def __init__(self, shell: Any) -> None:
        import numpy
        import torch

        self.shell = shell
        self.functions = _watched_functions()
        self.bases = (
            int,
            float,
            bool,
            complex,
            str,
            bytes,
            tuple,
            list,
            dict,
            set,
            torch.Tensor,
            numpy.ndarray,
        )
        self.hooks = {
            name: list(getattr(shell, name, []))
            for name in (
                "ast_transformers",
                "input_transformers_post",
                "input_transformers_cleanup",
            )
        }
        self.methods = {
            name: getattr(type(shell), name)
            for name in (
                "run_cell",
                "run_ast_nodes",
                "run_code",
                "showtraceback",
                "transform_cell",
            )
        }
        self.displayhook, self.excepthook = sys.displayhook, sys.excepthook
        self.tampered: list[str] = []

    def changes(self) -> list[str]:
        """What differs from kernel start, one phrase each (empty when
        nothing does)."""
        found = [
            f"{name} was replaced"
            for name, value in self.functions.items()
            if _current(name) is not value
        ]
        for base in self.bases:
            found += [
                f"{cls.__name__} subclasses {base.__name__} and redefines "
                "comparisons"
                for cls in _own_subclasses(base)
            ]
        for name, value in self.hooks.items():
            if list(getattr(self.shell, name, [])) != value:
                found.append(f"IPython's {name} were changed")
        for name, method in self.methods.items():
            if getattr(
                type(self.shell), name
            ) is not method or name in vars(self.shell):
                found.append(f"IPython's {name} was replaced")
        if sys.gettrace() is not None or sys.getprofile() is not None:
            found.append("a trace or profile function was installed")
        return found

    def check(self, *_: Any) -> None:
        """The ``pre_run_cell`` callback: raise, once tampered, before
        every later cell."""
        if not self.tampered:
            self.tampered = self.changes()
        if self.tampered:
            raise AssertionError(
                "the grading environment was modified, so this cell "
                "cannot be graded: " + "; ".join(self.tampered[:5])
            )


def install() -> Guard | None:
    """Record the kernel as it starts and check it before every cell
    (None outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    guard = Guard(shell)
    # its message repeats the cell's source, hidden tests included
    shell.events.print_on_error = False
    shell.events.register("pre_run_cell", guard.check)
    return guard
