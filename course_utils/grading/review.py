"""A static scan of the code a student wrote, for the instructor's review
(instructor grading).

nbgrader runs the hidden tests in the same Python process as the student's
code, so code that replaces ``torch.allclose``, teaches an ``int`` to equal
everything, or installs an IPython transformer can make failing tests pass;
no sandbox can stop what a process does to itself. The test cells check
exact types to make that harder, and this scan makes it visible: every cell
the student wrote or changed (every code cell that is not, word for word, a
cell of the instructor's source that students cannot edit) is parsed, and
constructs that an honest CNN answer has no use for are listed as
``needs_review`` notes in the grades CSV. A note is a reason to open the
notebook, not a verdict.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

# modules an answer has no reason to import: processes, sockets, databases,
# raw memory, the interpreter's guts
SUSPICIOUS_MODULES = {
    "subprocess",
    "socket",
    "sqlite3",
    "ctypes",
    "multiprocessing",
    "pty",
    "signal",
    "gc",
    "inspect",
    "importlib",
    "builtins",
    "urllib",
    "http",
    "requests",
    "shutil",
    "threading",
    "IPython",
    "nbgrader",
    "nbformat",
    "course_utils.grading",
    "sys",
    "traitlets",
    "asyncio",
}
SUSPICIOUS_CALLS = {
    "system",
    "popen",
    "fork",
    "forkpty",
    "setsid",
    "kill",
    "killpg",
    "execv",
    "execve",
    "execvp",
    "spawnv",
    "walk",
    "scandir",
    "listdir",
    "setattr",
    "delattr",
    "exec",
    "eval",
    "compile",
    "__import__",
    "get_ipython",
    "_getframe",
    "settrace",
    "setprofile",
    "get_objects",
    "chdir",
    "register",
    "unregister",
    "set_custom_exc",
}
SUSPICIOUS_NAMES = {
    "__torch_function__",
    "__torch_dispatch__",
    "__array_function__",
    "__array_ufunc__",
    "__builtins__",
    "ast_transformers",
    "input_transformers_post",
    "input_transformers_cleanup",
    "excepthook",
    "showtraceback",
    "__class__",
    "__subclasses__",
    "__globals__",
    "__code__",
    "f_back",
    "f_globals",
}
# comparison and truth methods: a class defining them can make a wrong value
# pass an assert
COMPARISON_METHODS = {
    "__eq__",
    "__ne__",
    "__bool__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__instancecheck__",
    "__float__",
    "__int__",
    "__index__",
}
SUSPICIOUS_TEXT = re.compile(
    r"/proc\b|gradebook|\.ipynb\b|BEGIN HIDDEN|END "
    r"HIDDEN|nbgrader|/dev/tcp|\.\./\.\."
)


def _module_names(tree: ast.AST) -> set[str]:
    """Names bound to imported modules in ``tree`` (``import torch as t``
    binds ``t``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
            }
    return names | {
        "torch",
        "np",
        "numpy",
        "nn",
        "F",
        "math",
        "builtins",
        "sys",
        "os",
    }


def findings(source: str) -> list[str]:
    """What in one cell's code deserves a look, one short phrase each, in
    order of appearance."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        # magics and shell escapes are not Python; scan what text there is
        found = [
            f"text {m.group(0)!r}" for m in SUSPICIOUS_TEXT.finditer(source)
        ]
        return found + (
            ["a shell command (!)"]
            if re.search(r"^\s*!", source, re.MULTILINE)
            else []
        )
    modules = _module_names(tree)
    found: list[tuple[int, str]] = []

    def add(node: ast.AST, what: str) -> None:
        found.append((getattr(node, "lineno", 0), what))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for name in names:
                # images and HTML: what notebooks display
                if name == "IPython.display":
                    continue
                if name in SUSPICIOUS_MODULES or name.split(".")[
                    0
                ] in SUSPICIOUS_MODULES - {"course_utils"}:
                    add(node, f"imports {name}")
        elif isinstance(
            node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)
        ):
            targets = (
                node.targets
                if isinstance(node, (ast.Assign, ast.Delete))
                else [node.target]
            )
            for target in targets:
                base = target
                while isinstance(base, (ast.Attribute, ast.Subscript)):
                    base = base.value
                if (
                    isinstance(target, (ast.Attribute, ast.Subscript))
                    and isinstance(base, ast.Name)
                    and base.id in modules
                ):
                    add(node, f"replaces {ast.unparse(target)}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            if name in SUSPICIOUS_CALLS:
                add(node, f"calls {ast.unparse(func)}")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if (
                    isinstance(
                        item, (ast.FunctionDef, ast.AsyncFunctionDef)
                    )
                    and item.name in COMPARISON_METHODS
                ):
                    add(item, f"class {node.name} defines {item.name}")
        elif (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name in SUSPICIOUS_NAMES
        ):
            add(node, f"defines {node.name}")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in SUSPICIOUS_NAMES
        ):
            add(node, f"uses .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in SUSPICIOUS_NAMES:
            add(node, f"uses {node.id}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in SUSPICIOUS_TEXT.finditer(node.value):
                add(node, f"text {match.group(0)!r}")
    unique = []
    for _, what in sorted(found, key=lambda item: item[0]):
        if what not in unique:
            unique.append(what)
    return unique


def trusted_sources(source_notebook: Path) -> set[str]:
    """Sources of the cells students cannot change: the source notebook's
    test and read-only cells."""
    if not source_notebook.is_file():
        return set()
    trusted = set()
    for cell in nbformat.read(source_notebook, as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if (
            cell.cell_type == "code"
            and not meta.get("solution")
            and (meta.get("grade") or meta.get("locked"))
        ):
            trusted.add(cell.source.strip())
    return trusted


def review_notes(
    notebook: Path, source_notebook: Path, limit: int = 6
) -> list[str]:
    """``needs_review`` notes for the student-written cells of a graded
    notebook (empty when nothing stands out)."""
    trusted = trusted_sources(source_notebook)
    notes = []
    for number, cell in enumerate(
        nbformat.read(notebook, as_version=4).cells, start=1
    ):
        if cell.cell_type != "code" or cell.source.strip() in trusted:
            continue
        what = findings(cell.source)
        if what:
            name = (
                cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                or f"#{number}"
            )
            shown = ", ".join(what[:limit])
            more = " ..." if len(what) > limit else ""
            notes.append(f"needs_review: cell {name} {shown}{more}")
    return notes
