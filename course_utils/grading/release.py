"""The release notebooks' Run All behaviour (``nbgrader
generate_assignment``).

A notebook's Run All stops at the first cell that raises, so a student who
has answered part 3 but not part 1 would never see part 3's tests run.
JupyterLab (and nbclient) keep going past a cell tagged
``raises-exception``: :class:`ContinueRunAll` adds that tag to every answer
and test cell of the release, and only of the release, so the instructor's
source notebooks still stop (and fail their nbval run) on any error.

Grading does not change: nbgrader executes submissions with ``allow_errors``
(every cell runs whatever the tags say) and scores a test cell by its error
output, which the tag does not hide.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

TAG = "raises-exception"


def is_answer_or_test(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(
        meta.get("solution") or meta.get("grade")
    )


class ContinueRunAll(Preprocessor):
    """Tag the answer and test cells ``raises-exception`` so Run All goes
    on past a failing part."""

    # nbconvert registers a preprocessor named in the config disabled
    enabled = Bool(True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict, index: int
    ) -> tuple[NotebookNode, dict]:
        if is_answer_or_test(cell):
            tags = cell.metadata.setdefault("tags", [])
            if TAG not in tags:
                tags.append(TAG)
        return cell, resources
