"""Feedback that does not give hidden tests away (every assignment).

nbgrader's ``ClearHiddenTests`` removes the hidden region from a test cell's
source, but a hidden assertion that failed still shows up in the cell's
traceback, source line included. :class:`HiddenTestTracebacks` runs before
it in ``GenerateFeedback`` (see ``nbgrader_config.py``) and shortens the
error of every test cell with a hidden region to its last line,
``AssertionError: <message>``: the message, written for the student, stays.
Warnings leak the same way (Python prints the source line that warned), so
lines of a test cell's printed output that repeat a line of its hidden
region are dropped too.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool

HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"


def hidden_lines(source: str) -> set[str]:
    """The stripped, non-empty lines between the hidden-test markers of a
    cell."""
    lines, inside = set(), False
    for line in source.splitlines():
        if HIDDEN_BEGIN in line or HIDDEN_END in line:
            inside = HIDDEN_BEGIN in line
        elif inside and line.strip():
            lines.add(line.strip())
    return lines


def is_test_cell(cell: NotebookNode) -> bool:
    """An nbgrader test cell: graded, not an answer (the only cells that
    hold hidden tests)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return (
        cell.cell_type == "code"
        and bool(meta.get("grade"))
        and not meta.get("solution")
    )


class TestCellsClearHiddenTests(ClearHiddenTests):
    """nbgrader's ``ClearHiddenTests`` for test cells only.

    nbgrader's own looks for the markers in every cell, so an answer whose
    comment says ``### BEGIN HIDDEN TESTS`` made feedback fail for that
    student.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict, index: int
    ) -> tuple[NotebookNode, dict]:
        if not is_test_cell(cell):
            return cell, resources
        return super().preprocess_cell(cell, resources, index)


class HiddenTestTracebacks(Preprocessor):
    """Reduce the tracebacks of test cells with hidden tests to ``name:
    message``; drop quoted hidden lines."""

    enabled = Bool(
        True, help="nbconvert skips preprocessors that are not enabled"
    ).tag(config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict, index: int
    ) -> tuple[NotebookNode, dict]:
        if is_test_cell(cell) and HIDDEN_BEGIN in cell.source:
            hidden = hidden_lines(cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [
                        f"{output.get('ename', 'Error')}: "
                        f"{output.get('evalue', '')}"
                    ]
                elif output.get("output_type") == "stream":
                    kept = [
                        line
                        for line in output.get("text", "").splitlines(
                            keepends=True
                        )
                        if line.strip() not in hidden
                    ]
                    output["text"] = "".join(kept)
        return cell, resources
