"""Mutation testing of an assignment's tests (instructors writing
assignments).

A test cell is only as good as the wrong answers it catches. This module
makes wrong answers systematically: every answer cell of the solution
notebook is parsed, and each *mutant* changes one thing, as a careless
student might (an operator, a constant, a dropped statement or keyword, two
swapped arguments, a sibling layer or reduction, an autograd guard added or
removed, a conversion dropped). Each mutant replaces its answer cell and the
rest of the notebook runs **in this process**, as nbgrader would run it: a
test cell fails when it raises or writes to standard error. A mutant is
*killed* when a test cell after it fails, and *survives* otherwise. A
survivor is either a hole in the tests or an *equivalent* mutant, one that
behaves like the solution for every input the task allows; each assignment
lists its equivalent mutants, with reasons, in
``tests/fixtures/<assignment>/mutants.py``.

``python -m course_utils.grading.mutation 01_convolution`` prints the table
and every survivor.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading.inprocess import (
    copy_namespace,
    notebook_cells,
    rng_state,
    run_cell,
    set_rng_state,
)

# names a careless student confuses: each may be replaced by every other of
# its group
SIBLINGS = [
    {"MaxPool2d", "AvgPool2d"},
    {"max_pool2d", "avg_pool2d"},
    {"AdaptiveAvgPool2d", "AdaptiveMaxPool2d"},
    {"adaptive_avg_pool2d", "adaptive_max_pool2d"},
    {"ReLU", "LeakyReLU", "ELU", "GELU", "Sigmoid", "Tanh", "SiLU"},
    {"relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "silu"},
    {"BatchNorm2d", "InstanceNorm2d"},
    {"BatchNorm1d", "InstanceNorm1d"},
    {"batch_norm", "instance_norm"},
    {"Conv2d", "ConvTranspose2d"},
    {"conv2d", "conv_transpose2d"},
    {"sum", "mean", "prod", "amax", "amin", "std", "var"},
    {"max", "min"},
    {"argmax", "argmin"},
    {"sqrt", "exp", "log", "abs", "square"},
    {"floor", "ceil", "round", "trunc"},
    # (no torch.empty: its uninitialized memory would make a mutant's fate
    # change from run to run)
    {"zeros", "ones"},
    {"zeros_like", "ones_like"},
    {"rand", "randn"},
    {"rand_like", "randn_like"},
    {"cat", "stack"},
    {"mse_loss", "l1_loss"},
    {"MSELoss", "L1Loss"},
    {
        "kaiming_normal_",
        "kaiming_uniform_",
        "xavier_normal_",
        "xavier_uniform_",
    },
    {"normal_", "uniform_"},
    {"view", "reshape"},
    {"flatten", "ravel"},
    {"transpose", "permute"},
]
SIBLING_OF = {name: group - {name} for group in SIBLINGS for name in group}
OPERATOR_SWAPS = {
    ast.Add: [ast.Sub],
    ast.Sub: [ast.Add],
    ast.Mult: [ast.Div, ast.Add],
    ast.Div: [ast.Mult, ast.FloorDiv],
    ast.FloorDiv: [ast.Div, ast.Mult],
    ast.Pow: [ast.Mult],
    ast.Mod: [ast.FloorDiv],
    ast.MatMult: [ast.Mult],
}
COMPARE_SWAPS = {
    ast.Lt: [ast.LtE, ast.Gt],
    ast.LtE: [ast.Lt, ast.GtE],
    ast.Gt: [ast.GtE, ast.Lt],
    ast.GtE: [ast.Gt, ast.LtE],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
}
# calls that only convert or detach: a student may forget them
CONVERSION_FUNCTIONS = {"int", "float", "abs", "round", "tuple", "list"}
CONVERSION_METHODS = {
    "detach",
    "clone",
    "float",
    "double",
    "item",
    "contiguous",
    "tolist",
    "numpy",
    "cpu",
}
DROPPED_STATEMENTS = (
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Expr,
    ast.Raise,
    ast.If,
    ast.For,
    ast.While,
    ast.With,
    ast.Assert,
)


@dataclass(frozen=True)
class Mutant:
    """One changed copy of an answer cell. ``key`` names the change,
    stably across runs."""

    cell: str
    key: str
    source: str


def _name(node: ast.AST) -> str:
    return type(node).__name__


def _mutations(
    node: ast.AST,
) -> Iterator[tuple[str, ast.AST | list[ast.stmt] | None]]:
    """(what, replacement) for one node; the replacement stands in the
    node's place."""
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATOR_SWAPS:
        for op in OPERATOR_SWAPS[type(node.op)]:
            yield (
                f"{_name(node.op)}->{op.__name__}",
                ast.BinOp(node.left, op(), node.right),
            )
    elif (
        isinstance(node, ast.AugAssign) and type(node.op) in OPERATOR_SWAPS
    ):
        for op in OPERATOR_SWAPS[type(node.op)]:
            yield (
                f"{_name(node.op)}=->{op.__name__}=",
                ast.AugAssign(node.target, op(), node.value),
            )
    elif (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and type(node.ops[0]) in COMPARE_SWAPS
    ):
        for op in COMPARE_SWAPS[type(node.ops[0])]:
            yield (
                f"{_name(node.ops[0])}->{op.__name__}",
                ast.Compare(node.left, [op()], node.comparators),
            )
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield (
            f"{_name(node.op)}->{_name(other)}",
            ast.BoolOp(other, node.values),
        )
    elif isinstance(node, ast.UnaryOp) and isinstance(
        node.op, (ast.USub, ast.Not)
    ):
        yield f"drop {_name(node.op)}", node.operand
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield (
            f"{node.value}->{not node.value}",
            ast.Constant(not node.value),
        )
    elif isinstance(node, ast.Constant) and isinstance(
        node.value, (int, float)
    ):
        seen = {node.value}
        for what, value in (
            ("+1", node.value + 1),
            ("-1", node.value - 1),
            ("*2", node.value * 2),
        ):
            if value not in seen:
                seen.add(value)
                yield f"{node.value!r}{what}", ast.Constant(value)
    elif isinstance(node, ast.Call):
        yield from _call_mutations(node)
    elif isinstance(node, ast.Attribute) and node.attr in SIBLING_OF:
        for sibling in sorted(SIBLING_OF[node.attr]):
            yield (
                f".{node.attr}->.{sibling}",
                ast.Attribute(node.value, sibling, node.ctx),
            )
    elif (
        isinstance(node, ast.Name)
        and node.id in SIBLING_OF
        and isinstance(node.ctx, ast.Load)
    ):
        for sibling in sorted(SIBLING_OF[node.id]):
            yield f"{node.id}->{sibling}", ast.Name(sibling, node.ctx)
    elif isinstance(node, ast.With) and any(
        "no_grad" in ast.unparse(item.context_expr) for item in node.items
    ):
        yield "drop no_grad", node.body
    elif (
        isinstance(node, ast.FunctionDef)
        and any(isinstance(n, ast.Return) for n in ast.walk(node))
        and any(
            api in ast.unparse(node)
            for api in ("torch.", "nn.", "F.", "Tensor")
        )
    ):
        guard = ast.With(
            [ast.withitem(ast.parse("torch.no_grad()", mode="eval").body)],
            node.body,
        )
        yield (
            f"{node.name} under no_grad",
            ast.FunctionDef(
                node.name,
                node.args,
                [guard],
                node.decorator_list,
                node.returns,
                node.type_comment,
                type_params=[],
            ),
        )
    if isinstance(node, DROPPED_STATEMENTS):
        yield f"drop {_name(node)}", ast.Pass()


def _call_mutations(node: ast.Call) -> Iterator[tuple[str, ast.AST]]:
    func = node.func
    name = (
        func.attr
        if isinstance(func, ast.Attribute)
        else func.id
        if isinstance(func, ast.Name)
        else ""
    )
    positional = [a for a in node.args if not isinstance(a, ast.Starred)]
    for i in range(len(positional) - 1):
        if len(positional) == len(node.args) and ast.dump(
            positional[i]
        ) != ast.dump(positional[i + 1]):
            args = list(node.args)
            args[i], args[i + 1] = args[i + 1], args[i]
            yield (
                f"swap args {i},{i + 1} of {name}",
                ast.Call(func, args, node.keywords),
            )
    for i, keyword in enumerate(node.keywords):
        if keyword.arg is None:
            continue
        yield (
            f"drop {name}({keyword.arg}=)",
            ast.Call(
                func, node.args, node.keywords[:i] + node.keywords[i + 1 :]
            ),
        )
    if (
        isinstance(func, ast.Name)
        and name in CONVERSION_FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        yield f"drop {name}()", node.args[0]
    if (
        isinstance(func, ast.Attribute)
        and name in CONVERSION_METHODS
        and not node.args
        and not node.keywords
    ):
        yield f"drop .{name}()", func.value


def _sites(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` in a fixed order (the walk's), skipping
    docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module))
            and node.body
        ):
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.add(id(first))
    return [n for n in ast.walk(tree) if id(n) not in docstrings]


def mutate(source: str, cell: str) -> list[Mutant]:
    """Every mutant of one answer cell (the cell's code must parse),
    duplicates removed."""
    original = ast.unparse(ast.parse(source))
    mutants, seen, keys = [], {original}, {}
    for index in range(len(_sites(ast.parse(source)))):
        variants = len(list(_mutations(_sites(ast.parse(source))[index])))
        for number in range(variants):
            # a fresh tree per mutant: replacements reuse the
            # site's children
            tree = ast.parse(source)
            site = _sites(tree)[index]
            what, replacement = list(_mutations(site))[number]
            if not _substitute(tree, site, replacement):
                continue
            try:
                mutated = ast.unparse(ast.fix_missing_locations(tree))
                compile(mutated, cell, "exec")
            except (SyntaxError, ValueError, TypeError, RecursionError):
                continue
            if mutated not in seen:
                seen.add(mutated)
                line = getattr(site, "lineno", 0)
                column = getattr(site, "col_offset", 0)
                key = f"{cell}:L{line}C{column}:{what}"
                keys[key] = keys.get(key, 0) + 1
                # two sites at one position (a + b + c): number the later
                # of them
                if keys[key] > 1:
                    key += f"#{keys[key]}"
                mutants.append(Mutant(cell, key, mutated))
    return mutants


def _substitute(tree: ast.AST, target: ast.AST, replacement) -> bool:
    """Put ``replacement`` (a node, or a list of statements) where
    ``target`` is in ``tree``."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, replacement)
                return True
            if isinstance(value, list) and any(
                item is target for item in value
            ):
                index = next(
                    i for i, item in enumerate(value) if item is target
                )
                items = (
                    replacement
                    if isinstance(replacement, list)
                    else [replacement]
                )
                value[index : index + 1] = items or [ast.Pass()]
                return True
    return False


@dataclass
class Report:
    """The mutants of one assignment and their fate."""

    assignment: str
    killed: dict[str, list[Mutant]] = field(default_factory=dict)
    survived: dict[str, list[Mutant]] = field(default_factory=dict)
    seconds: float = 0.0

    def cells(self) -> list[str]:
        return list(self.killed)

    def as_dict(self) -> dict:
        return {
            "assignment": self.assignment,
            "seconds": self.seconds,
            "cells": {
                cell: {
                    fate: [
                        {"key": m.key, "source": m.source}
                        for m in getattr(self, fate)[cell]
                    ]
                    for fate in ("killed", "survived")
                }
                for cell in self.cells()
            },
        }


def mutation_report(
    notebook: Path,
    assignment: str,
    timeout_s: float = 20.0,
    cells: list[str] | None = None,
    progress: bool = False,
) -> Report:
    """Run every mutant of every answer cell of ``notebook`` against the
    tests after it.

    The notebook runs in this process (matplotlib switched to its ``Agg``
    backend); before each mutant the namespace and the random-number states
    are restored to what the solution had reached before that answer cell.

    Args:
        notebook: the nbgrader source notebook
            (``solutions/<assignment>/<assignment>.ipynb``).
        assignment: the assignment's name, used in the report and in error
            messages.
        timeout_s: seconds each cell may run (a longer cell fails, so its
            mutant is killed). Default: 20.
        cells: the grade ids of the answer cells to mutate; ``None`` mutates
            all. Default: ``None``.
        progress: show a progress bar per answer cell. Default: ``False``.

    Returns:
        A :class:`Report` with the killed and surviving mutants of each
        mutated cell and the seconds taken.

    Raises:
        RuntimeError: if the unmutated solution fails one of its own test
            cells in-process.
    """
    import matplotlib

    matplotlib.use("Agg")
    start = time.perf_counter()
    report = Report(assignment)
    parsed = notebook_cells(notebook)
    namespace: dict = {"__name__": "__main__"}
    for position, cell in enumerate(parsed):
        if cell.kind == "answer" and (
            cells is None or cell.grade_id in cells
        ):
            before, state = copy_namespace(namespace), rng_state()
            tail = parsed[position + 1 :]
            report.killed[cell.grade_id], report.survived[cell.grade_id] = (
                [],
                [],
            )
            mutants = mutate(cell.source, cell.grade_id)
            iterator = mutants
            if progress:
                from tqdm.auto import tqdm

                iterator = tqdm(mutants, desc=cell.grade_id, leave=False)
            for mutant in iterator:
                trial = copy_namespace(before)
                set_rng_state(state)
                run_cell(mutant.source, trial, timeout_s)
                killed = False
                for later in tail:
                    ok = run_cell(later.source, trial, timeout_s)
                    if later.kind == "test" and not ok:
                        killed = True
                        break
                (report.killed if killed else report.survived)[
                    cell.grade_id
                ].append(mutant)
            set_rng_state(state)
        if (
            not run_cell(cell.source, namespace, timeout_s)
            and cell.kind == "test"
        ):
            raise RuntimeError(
                f"{assignment}: the solution fails test cell "
                f"{cell.grade_id} in-process"
            )
    report.seconds = time.perf_counter() - start
    return report


def print_report(
    report: Report, equivalent: dict[str, str] | None = None, out=sys.stdout
) -> None:
    equivalent = equivalent or {}
    print(f"{report.assignment}: {report.seconds:.0f} s", file=out)
    print(
        f"  {'answer cell':<24} {'mutants':>8} {'killed':>7} "
        f"{'equivalent':>11} {'survived':>9}",
        file=out,
    )
    for cell in report.cells():
        killed, survived = report.killed[cell], report.survived[cell]
        equal = [m for m in survived if m.key in equivalent]
        print(
            f"  {cell:<24} {len(killed) + len(survived):>8} "
            f"{len(killed):>7} {len(equal):>11} "
            f"{len(survived) - len(equal):>9}",
            file=out,
        )
    for cell in report.cells():
        for mutant in report.survived[cell]:
            if mutant.key not in equivalent:
                print(f"  SURVIVED {mutant.key}", file=out)


def known_equivalents(course: Path, assignment: str) -> dict[str, str]:
    """The assignment's listed equivalent mutants
    (``tests/fixtures/<assignment>/mutants.py``), if the course has them."""
    path = course / "tests" / "fixtures" / assignment / "mutants.py"
    if not path.is_file():
        return {}
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace.get("EQUIVALENT", {})


def main(argv: list[str] | None = None) -> None:
    """``python -m course_utils.grading.mutation <assignment>``: run
    every mutant and print the report."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grading.mutation",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("assignment")
    parser.add_argument("--course", type=Path, default=Path("."))
    parser.add_argument(
        "--cell", action="append", help="only this answer cell (repeatable)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="also write every mutant, its source and its fate to this "
        "file",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars"
    )
    args = parser.parse_args(argv)
    notebook = (
        args.course
        / "solutions"
        / args.assignment
        / f"{args.assignment}.ipynb"
    )
    report = mutation_report(
        notebook, args.assignment, cells=args.cell, progress=not args.quiet
    )
    print_report(report, known_equivalents(args.course, args.assignment))
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=1))


if __name__ == "__main__":
    main()
