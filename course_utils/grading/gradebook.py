"""The course gradebook and the small per-submission gradebooks of a grading
run.

nbgrader keeps every score in one SQLite gradebook, and writing to it from
several processes at once is not safe. A grading run therefore gives each
submission its own gradebook (a copy of a *template* that knows only the
assignment), and afterwards copies each graded submission into the course's
gradebook, one at a time, so that nbgrader's own ``export``, ``formgrader``
and ``generate_feedback`` see the same grades as a sequential ``nbgrader
autograde`` would have written.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning


def put_tools_on_path() -> None:
    """Make nbgrader's helpers findable: it runs ``alembic`` by name
    whenever it opens a gradebook."""
    tools = str(Path(sys.executable).parent)
    if tools not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = (
            f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"
        )


def run_nbgrader(
    course: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """Run ``nbgrader ARGS`` in ``course``; returns its log, raises with the
    log when it fails.

    Args:
        course: the course folder (the one with ``nbgrader_config.py``), the
            working directory.
        *args: the nbgrader command and its arguments, e.g.
            ``"autograde", "01_convolution"``.
        env: the environment of the subprocess; ``None`` inherits this
            process's. Default: ``None``.
        timeout: seconds before the subprocess is killed and
            ``subprocess.TimeoutExpired`` raised; ``None`` waits for ever.
            Default: ``None``.

    Returns:
        nbgrader's standard output followed by its standard error.

    Raises:
        RuntimeError: if nbgrader exits with a non-zero status (the message
            holds the log).
    """
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args[:2])} failed "
            f"({result.returncode}):\n{log}"
        )
    return log


def gradebook_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def knows_assignment(
    course: Path, assignment: str, notebooks: list[str]
) -> bool:
    """Whether the course gradebook has the assignment and every one of
    its notebooks."""
    if not (course / "gradebook.db").is_file():
        return False
    with Gradebook(gradebook_url(course)) as gradebook:
        try:
            found = {
                nb.name
                for nb in gradebook.find_assignment(assignment).notebooks
            }
        except MissingEntry:
            return False
    return {Path(n).stem for n in notebooks} <= found


def register_assignment(
    course: Path, assignment: str, release_dir: Path
) -> None:
    """Record the assignment's cells in ``course``'s gradebook
    (``generate_assignment``).

    The release goes to ``release_dir`` so that registering never rewrites
    ``exercises/``.
    """
    run_nbgrader(
        course,
        "generate_assignment",
        assignment,
        "--force",
        f"--CourseDirectory.release_directory={release_dir}",
    )


# nbgrader's tables of student data; a template keeps the assignments and
# their cells only
STUDENT_TABLES = (
    "comment",
    "grade",
    "submitted_notebook",
    "submitted_assignment",
    "student",
)


def make_template(course: Path, assignment: str, template: Path) -> Path:
    """A minimal course folder: the config, the assignment's source, and the
    course's gradebook without any student data (so sandboxed code cannot
    read other students' grades).
    """
    remove_tree(template)
    template.mkdir(parents=True)
    shutil.copy(
        course / "nbgrader_config.py", template / "nbgrader_config.py"
    )
    shutil.copytree(
        course / "solutions" / assignment,
        template / "solutions" / assignment,
    )
    source = sqlite3.connect(course / "gradebook.db")
    copy = sqlite3.connect(template / "gradebook.db")
    try:
        source.backup(copy)
        for table in STUDENT_TABLES:
            copy.execute(f"DELETE FROM {table}")
        copy.commit()
        copy.execute("VACUUM")
    finally:
        source.close()
        copy.close()
    return template


def merge_submission(
    course: Path, work: Path, assignment: str, student: str
) -> None:
    """Copy one graded submission from a working copy's gradebook into the
    course's.

    A previous submission of the same student to the same assignment is
    replaced, as a forced ``nbgrader autograde`` would do.

    Args:
        course: the course folder whose ``gradebook.db`` receives the
            grades.
        work: the working copy (a :func:`make_template` folder) whose
            ``gradebook.db`` holds the graded submission.
        assignment: the assignment's name, e.g. ``"01_convolution"``.
        student: the student's id; added to the course's gradebook if new.
            ``work``'s gradebook must hold this student's submission (else
            nbgrader raises ``MissingEntry``).
    """
    with (
        Gradebook(gradebook_url(work)) as source,
        Gradebook(gradebook_url(course)) as target,
    ):
        graded = source.find_submission(assignment, student)
        target.update_or_create_student(student)
        try:
            target.remove_submission(assignment, student)
            # the session still links the student to the removed rows
            target.db.expire_all()
        except MissingEntry:
            pass
        with warnings.catch_warnings():
            # nbgrader's add_submission autoflushes half-built rows;
            # SQLAlchemy 2 warns, the rows are fine
            warnings.simplefilter("ignore", SAWarning)
            target.add_submission(
                assignment,
                student,
                timestamp=graded.timestamp,
                extension=graded.extension,
            )
        for notebook in graded.notebooks:
            copied = target.find_submission_notebook(
                notebook.name, assignment, student
            )
            copied.flagged = notebook.flagged
            copied.late_submission_penalty = (
                notebook.late_submission_penalty
            )
            for grade in notebook.grades:
                row = target.find_grade(
                    grade.name, notebook.name, assignment, student
                )
                row.auto_score, row.manual_score = (
                    grade.auto_score,
                    grade.manual_score,
                )
                row.extra_credit, row.needs_manual_grade = (
                    grade.extra_credit,
                    grade.needs_manual_grade,
                )
            for comment in notebook.comments:
                row = target.find_comment(
                    comment.name, notebook.name, assignment, student
                )
                row.auto_comment, row.manual_comment = (
                    comment.auto_comment,
                    comment.manual_comment,
                )
        target.db.commit()


def remove_tree(path: Path) -> None:
    """Delete a folder even where nbgrader made files or folders
    read-only."""

    def make_writable_and_retry(function, name, _excinfo) -> None:
        os.chmod(name, stat.S_IRWXU)
        os.chmod(os.path.dirname(name), stat.S_IRWXU)
        function(name)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=make_writable_and_retry)


def replace_folder(source: Path, target: Path) -> None:
    """Put ``source`` at ``target``, replacing what was there (autograded
    or feedback output)."""
    remove_tree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target)
