"""Helpers for tests that run nbgrader for real in a temporary course folder.

The course folder gets the repository's own nbgrader_config.py and solutions/, so the
tests exercise exactly what instructors run. Submissions are built from the generated
release notebook by replacing answer cells, the way a student fills them in.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import nbformat

from course_utils.grading.gradebook import run_nbgrader as grading_run_nbgrader

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CHAPTERS = sorted(
    p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file()
)
SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$", re.MULTILINE)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.DOTALL)


def nbgrader_env() -> dict[str, str]:
    """Environment for nbgrader, jupyter-book and their kernels.

    nbgrader runs `alembic` and kernels by name, so the venv's bin/ comes first on PATH.
    MPLBACKEND is dropped: a kernel that inherits e.g. Agg draws no inline figures.
    """
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("JUPYTER_CONFIG_DIR", None)
    env.pop("MPLBACKEND", None)
    return env


def run_nbgrader(course: Path, *args: str, timeout: int = 900) -> str:
    """``course_utils``' nbgrader runner with the tests' environment; returns nbgrader's log."""
    return grading_run_nbgrader(course, *args, env=nbgrader_env(), timeout=timeout)


def make_course(root: Path, chapter: str) -> Path:
    """A course folder with the repo's config and one chapter's source, release generated."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "solutions" / chapter, root / "solutions" / chapter)
    run_nbgrader(root, "generate_assignment", chapter, "--force")
    return root


def cells_by_grade_id(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def answer_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {
        gid: c for gid, c in cells_by_grade_id(nb).items() if c.metadata["nbgrader"].get("solution")
    }


def graded_cells(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {
        gid: c for gid, c in cells_by_grade_id(nb).items() if c.metadata["nbgrader"].get("grade")
    }


def source_notebook(chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)


def solution_answers(chapter: str) -> dict[str, str]:
    """What a perfect student writes: the source's answer cells without nbgrader markers."""
    return {
        gid: SOLUTION_MARKERS.sub("", cell.source)
        for gid, cell in answer_cells(source_notebook(chapter)).items()
    }


def fill_answers(release: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(release)
    cells = answer_cells(nb)
    unknown = set(answers) - set(cells)
    if unknown:
        raise KeyError(f"fixture answers for cells the notebook does not have: {sorted(unknown)}")
    for gid, source in answers.items():
        cells[gid].source = source.strip("\n")
    return nb


def submit(course: Path, chapter: str, student: str, nb: nbformat.NotebookNode) -> None:
    folder = course / "submitted" / student / chapter
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{chapter}.ipynb")


def release_notebook(course: Path, chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(course / "exercises" / chapter / f"{chapter}.ipynb", as_version=4)


def protected_lines(chapter: str, solutions: bool = True, hidden: bool = True) -> set[str]:
    """Distinctive lines (24+ characters) of solutions and hidden tests: none may leak."""
    lines, public = set(), []
    for cell in source_notebook(chapter).cells:
        blocks = (SOLUTION.findall(cell.source) if solutions else []) + (
            HIDDEN.findall(cell.source) if hidden else []
        )
        for block in blocks:
            lines.update(line.strip() for line in block.splitlines() if len(line.strip()) >= 24)
        public.append(HIDDEN.sub("", SOLUTION.sub("", cell.source)))
    # text the student is shown anyway (the task's own wording, a loop header the hidden part
    # repeats) is no leak
    public_text = "\n".join(public)
    lines = {line for line in lines if line not in public_text}
    if not lines:
        raise AssertionError(f"{chapter}: found no solution or hidden-test lines to look for")
    return lines


def visible_text(html: str) -> str:
    """The text a reader sees: tags removed (syntax highlighting splits code into spans)."""
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "html.parser").get_text()


def leaked_lines(text: str, lines: set[str]) -> list[str]:
    return sorted(line for line in lines if line in text)
