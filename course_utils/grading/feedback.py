"""Feedback that does not give hidden tests away (every assignment).

nbgrader's ``ClearHiddenTests`` removes the hidden region from a test cell's source, but a
hidden assertion that failed still shows up in the cell's traceback, source line included.
:class:`HiddenTestTracebacks` runs before it in ``GenerateFeedback`` (see
``nbgrader_config.py``) and shortens the error of every test cell with a hidden region to
its last line, ``AssertionError: <message>``: the message, written for the student, stays.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"


class HiddenTestTracebacks(Preprocessor):
    """Reduce the tracebacks of test cells with hidden tests to ``name: message``."""

    enabled = Bool(True, help="nbconvert skips preprocessors that are not enabled").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type == "code" and HIDDEN_BEGIN in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
