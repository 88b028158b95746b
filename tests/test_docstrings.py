"""Docstring standard of ``course_utils``: public functions of more than three parameters have
``Args:``.

The developers' guide asks for Google-style docstrings, in torchvision's manner, on every
public function or method with more than three parameters (``self``/``cls`` not counted):
``Args:`` with every parameter, its meaning and tensor shapes, and ``Returns:`` with
shapes. This test checks the ``Args:`` part: the section exists and names exactly the
parameters (``*args``/``**kwargs`` included), so a renamed or added parameter fails it.
A class documents its constructor's arguments in the *class* docstring. Private names
(``_x``) and special methods other than ``__init__`` and ``__call__`` (their protocol
fixes the signature) are not checked. The source is read with ``ast`` (nothing is
imported), so the check is fast and sees exactly what Sphinx's autodoc renders.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"
MAX_UNDOCUMENTED_PARAMS = 3

# Modules exempted from the check while they are being rewritten (none now: every module
# is checked).
NOT_YET_CHECKED: set[str] = set()

# an entry of an Args section: "name:", "name (type):", "*args:", or "a, b:" for two at once
ENTRY = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?:\([^)]*\))?\s*:")


def parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The parameter names a caller passes, ``self``/``cls`` of a method left out."""
    arguments = function.args
    names = [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)]
    if arguments.vararg:
        names.append(arguments.vararg.arg)
    if arguments.kwarg:
        names.append(arguments.kwarg.arg)
    return names


def documented_arguments(docstring: str) -> set[str] | None:
    """The names listed in the docstring's ``Args:`` section; ``None`` when it has none."""
    names: set[str] | None = None
    section_indent: int | None = None
    entry_indent: int | None = None
    for line in docstring.splitlines():
        text = line.strip()
        indent = len(line) - len(line.lstrip())
        if text == "Args:":
            names, section_indent, entry_indent = set() if names is None else names, indent, None
            continue
        if section_indent is None or not text:
            continue
        if indent <= section_indent:  # the next section (Returns:, Raises:) or prose
            section_indent = None
            continue
        if entry_indent is None:
            entry_indent = indent
        if indent == entry_indent:
            match = ENTRY.match(text)
            if match:
                names.update(name.strip().lstrip("*") for name in match.group(1).split(","))
    return names


def problems_in(source: str, filename: str) -> list[str]:
    """``file:line name: what is missing`` for each public function of > 3 parameters in
    ``source``."""
    found = []

    def check(function: ast.FunctionDef | ast.AsyncFunctionDef, owner: ast.ClassDef | None) -> None:
        names = parameters(function)
        if owner is not None and names and names[0] in ("self", "cls") and not _is_static(function):
            names = names[1:]
        if len(names) <= MAX_UNDOCUMENTED_PARAMS:
            return
        if function.name == "__init__" and owner is not None:
            where, docstring = (
                f"{owner.name} (constructor, in the class docstring)",
                ast.get_docstring(owner),
            )
        else:
            where = f"{owner.name}.{function.name}" if owner else function.name
            docstring = ast.get_docstring(function)
        label = f"{filename}:{function.lineno} {where}"
        documented = documented_arguments(docstring or "")
        if documented is None:
            found.append(f"{label}: no Args: section")
            return
        missing = [name for name in names if name not in documented]
        if missing:
            found.append(f"{label}: Args: lacks {', '.join(missing)}")
        stale = sorted(documented - set(names))
        if stale:
            found.append(f"{label}: Args: names {', '.join(stale)}, which are not parameters")

    def public(name: str) -> bool:
        # other special methods (__torch_dispatch__, __exit__ ...) have the signature their
        # protocol fixes
        return not name.startswith("_") or name in ("__init__", "__call__")

    for node in ast.parse(source, filename).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(node.name):
            check(node, None)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and public(item.name):
                    check(item, node)
    return found


def _is_static(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)


def module_paths() -> list[str]:
    root = PACKAGE.parent
    return sorted(path.relative_to(root).as_posix() for path in PACKAGE.rglob("*.py"))


def test_public_functions_with_many_parameters_document_every_argument():
    root = PACKAGE.parent
    checked = [path for path in module_paths() if path not in NOT_YET_CHECKED]
    assert len(checked) > 20, f"expected the course_utils modules under {PACKAGE}, found {checked}"
    problems = [
        problem for path in checked for problem in problems_in((root / path).read_text(), path)
    ]
    assert not problems, "Google-style Args: sections missing or incomplete:\n  " + "\n  ".join(
        problems
    )


def test_the_excluded_modules_still_exist():
    """A stale exclusion would silently hide nothing; drop it from NOT_YET_CHECKED instead."""
    assert NOT_YET_CHECKED <= set(module_paths())


SAMPLE = '''
def documented(a, b, c, d=1):
    """Summary.

    Args:
        a: first.
        b (int): second, with a type,
            and a continuation line that mentions c: not an entry.
        c, d: two at once.

    Returns:
        Nothing much.
    """


def no_section(a, b, c, d):
    """Summary only."""


def incomplete(a, b, c, *args, **kwargs):
    """Summary.

    Args:
        a: first.
        b: second.
        *args: passed on.
        old_name: renamed since.
    """


def three(a, b, c):
    """Three parameters need no Args: section."""


def _private(a, b, c, d):
    pass


class Model:
    """A model.

    Args:
        width: channels.
    """

    def __init__(self, width, depth, bias, act):
        pass

    def method(self, a, b, c):
        """``self`` is not counted."""

    @staticmethod
    def static(a, b, c, d):
        """Static: every parameter counts."""

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        """A protocol's hook: its signature is not ours to document."""
'''


def line_of(name: str) -> int:
    """The line of ``def name`` in SAMPLE (the reports carry line numbers)."""
    return next(i for i, line in enumerate(SAMPLE.splitlines(), 1) if f"def {name}(" in line)


@pytest.mark.parametrize(
    "function, message",
    [
        ("no_section", "no_section: no Args: section"),
        ("incomplete", "incomplete: Args: lacks c, kwargs"),
        ("incomplete", "incomplete: Args: names old_name, which are not parameters"),
        ("__init__", "Model (constructor, in the class docstring): Args: lacks depth, bias, act"),
        ("static", "Model.static: no Args: section"),
    ],
)
def test_the_check_reports_each_kind_of_gap(function, message):
    assert f"sample.py:{line_of(function)} {message}" in problems_in(SAMPLE, "sample.py")


def test_the_check_accepts_complete_docstrings_and_skips_the_rest():
    reported = problems_in(SAMPLE, "sample.py")
    assert len(reported) == 5, reported
    for name in ("documented", "three", "_private", "Model.method", "Model.__torch_dispatch__"):
        assert not [line for line in reported if f" {name}:" in line], reported
