"""Do the hidden tests catch an answer that only knows the visible tests?
(instructors writing assignments)

A student who cannot solve a part can still pass its visible tests by
special-casing their inputs. For every answer cell that defines functions,
this module builds that student's answer automatically: it runs the visible
part of the cell's test with the solution and records every call the test
makes (arguments fingerprinted by value); the *memorizing* answer then
returns the solution's result for exactly those calls and a wrong value
(:func:`perturb`) for any other. Hidden tests that draw their inputs from
the whole input space must fail it, while the visible part still passes
(otherwise the check proves nothing). Cells whose answer defines only
classes (models) are listed as not applicable: their tests compare behaviour
on fresh inputs and weights.

``python -m course_utils.grading.hardcoding 01_convolution`` prints one line
per answer cell.
"""

from __future__ import annotations

import argparse
import ast
import copy
import functools
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_utils.grading.inprocess import (
    copy_namespace,
    notebook_cells,
    rng_state,
    run_cell,
    set_rng_state,
    visible_part,
)


def fingerprint(value: Any) -> Any:
    """A hashable summary of an argument, equal for equal values (tensors
    and arrays by content)."""
    import numpy
    import torch

    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1)
        digest = (
            hashlib.sha1(
                data.view(torch.uint8).numpy().tobytes()
            ).hexdigest()
            if data.numel()
            else ""
        )
        return "tensor", str(value.dtype), tuple(value.shape), digest
    if isinstance(value, numpy.ndarray):
        return (
            "array",
            str(value.dtype),
            value.shape,
            hashlib.sha1(
                numpy.ascontiguousarray(value).tobytes()
            ).hexdigest(),
        )
    if isinstance(value, torch.Generator):
        return "generator", hashlib.sha1(
            value.get_state().numpy().tobytes()
        ).hexdigest()
    if isinstance(value, torch.nn.Module):
        return (
            "module",
            type(value).__name__,
            tuple(
                (k, fingerprint(v)) for k, v in value.state_dict().items()
            ),
        )
    if isinstance(value, (list, tuple)):
        return type(value).__name__, tuple(fingerprint(v) for v in value)
    if isinstance(value, dict):
        return "dict", tuple(
            (repr(k), fingerprint(v)) for k, v in value.items()
        )
    if callable(value):
        return "callable", getattr(
            value, "__qualname__", type(value).__name__
        )
    return "value", repr(value)


def perturb(value: Any) -> Any:
    """A plausible wrong answer of the same kind as ``value``."""
    import numpy
    import pandas
    import torch

    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0 if math.isfinite(value) else 0.0
    if isinstance(value, torch.Tensor):
        return value.detach() + 1 if value.dtype != torch.bool else ~value
    if isinstance(value, numpy.ndarray):
        return value + 1
    if isinstance(value, (list, tuple)):
        return type(value)(perturb(v) for v in value)
    if isinstance(value, pandas.DataFrame):
        return value.iloc[::-1].reset_index(drop=True)
    return None


def memorizing(function: Callable, known: set) -> Callable:
    """``function`` for the calls in ``known``; for every other call a wrong
    value and no side effect.

    (The solution runs on copies of the arguments, so that an answer meant
    to work in place leaves them as a student who never wrote it would.)
    """

    @functools.wraps(function)
    def answer(*args, **kwargs):
        if fingerprint((args, kwargs)) in known:
            return function(*args, **kwargs)
        return perturb(
            function(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        )

    return answer


def recording(function: Callable, calls: set) -> Callable:
    @functools.wraps(function)
    def answer(*args, **kwargs):
        calls.add(fingerprint((args, kwargs)))
        return function(*args, **kwargs)

    return answer


@dataclass
class Verdict:
    cell: str
    functions: list[str]
    # "caught", "not caught", "visible fails", "inconclusive" (the wrapper
    # alone fails) or "not applicable"
    outcome: str


def defined_functions(source: str) -> list[str]:
    return [
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef)
    ]


def hard_coding_report(
    notebook: Path, timeout_s: float = 60.0
) -> list[Verdict]:
    """One verdict per answer cell: does its test cell's hidden part
    catch a memorizing answer?"""
    import matplotlib

    matplotlib.use("Agg")
    cells = notebook_cells(notebook)
    namespace: dict = {"__name__": "__main__"}
    verdicts = []
    for position, cell in enumerate(cells):
        run_cell(cell.source, namespace, timeout_s)
        if cell.kind != "answer":
            continue
        functions = defined_functions(cell.source)
        test = next(
            (c for c in cells[position + 1 :] if c.kind == "test"), None
        )
        if not functions or test is None:
            verdicts.append(
                Verdict(cell.grade_id, functions, "not applicable")
            )
            continue
        before, state = copy_namespace(namespace), rng_state()
        calls: set = set()
        trial = copy_namespace(before)
        for name in functions:
            trial[name] = recording(before[name], calls)
        run_cell(visible_part(test.source), trial, timeout_s)
        outcomes = []
        # the control: wrapped, always right
        for source, wrap in (
            (test.source, lambda f: recording(f, set())),
            (
                visible_part(test.source),
                functools.partial(memorizing, known=calls),
            ),
            (test.source, functools.partial(memorizing, known=calls)),
        ):
            trial = copy_namespace(before)
            for name in functions:
                trial[name] = wrap(before[name])
            set_rng_state(state)
            outcomes.append(run_cell(source, trial, timeout_s))
        set_rng_state(state)
        control_passes, visible_passes, whole_passes = outcomes
        outcome = (
            "inconclusive"
            if not control_passes
            else "visible fails"
            if not visible_passes
            else "not caught"
            if whole_passes
            else "caught"
        )
        verdicts.append(Verdict(cell.grade_id, functions, outcome))
    return verdicts


def main(argv: list[str] | None = None) -> None:
    """``python -m course_utils.grading.hardcoding <assignment>``: grade
    answers that memorize the visible tests."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grading.hardcoding",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("assignment")
    parser.add_argument("--course", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    notebook = (
        args.course
        / "solutions"
        / args.assignment
        / f"{args.assignment}.ipynb"
    )
    for verdict in hard_coding_report(notebook):
        print(
            f"{args.assignment}  {verdict.cell:<24} {verdict.outcome:<15} "
            f"{', '.join(verdict.functions)}"
        )


if __name__ == "__main__":
    main()
