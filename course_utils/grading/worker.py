"""A grading worker: autogrades one submission at a time in its own working
copy.

The grader (:mod:`course_utils.grading.pipeline`) starts a few of these
processes and sends each job as one JSON line on standard input; the worker
answers with one JSON line. A worker imports nbgrader once and keeps it
(that import alone takes seconds), but every submission gets a fresh course
folder of its own: the configuration, the assignment's source, an empty
gradebook that knows the assignment, and a copy of that one submission. The
kernel that runs the student's code is sandboxed (:mod:`.sandbox`): it sees
a copy of the submission's own folder, never this working copy, whose
gradebook holds the hidden tests; its control groups are ended, and scores
read, only after it has exited. A kernel that dies takes nothing with it but
its own submission's attempt.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

import nbformat

from course_utils.grading.execute import BoundedExecute, Execute
from course_utils.grading.gradebook import remove_tree
from course_utils.grading.review import review_notes
from course_utils.grading.sandbox import (
    JOB_TOKEN_VARIABLE,
    end_job,
    runtime_folder,
)

# error names that tell the instructor why a cell lost its points without
# reading the notebook
NOTEWORTHY_ERRORS = {
    "CellTimeoutError": "timed out",
    "MemoryError": "ran out of memory",
    "ModuleNotFoundError": "failed to import a module",
    "ImportError": "failed to import",
}


def load_course_config(
    template: Path,
    cell_timeout_s: int,
    connection_file: Path,
    output_bytes: int,
):
    """The course's ``nbgrader_config.py`` with the grading run's settings
    on top.

    Kernels talk over Unix sockets in ``connection_file``'s folder (the
    sandbox has no network), and cells run under
    :class:`~course_utils.grading.execute.BoundedExecute`.

    Args:
        template: the working course folder whose ``nbgrader_config.py`` is
            read.
        cell_timeout_s: seconds one cell may run (``Execute.timeout``).
        connection_file: where the kernel's connection file goes; its folder
            holds the kernel's sockets.
        output_bytes: characters of output a cell keeps
            (``BoundedExecute.max_output_bytes``).

    Returns:
        The merged ``traitlets`` ``Config``, with nbgrader's ``Execute``
        preprocessor replaced by ``BoundedExecute`` in the autograde
        preprocessors.
    """
    from nbgrader.converters import Autograde
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(
        "nbgrader_config.py", path=str(template)
    ).load_config()
    overrides = Config()
    overrides.Execute.timeout = cell_timeout_s
    overrides.BoundedExecute.max_output_bytes = output_bytes
    overrides.KernelManager.transport = "ipc"
    overrides.KernelManager.connection_file = str(connection_file)
    preprocessors = (
        config.Autograde["autograde_preprocessors"]
        if "autograde_preprocessors" in config.Autograde
        else Autograde.class_traits()["autograde_preprocessors"].default()
    )
    overrides.Autograde.autograde_preprocessors = [
        BoundedExecute
        if preprocessor in (Execute, "nbgrader.preprocessors.Execute")
        else preprocessor
        for preprocessor in preprocessors
    ]
    config.merge(overrides)
    return config


def prepare_copy(job: dict[str, Any]) -> Path:
    """Copy the template course and this one submission into the job's
    working folder."""
    work, assignment, student = (
        Path(job["work_dir"]),
        job["assignment"],
        job["student"],
    )
    remove_tree(work)
    shutil.copytree(job["template"], work)
    target = work / "submitted" / student / assignment
    renamed = {Path(src) for src in job["notebooks"].values()}
    folder = Path(job["folder"])
    # the student's other files (data, timestamp.txt) come along; notebooks
    # go in under their expected names a link is copied as a link, never
    # followed on the host
    shutil.copytree(
        folder,
        target,
        symlinks=True,
        ignore=lambda d, names: [
            n
            for n in names
            if Path(d, n) in renamed or n == ".ipynb_checkpoints"
        ],
    )
    for name, src in job["notebooks"].items():
        shutil.copy(src, target / name)
    return work


def cell_notes(notebook: Path) -> list[str]:
    """One line per graded or answer cell whose error says why it failed
    (a timeout, memory, imports)."""
    notes = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        grade_id = (
            cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        )
        for output in cell.get("outputs", []):
            if (
                output.get("output_type") == "error"
                and output.get("ename") in NOTEWORTHY_ERRORS
                and grade_id
            ):
                note = (
                    f"cell {grade_id} {NOTEWORTHY_ERRORS[output['ename']]}"
                )
                if note not in notes:
                    notes.append(note)
    return notes


def read_scores(
    work: Path, assignment: str, student: str
) -> dict[str, Any]:
    """Per-cell and total scores of the graded submission, from the
    working copy's gradebook."""
    from nbgrader.api import Gradebook

    cells: dict[str, list[float]] = {}
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                cells[f"{notebook.name}:{grade.name}"] = [
                    float(grade.score),
                    float(grade.max_score),
                ]
        return {
            "score": float(submission.score),
            "max_score": float(submission.max_score),
            "cells": cells,
            "needs_manual_grade": bool(submission.needs_manual_grade),
        }


def failure_reason(result: dict[str, Any]) -> tuple[str, str]:
    """Status and reason for an nbgrader run that did not succeed."""
    text = f"{result.get('log', '')}\n{result.get('error', '')}"
    if "Kernel died" in text or "DeadKernelError" in text:
        return (
            "kernel_died",
            "the kernel died while running the notebook (os._exit, a "
            "crash, or the CPU or memory limit)",
        )
    if (
        "unresponsive" in text
        or "UnresponsiveKernelError" in text
        or "TimeoutError" in text
    ):
        return "kernel_unresponsive", (
            "the kernel stopped answering and could not be interrupted "
            "(a cell that catches KeyboardInterrupt, or a kernel blocked "
            "in compiled code)"
        )
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (
        "grading_error",
        f"nbgrader failed: {lines[-1] if lines else 'no message'}",
    )


def autograde_sandboxed(
    api, job: dict[str, Any], runtime: Path
) -> tuple[dict[str, Any], list[str]]:
    """nbgrader's autograde of one submission; every process the kernel
    started is dead on return.

    Returns nbgrader's result and notes about the kernel's end (memory cap,
    cleanup).
    """
    # the sandbox names the kernel's control group after it
    os.environ[JOB_TOKEN_VARIABLE] = job["token"]
    notes = []
    try:
        result = api.autograde(
            job["assignment"], job["student"], force=True, create=True
        )
    finally:
        all_dead, out_of_memory = end_job(job["token"])
        os.environ.pop(JOB_TOKEN_VARIABLE, None)
        try:
            remove_tree(runtime)
        except OSError as error:
            notes.append(
                f"could not remove the kernel's socket folder {runtime}: "
                f"{error}"
            )
    if out_of_memory:
        notes.append("the kernel reached the memory limit")
    # no score is read while any process of the submission may still run
    if not all_dead:
        result = {
            "success": False,
            "error": "some of the kernel's processes could not be "
            "killed; no score was read",
        }
    return result, notes


def grade(job: dict[str, Any]) -> dict[str, Any]:
    """Autograde one submission and generate its feedback; return the
    outcome."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    assignment, student = job["assignment"], job["student"]
    work = prepare_copy(job)
    runtime = runtime_folder(job["token"])
    config = load_course_config(
        work,
        job["cell_timeout_s"],
        runtime / "kernel.json",
        job["output_bytes"],
    )
    coursedir = CourseDirectory(config=config, root=str(work))
    api = NbGraderAPI(coursedir=coursedir, config=config)
    autograded, notes = autograde_sandboxed(api, job, runtime)
    if not autograded["success"]:
        status, reason = failure_reason(autograded)
        return {
            "status": status,
            "reason": reason,
            "notes": notes,
            "log": autograded.get("log", "")[-4000:],
        }
    for name in job["notebooks"]:
        graded = work / "autograded" / student / assignment / name
        notes += cell_notes(graded) + review_notes(
            graded, work / "solutions" / assignment / name
        )
    outcome = {
        "status": "graded",
        "reason": "",
        "notes": notes,
        **read_scores(work, assignment, student),
    }
    feedback = api.generate_feedback(assignment, student, force=True)
    # the grade stands; only the student's feedback page is missing
    if not feedback["success"]:
        notes.append(f"no feedback page: {failure_reason(feedback)[1]}")
        outcome["log"] = feedback.get("log", "")[-4000:]
    return outcome


def main() -> None:
    """Answer each JSON job on stdin with one JSON line; nothing else
    reaches stdout."""
    import nbgrader.apps  # noqa: F401  (seconds to import: done while the grader still prepares)

    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    # stray prints (nbgrader, kernels) go to the log
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        job = json.loads(line)
        try:
            outcome = grade(job)
        except Exception:
            outcome = {
                "status": "grading_error",
                "reason": "the grading worker failed: "
                + traceback.format_exc().strip().splitlines()[-1],
                "log": traceback.format_exc()[-4000:],
            }
        replies.write(
            json.dumps(
                {
                    "token": job.get("token"),
                    "student": job.get("student"),
                    **outcome,
                }
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
