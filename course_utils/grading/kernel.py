"""Kernel start-up for graded notebooks (every assignment).

nbgrader scores a test cell 0 whenever the cell wrote anything to stderr,
and Python prints warnings to stderr: a ``UserWarning`` from torch inside a
correct answer would cost it its points. ``nbgrader_config.py`` starts each
grading/validation kernel with ``--IPKernelApp.exec_lines`` calling
:func:`route_warnings_to_stdout`, so warnings stay visible to the student
but no longer look like failures. Errors still fail the cell. The same line
installs :mod:`.guard`'s tamper check before any student code runs. Release
notebooks also route warnings themselves, in their setup cell
(:func:`course_utils.student.warnings_to_stdout`, the same function), so
Validate behaves the same in a folder without the course's configuration.
"""

from __future__ import annotations

from course_utils.student import warnings_to_stdout

KERNEL_EXEC_LINE = (
    "import course_utils.grading.kernel as _k, "
    "course_utils.grading.guard as _g; _k.route_warnings_to_stdout(); "
    "_g.install(); del _k, _g"
)


def route_warnings_to_stdout() -> None:
    """Print every warning to standard output instead of standard error."""
    warnings_to_stdout()


def kernel_arguments() -> list[str]:
    """Extra kernel arguments for nbgrader's ``Execute`` preprocessor."""
    return [f"--IPKernelApp.exec_lines={KERNEL_EXEC_LINE}"]
