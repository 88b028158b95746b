"""Running an assignment notebook's cells in this process, as nbgrader would
score them.

Used by :mod:`.mutation` and :mod:`.hardcoding`, which run thousands of
variants of a notebook and need milliseconds, not a kernel, per run: a cell
*passes* when it neither raises nor writes to standard error (nbgrader's
rule), warnings go nowhere (the course's kernels print them to standard
output), and a cell past its time limit is interrupted.
tests/test_assignments.py checks on a sample that these verdicts are
nbgrader's.
"""

from __future__ import annotations

import contextlib
import copy
import io
import random
import signal
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class CellTimeout(Exception):
    pass


@dataclass
class Cell:
    kind: str  # "answer", "test" or "code"
    grade_id: str
    source: str
    points: float = 0.0


def notebook_cells(path: Path) -> list[Cell]:
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        kind = (
            "answer"
            if meta.get("solution")
            else "test"
            if meta.get("grade")
            else "code"
        )
        cells.append(
            Cell(
                kind,
                meta.get("grade_id", ""),
                cell.source,
                float(meta.get("points", 0) or 0),
            )
        )
    return cells


def copy_namespace(namespace: dict) -> dict:
    """A copy whose data (tensors, models, lists) later cells can change
    without touching the original."""
    copied = {}
    for name, value in namespace.items():
        if isinstance(
            value,
            (
                types.ModuleType,
                types.FunctionType,
                type,
                types.BuiltinFunctionType,
            ),
        ):
            copied[name] = value
        else:
            try:
                copied[name] = copy.deepcopy(value)
            # generators, locks, open files: shared, as they are rare
            # in cells
            except Exception:
                copied[name] = value
    return copied


def _on_alarm(signum, frame):
    raise CellTimeout()


def run_cell(source: str, namespace: dict, timeout_s: float) -> bool:
    """Run one cell as nbgrader would score it: True when it neither
    raised nor wrote to stderr."""
    stderr, stdout = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with (
            contextlib.redirect_stderr(stderr),
            contextlib.redirect_stdout(stdout),
            warnings.catch_warnings(),
        ):
            # the course's kernels print warnings to stdout
            # (course_utils.grading.kernel): no penalty
            warnings.showwarning = lambda *args, **kwargs: None
            exec(compile(source, "<cell>", "exec"), namespace)
        ok = True
    except BaseException as error:  # noqa: BLE001  (a mutant may raise anything, SystemExit included)
        if isinstance(error, KeyboardInterrupt):
            raise
        ok = False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return ok and not stderr.getvalue()


def rng_state():
    import numpy
    import torch

    return (
        torch.get_rng_state(),
        numpy.random.get_state(),
        random.getstate(),
    )


def set_rng_state(state) -> None:
    import numpy
    import torch

    torch.set_rng_state(state[0])
    numpy.random.set_state(state[1])
    random.setstate(state[2])


def visible_part(source: str) -> str:
    """A test cell without its hidden tests (what the student's Validate
    runs)."""
    lines, hidden = [], False
    for line in source.splitlines():
        if HIDDEN_BEGIN in line or HIDDEN_END in line:
            hidden = HIDDEN_BEGIN in line
        elif not hidden:
            lines.append(line)
    return "\n".join(lines)
