"""What an assignment notebook sets up for the student (every assignment's
first cell).

nbgrader gives a test cell 0 points when the cell wrote anything to standard
error, and Python prints warnings there: a ``UserWarning`` from torch inside
a correct answer would make the cell look failed, both when the notebook is
graded and when the student presses Validate. Each release notebook's
read-only setup cell calls :func:`warnings_to_stdout`, so the notebook
behaves the same wherever it is opened (with or without the course's
``nbgrader_config.py`` next to it); the grading kernels do the same at
start-up (:mod:`course_utils.grading.kernel`). Warnings stay visible; errors
still fail the cell.
"""

from __future__ import annotations

import sys
import warnings
from typing import TextIO


def _show_on_stdout(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    sys.stdout.write(
        warnings.formatwarning(message, category, filename, lineno, line)
    )


def warnings_to_stdout() -> None:
    """Print every warning to standard output instead of standard error."""
    warnings.showwarning = _show_on_stdout
