"""Find, check and collect the submissions of one assignment (instructor
grading).

A submission is the folder ``submitted/<student>/<assignment>/`` of an
nbgrader course. Before anything runs, each is checked so that a problem
nbgrader would skip silently (and later export as a score of 0) becomes a
named status instead: no notebook at all, a notebook that is not valid JSON,
or a notebook saved under another name.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.grading.gradebook import put_tools_on_path, run_nbgrader

# A folder per student inside the LMS archive:
# <anything>/<student>/<notebook>.ipynb. nbgrader matches the regexp against
# the file's absolute path, hence the leading ".*".
FOLDER_PER_STUDENT_REGEXP = (
    r".*/extracted/(?:.*/)?(?P<student_id>[^/]+)/(?P<file_id>[^/]+\.ipynb)$"
)


@dataclass
class Submission:
    """One student's submission and what the checks found.

    ``notebooks`` maps the assignment's notebook names to the files to grade
    under those names; ``problem`` is set (with ``status``) when the
    submission cannot be graded.
    """

    student: str
    folder: Path
    notebooks: dict[str, Path] = field(default_factory=dict)
    status: str = "ready"
    problem: str = ""
    notes: list[str] = field(default_factory=list)


def expected_notebooks(course: Path, assignment: str) -> list[str]:
    """Names of the notebooks in the assignment's source folder."""
    source = course / "solutions" / assignment
    names = sorted(p.name for p in source.glob("*.ipynb"))
    if not names:
        raise FileNotFoundError(
            f"no source notebooks in {source}: is {assignment!r} the "
            "assignment's folder name?"
        )
    return names


def _student_notebooks(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )


def _unreadable(path: Path) -> str:
    """Why ``path`` is not a notebook nbgrader can grade, or "" when it
    is one."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return "is not text (not UTF-8)"
    except json.JSONDecodeError as error:
        return (
            f"is not valid JSON ({error.msg}: line {error.lineno}, "
            f"column {error.colno}; cut short or edited by hand?)"
        )
    try:
        if not isinstance(content, dict):
            raise ValueError(
                f"the file holds a JSON {type(content).__name__}, not an "
                "object"
            )
        nbformat.validate(nbformat.read(path, as_version=4))
    # nbformat raises validation and version errors alike
    except Exception as error:
        first_line = (
            str(error).strip().splitlines() or [type(error).__name__]
        )[0]
        return f"is JSON but not a valid notebook ({first_line[:120]})"
    return ""


def check_submission(
    student: str, folder: Path, expected: list[str]
) -> Submission:
    """Match the submitted files to the expected notebooks and check that
    each one parses."""
    submission = Submission(student, folder)
    found = _student_notebooks(folder)
    by_name = {p.name: p for p in found if p.parent == folder}
    missing = [name for name in expected if name not in by_name]
    spare = [
        p for p in found if p.name not in expected or p.parent != folder
    ]
    if missing and len(missing) == len(spare) == 1:
        # one notebook under another name ("01_convolution (1).ipynb"):
        # grade it as the expected one
        by_name[missing[0]] = spare[0]
        submission.notes.append(
            f"graded {spare[0].relative_to(folder)} as {missing[0]} "
            "(renamed)"
        )
        missing = []
    if missing:
        submission.status = "missing_notebook"
        names = (
            ", ".join(str(p.relative_to(folder)) for p in found)
            or "no notebooks"
        )
        submission.problem = (
            f"expected {', '.join(missing)}; the folder has {names}"
        )
        return submission
    for name in expected:
        path = by_name[name]
        problem = (
            "is a symbolic link, not a file"
            if path.is_symlink()
            else _unreadable(path)
        )
        if problem:
            submission.status = "corrupt_notebook"
            submission.problem = f"{path.relative_to(folder)} {problem}"
            return submission
        submission.notebooks[name] = path
    return submission


def find_submissions(
    course: Path, assignment: str, students: list[str] | None = None
) -> list[Submission]:
    """Every ``submitted/<student>/<assignment>/`` folder, checked
    (optionally only some students)."""
    expected = expected_notebooks(course, assignment)
    root = course / "submitted"
    folders = (
        sorted(
            p / assignment
            for p in root.iterdir()
            if (p / assignment).is_dir()
        )
        if root.is_dir()
        else []
    )
    if students is not None:
        unknown = set(students) - {f.parent.name for f in folders}
        if unknown:
            raise FileNotFoundError(
                f"no submission of {assignment} for {sorted(unknown)} "
                f"under {root}"
            )
        folders = [f for f in folders if f.parent.name in students]
    return [check_submission(f.parent.name, f, expected) for f in folders]


def collect_zip(
    course: Path,
    assignment: str,
    archive: Path,
    regexp: str = FOLDER_PER_STUDENT_REGEXP,
) -> str:
    """Unpack an LMS download into ``submitted/`` with ``nbgrader
    zip_collect``; return its log.

    ``regexp`` names the ``student_id`` and ``file_id`` groups in each
    file's path; the default expects one folder per student. Existing
    submissions of the same students are replaced (``--force``).

    Args:
        course: the course folder (with ``nbgrader_config.py``).
        assignment: the assignment's name, e.g. ``"01_convolution"``.
        archive: the ``.zip`` downloaded from the LMS; it is copied to
            ``downloaded/<assignment>/archive/``, replacing an earlier copy.
        regexp: nbgrader's ``FileNameCollectorPlugin.named_regexp``, matched
            against each extracted file's absolute path.
            Default: ``FOLDER_PER_STUDENT_REGEXP``.

    Returns:
        nbgrader's log of the collection.

    Raises:
        FileNotFoundError: if ``archive`` is not a file.
        RuntimeError: if ``nbgrader zip_collect`` fails, or ``regexp``
            matched no notebook.
    """
    put_tools_on_path()
    if not archive.is_file():
        raise FileNotFoundError(f"no archive at {archive}")
    archive_dir = course / "downloaded" / assignment / "archive"
    if archive_dir.exists():
        shutil.rmtree(archive_dir)
    archive_dir.mkdir(parents=True)
    shutil.copy(archive, archive_dir / archive.name)
    log = run_nbgrader(
        course,
        "zip_collect",
        assignment,
        "--force",
        f"--FileNameCollectorPlugin.named_regexp={regexp}",
    )
    if re.search(r"\b0 files collected", log):
        raise RuntimeError(
            f"the regular expression {regexp!r} matched no notebook in "
            f"{archive.name}; pass one that fits the LMS's file names "
            "with --zip-regexp (the instructor page has examples)"
        )
    return log
