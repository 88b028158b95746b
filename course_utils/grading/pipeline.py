"""Grade every submission of an assignment: sandboxed, in parallel, loud
about failures.

:func:`grade_assignment` is what ``python -m course_utils.grading`` runs. It
checks each submission (:mod:`.submissions`), hands the gradable ones to a
few worker processes (:mod:`.worker`) whose kernels run under resource
limits (:mod:`.sandbox`), retries a submission once when its kernel died,
copies the grades into the course gradebook (:mod:`.gradebook`) with the
autograded notebooks and the feedback, and writes a CSV in which every
submission has a status: a submission that could not be graded never shows
up as a bare 0.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm

from course_utils.grading.gradebook import (
    knows_assignment,
    make_template,
    merge_submission,
    put_tools_on_path,
    register_assignment,
    remove_tree,
    replace_folder,
)
from course_utils.grading.sandbox import (
    ControlGroup,
    Limits,
    end_job,
    readable_roots,
    remove_runtime_folders,
    write_kernel_spec,
)
from course_utils.grading.submissions import (
    Submission,
    expected_notebooks,
    find_submissions,
)

# every status a submission can end with (the instructor page explains each)
STATUSES = (
    "graded",
    "corrupt_notebook",
    "missing_notebook",
    "kernel_died",
    "kernel_unresponsive",
    "timed_out",
    "grading_error",
    "feedback_error",
)
RETRIED_STATUSES = {"kernel_died", "kernel_unresponsive"}
CSV_COLUMNS = [
    "student_id",
    "assignment",
    "status",
    "score",
    "max_score",
    "attempts",
    "seconds",
    "reason",
    "notes",
]


@dataclass
class Outcome:
    """What happened to one submission. ``score`` is None unless ``status
    == "graded"``."""

    student: str
    status: str
    score: float | None = None
    max_score: float | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0
    log: str = ""
    work_dir: Path | None = None

    @property
    def graded(self) -> bool:
        return self.status == "graded"

    def csv_row(self, assignment: str) -> dict[str, Any]:
        return {
            "student_id": self.student,
            "assignment": assignment,
            "status": self.status,
            "score": "" if self.score is None else f"{self.score:g}",
            "max_score": ""
            if self.max_score is None
            else f"{self.max_score:g}",
            "attempts": self.attempts,
            "seconds": f"{self.seconds:.1f}",
            "reason": self.reason,
            "notes": "; ".join(self.notes),
        }


class Worker:
    """One ``course_utils.grading.worker`` process; restarted after it is
    killed."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log_path = env, log
        self.command = [sys.executable, "-m", "course_utils.grading.worker"]
        self.process: subprocess.Popen | None = None
        self.replies: queue.Queue[str] = queue.Queue()

    def start(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()

    def _start(self) -> subprocess.Popen:
        log = open(self.log_path, "a")
        process = subprocess.Popen(
            self.command,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            # its own process group; its kernels die with it (bwrap
            # --die-with-parent)
            start_new_session=True,
        )
        log.close()
        replies = self.replies = queue.Queue()

        def read_replies() -> None:
            for line in process.stdout:
                replies.put(line)
            replies.put("")  # end of output: the worker exited

        threading.Thread(target=read_replies, daemon=True).start()
        return process

    def run(
        self, job: dict[str, Any], timeout_s: float
    ) -> dict[str, Any] | None:
        """The worker's answer to ``job``, or None when it did not answer in
        time (it is then killed).

        Replies carry the job's token: a line that is not the answer to this
        job (stray output, a forged reply) is ignored, so no answer is ever
        taken for another job's.
        """
        self.start()
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.replies.get(
                    timeout=max(0.0, deadline - time.monotonic())
                )
            except queue.Empty:
                self.kill()
                return None
            if not line:
                process, self.process = self.process, None
                # killed by the grader, which is stopping
                if process is None:
                    return {
                        "status": "grading_error",
                        "reason": "the grading run was stopped",
                    }
                code = process.wait()
                return {
                    "status": "grading_error",
                    "reason": "the grading worker exited with status "
                    f"{code}",
                    "log": self.log_path.read_text(errors="replace")[
                        -4000:
                    ],
                }
            try:
                reply = json.loads(line)
            except json.JSONDecodeError:
                reply = None
            if (
                isinstance(reply, dict)
                and reply.get("token") == job["token"]
                and reply.get("student") == job["student"]
            ):
                return reply
            with open(self.log_path, "a") as log:
                log.write(
                    "ignored a reply line that does not answer job "
                    f"{job['token']}: {line[:200]!r}\n"
                )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        self.process = None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def worker_environment(jupyter_dir: Path, threads: int) -> dict[str, str]:
    """Environment of the workers and (inherited) of their kernels."""
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(
        [str(jupyter_dir), *filter(None, [env.get("JUPYTER_PATH")])]
    )
    env.pop("MPLBACKEND", None)
    # parallel kernels share the cores: one or two threads each instead of
    # all of them each
    for name in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    ):
        env[name] = str(threads)
    return env


def cleanup_notes(folder: Path) -> list[str]:
    """Remove a working folder; a failure becomes a note instead of
    ending the run."""
    try:
        remove_tree(folder)
    except OSError as error:
        return [f"could not remove the working folder {folder}: {error}"]
    return []


def grade_one(
    worker: Worker,
    submission: Submission,
    base_job: dict[str, Any],
    limits: Limits,
    retries: int,
) -> Outcome:
    """Grade one checked submission, retrying when its kernel died; never
    raises for student faults.

    Args:
        worker: the worker process that runs the attempts (restarted if it
            was killed).
        submission: a submission whose ``status`` is ``"ready"``.
        base_job: the fields every job shares, from :func:`prepare_jobs`.
        limits: the run's limits; ``submission_timeout_s`` bounds each
            attempt, after which the worker is killed and the outcome is
            ``timed_out``.
        retries: how many more attempts a ``kernel_died`` or
            ``kernel_unresponsive`` submission gets (the working folders of
            the failed ones are removed).

    Returns:
        The last attempt's :class:`Outcome`, with ``attempts``, the wall
        time of all attempts in ``seconds``, the submission's notes first,
        and ``work_dir`` (the last attempt's working folder, still on disk).
    """
    start = time.perf_counter()
    cleanup: list[str] = []
    for attempt in range(1, retries + 2):
        job = {
            **base_job,
            "student": submission.student,
            "folder": str(submission.folder),
            "token": secrets.token_hex(8),
            "notebooks": {
                name: str(path)
                for name, path in submission.notebooks.items()
            },
            "work_dir": str(
                Path(base_job["work_root"])
                / f"{submission.student}-{attempt}"
            ),
        }
        reply = worker.run(job, timeout_s=limits.submission_timeout_s)
        # the worker was killed; its kernels died with it, their groups and
        # sockets are ours to end
        if reply is None:
            end_job(job["token"])
            remove_runtime_folders(job["token"])
            outcome = Outcome(
                submission.student,
                "timed_out",
                reason="grading took longer than "
                f"{limits.submission_timeout_s} s and was stopped",
            )
        else:
            outcome = Outcome(
                submission.student,
                reply["status"],
                reply.get("score"),
                reply.get("max_score"),
                reply.get("reason", ""),
                list(reply.get("notes", [])),
                log=reply.get("log", ""),
            )
        outcome.attempts, outcome.work_dir = attempt, Path(job["work_dir"])
        if reply is not None and reply.get("needs_manual_grade"):
            outcome.notes.append("needs manual grading in formgrader")
        if outcome.status not in RETRIED_STATUSES:
            break
        if attempt <= retries:
            cleanup += cleanup_notes(Path(job["work_dir"]))
    outcome.notes = submission.notes + outcome.notes + cleanup
    outcome.seconds = time.perf_counter() - start
    return outcome


def keep(outcome: Outcome, course: Path, assignment: str) -> None:
    """Merge a graded submission into the course: gradebook rows, autograded
    notebook, feedback.

    Runs in one thread only, as the course gradebook must have a single
    writer. A failure turns the outcome into ``grading_error`` instead of
    ending the run.
    """
    work = outcome.work_dir
    try:
        merge_submission(course, work, assignment, outcome.student)
        for kind in ("autograded", "feedback"):
            made, kept = (
                work / kind / outcome.student / assignment,
                course / kind / outcome.student / assignment,
            )
            if made.is_dir():
                replace_folder(made, kept)
            # no feedback this time: an older page must not stand in for it
            else:
                remove_tree(kept)
    # a full disk or a locked gradebook must not lose the other submissions
    except Exception as error:
        outcome.status, outcome.reason = (
            "grading_error",
            f"could not save the grades: {type(error).__name__}: {error}",
        )
        outcome.score = None


def check_course(course: Path, sandboxed: bool) -> None:
    """Refuse a course folder that cannot be graded safely; warn when
    memory caps are weaker."""
    if not (course / "nbgrader_config.py").is_file():
        raise FileNotFoundError(
            f"{course} has no nbgrader_config.py: pass the course folder "
            "(--course)"
        )
    if not sandboxed:
        return
    exposed = [
        root for root in readable_roots() if course.is_relative_to(root)
    ]
    # the sandbox shows these folders to every kernel, read-only
    if exposed:
        raise ValueError(
            f"the course folder {course} lies inside {exposed[0]}, which "
            "every sandboxed kernel can read (Python, the virtualenv or "
            "course_utils); kernels would see the solutions. Keep the "
            "course folder outside them"
        )
    if not ControlGroup.available():
        print(
            "warning: no control group can be made here (cgroup v1 as "
            "root, or a delegated cgroup v2 group): memory is capped per "
            "process only, shared memory included but not summed, and "
            "the number of processes is not capped (see the instructor "
            "page)",
            file=sys.stderr,
        )


def start_workers(
    scratch: Path, count: int, limits: Limits, sandboxed: bool
) -> list[Worker]:
    """``count`` worker processes sharing the cores, whose kernels use the
    course's kernel spec.

    Args:
        scratch: the run's scratch folder; the kernel spec goes to
            ``scratch/jupyter`` and each worker's log to
            ``scratch/worker-<i>.log``.
        count: how many workers; each gets ``cpu_count // count`` threads
            (at least one). 0 starts none.
        limits: the limits written into the kernel spec.
        sandboxed: whether the kernels run in bubblewrap (``False``:
            resource limits only).

    Returns:
        The started :class:`Worker` s (they import nbgrader in the
        background).
    """
    jupyter_dir = scratch / "jupyter"
    write_kernel_spec(jupyter_dir, limits, sandboxed=sandboxed)
    env = worker_environment(
        jupyter_dir, threads=max(1, (os.cpu_count() or 1) // max(1, count))
    )
    pool = [Worker(env, scratch / f"worker-{i}.log") for i in range(count)]
    for worker in pool:
        # workers import nbgrader while the gradebook template is made
        worker.start()
    return pool


def prepare_jobs(
    course: Path,
    assignment: str,
    notebooks: list[str],
    scratch: Path,
    limits: Limits,
) -> dict[str, Any]:
    """Register the assignment if the gradebook lacks it and make the
    template every job grades from.

    Args:
        course: the course folder.
        assignment: the assignment's name.
        notebooks: the assignment's notebook file names (from
            ``expected_notebooks``).
        scratch: the run's scratch folder; the template goes to
            ``scratch/template`` and the jobs' working folders under
            ``scratch/work``.
        limits: the run's limits (the cell timeout and output cap go into
            every job).

    Returns:
        The fields every job shares, a ``dict`` with ``assignment``,
        ``template``, ``work_root``, ``cell_timeout_s`` and
        ``output_bytes``.

    Raises:
        RuntimeError: if nbgrader cannot register the assignment.
    """
    if not knows_assignment(course, assignment, notebooks):
        register_assignment(course, assignment, scratch / "course_release")
    template = make_template(course, assignment, scratch / "template")
    return {
        "assignment": assignment,
        "template": str(template),
        "work_root": str(scratch / "work"),
        "cell_timeout_s": limits.cell_timeout_s,
        "output_bytes": limits.output_bytes,
    }


def grade_in_parallel(
    pool: list[Worker],
    ready: list[Submission],
    base_job: dict[str, Any],
    limits: Limits,
    retries: int,
    record: Callable[[Outcome], None],
    progress: bool,
    assignment: str,
) -> None:
    """Grade ``ready`` on the workers of ``pool``; ``record`` each outcome
    in this thread as it finishes.

    Ctrl-C or any other exception stops at once: no queued submission starts
    and the running ones lose their workers.

    Args:
        pool: the started workers; one submission runs on each at a time.
        ready: the submissions to grade (status ``"ready"``).
        base_job: the fields every job shares, from :func:`prepare_jobs`.
        limits: the run's limits.
        retries: further attempts after a kernel died (see
            :func:`grade_one`).
        record: called in this thread with each :class:`Outcome`, in order
            of completion.
        progress: show a progress bar with the count not graded so far.
        assignment: the assignment's name, for the progress bar.

    Raises:
        BaseException: whatever stopped the run (``KeyboardInterrupt`` ...),
            re-raised after the workers are killed. An exception while
            grading one submission is not raised: it becomes that
            submission's ``grading_error``.
    """
    free: queue.Queue[Worker] = queue.Queue()
    for worker in pool:
        free.put(worker)

    def run(submission: Submission) -> Outcome:
        worker = free.get()
        try:
            return grade_one(worker, submission, base_job, limits, retries)
        finally:
            free.put(worker)

    not_graded = 0
    executor = ThreadPoolExecutor(max(1, len(pool)))
    try:
        with tqdm(
            total=len(ready),
            desc=f"grading {assignment}",
            unit="submission",
            disable=not progress,
        ) as bar:
            futures = {executor.submit(run, s): s for s in ready}
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                # a bug of ours for one submission is not the end of
                # the class
                except Exception as error:
                    outcome = Outcome(
                        futures[future].student,
                        "grading_error",
                        reason="the grader failed: "
                        f"{type(error).__name__}: {error}",
                    )
                # may turn it into grading_error (the gradebook could not
                # be written)
                record(outcome)
                not_graded += not outcome.graded
                bar.update()
                bar.set_postfix_str(f"{not_graded} not graded")
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        for worker in pool:
            worker.kill()
        raise
    executor.shutdown()


def grade_assignment(
    course: Path,
    assignment: str,
    *,
    workers: int | None = None,
    limits: Limits = Limits(),
    retries: int = 1,
    students: list[str] | None = None,
    csv_path: Path | None = None,
    progress: bool = True,
    sandboxed: bool = True,
) -> list[Outcome]:
    """Autograde, merge and give feedback to every submission of
    ``assignment`` in ``course``.

    Returns one :class:`Outcome` per submission (sorted by student) and
    writes them to ``csv_path`` (default
    ``<course>/grades/<assignment>.csv``) after every submission, and once
    more however the run ends: a submission the run never reached is a row
    too. ``sandboxed=False`` runs kernels without bubblewrap (resource
    limits only).

    Args:
        course: the course folder (with ``nbgrader_config.py``,
            ``solutions/``, ``submitted/`` and ``gradebook.db``).
        assignment: the assignment's name, e.g. ``"01_convolution"``.
        workers: parallel worker processes (keyword only, as are the rest);
            ``None`` means one per CPU core. Never more than there are
            submissions. Default: ``None``.
        limits: per-submission limits (time, memory, processes, files,
            output). Default: ``Limits()``.
        retries: further attempts for a submission whose kernel died or
            stopped answering. Default: 1.
        students: grade only these student ids; ``None`` grades every
            submission. Default: ``None``.
        csv_path: where the CSV goes; ``None`` means
            ``<course>/grades/<assignment>.csv``. Default: ``None``.
        progress: show a progress bar. Default: ``True``.
        sandboxed: run each kernel in bubblewrap. Default: ``True``.

    Returns:
        One :class:`Outcome` per submission, sorted by student id.

    Raises:
        FileNotFoundError: if ``course`` has no ``nbgrader_config.py``, the
            assignment has no source notebooks, or there are no submissions
            (of ``students``).
        ValueError: if, sandboxed, the course folder lies inside a folder
            every kernel can read.
    """
    course = course.resolve()
    put_tools_on_path()
    check_course(course, sandboxed)
    notebooks = expected_notebooks(course, assignment)
    submissions = find_submissions(course, assignment, students)
    if not submissions:
        raise FileNotFoundError(
            f"no submissions of {assignment} under "
            f"{course / 'submitted'}/<student>/{assignment}/"
        )
    workers = max(1, min(workers or os.cpu_count() or 1, len(submissions)))
    csv_path = csv_path or course / "grades" / f"{assignment}.csv"
    outcomes = [
        Outcome(s.student, s.status, reason=s.problem, notes=s.notes)
        for s in submissions
        if s.status != "ready"
    ]
    ready = [s for s in submissions if s.status == "ready"]

    def record(outcome: Outcome) -> None:
        """Merge one finished submission (the gradebook's single writer)
        and rewrite the CSV."""
        if outcome.graded:
            keep(outcome, course, assignment)
        if outcome.work_dir is not None:
            outcome.notes += cleanup_notes(outcome.work_dir)
        outcomes.append(outcome)
        write_csv(outcomes, assignment, csv_path)

    scratch = Path(tempfile.mkdtemp(prefix=f"grading-{assignment}-"))
    pool: list[Worker] = []
    stopped_by = "the grading run stopped before this submission was graded"
    try:
        pool = start_workers(
            scratch, workers if ready else 0, limits, sandboxed
        )
        base_job = prepare_jobs(
            course, assignment, notebooks, scratch, limits
        )
        grade_in_parallel(
            pool,
            ready,
            base_job,
            limits,
            retries,
            record,
            progress,
            assignment,
        )
    except BaseException as error:
        stopped_by += f" ({type(error).__name__}: {error})"
        raise
    finally:
        for worker in pool:
            worker.close()
        try:
            remove_tree(scratch)
        except OSError as error:
            print(
                "warning: could not remove the grading scratch folder "
                f"{scratch}: {error}",
                file=sys.stderr,
            )
        done = {o.student for o in outcomes}
        outcomes += [
            Outcome(s.student, "grading_error", reason=stopped_by)
            for s in ready
            if s.student not in done
        ]
        outcomes.sort(key=lambda o: o.student)
        save_logs(outcomes, assignment, csv_path)
        write_csv(outcomes, assignment, csv_path)
    return outcomes


def save_logs(
    outcomes: list[Outcome], assignment: str, csv_path: Path
) -> None:
    """nbgrader's own words for every submission that was not graded, for
    the instructor who investigates."""
    for outcome in outcomes:
        if (
            outcome.log
            and not outcome.graded
            and "nbgrader's log" not in outcome.reason
        ):
            log_path = (
                csv_path.parent
                / f"{assignment}-logs"
                / f"{outcome.student}.log"
            )
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(outcome.log)
            outcome.reason += f" (nbgrader's log: {log_path})"


def csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet will not run as a formula (a
    leading ', as spreadsheets expect)."""
    if isinstance(value, str) and value[:1] in (
        "=",
        "+",
        "-",
        "@",
        "\t",
        "\r",
    ):
        return "'" + value
    return value


def write_csv(outcomes: list[Outcome], assignment: str, path: Path) -> Path:
    """Write every outcome as a row, replacing the file in one step (no
    half-written CSV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(
            {k: csv_safe(v) for k, v in o.csv_row(assignment).items()}
            for o in outcomes
        )
    os.replace(partial, path)
    return path


def print_summary(
    outcomes: list[Outcome],
    assignment: str,
    csv_path: Path,
    out: TextIO = sys.stdout,
) -> None:
    """A short report: how many were graded, the score range, and every
    submission that was not.

    Args:
        outcomes: the outcomes of :func:`grade_assignment`.
        assignment: the assignment's name, for the first line.
        csv_path: the CSV written, named on the last line.
        out: where to print. Default: ``sys.stdout``.
    """
    graded = [o for o in outcomes if o.graded]
    failed = [o for o in outcomes if not o.graded]
    print(
        f"{assignment}: {len(graded)} of {len(outcomes)} submissions "
        "graded",
        file=out,
    )
    if graded:
        scores = sorted(o.score for o in graded)
        print(
            f"  scores out of {graded[0].max_score:g}: min {scores[0]:g}, "
            f"median {scores[len(scores) // 2]:g}, max {scores[-1]:g}",
            file=out,
        )
    for o in graded:
        if o.notes:
            print(f"  note  {o.student}: {'; '.join(o.notes)}", file=out)
    if failed:
        print(
            f"  NOT GRADED ({len(failed)}): these have no score in the "
            "gradebook; see the status column",
            file=out,
        )
        for o in failed:
            print(f"  {o.status:<20} {o.student}: {o.reason}", file=out)
    print(f"  grades: {csv_path}", file=out)
