"""The instructor's grading command (``python -m course_utils.grading``), end to end.

The fault catalogue (tests/fixtures/01_convolution/faults.py) is graded for real: the
command runs as instructors run it, in a temporary course with the repository's nbgrader
configuration, and every submission must end exactly as the catalogue says, in the CSV,
in nbgrader's gradebook and in the feedback. Smaller tests pin the submission checks, the
kernel limits and the command's errors without running nbgrader.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry

from course_utils.grading.__main__ import main as grading_main
from course_utils.grading.feedback import HiddenTestTracebacks
from course_utils.grading.sandbox import GIB, Limits, write_kernel_spec
from course_utils.grading.submissions import check_submission, find_submissions
from course_utils.grading.worker import failure_reason
from nbgrader_course import (
    REPO,
    leaked_lines,
    make_course,
    nbgrader_env,
    protected_lines,
    release_notebook,
    solution_answers,
    visible_text,
)

CHAPTER = "01_convolution"
NOTEBOOK = f"{CHAPTER}.ipynb"
# the infinite loop costs this much; nbgrader_config's 120 s is for real grading
CELL_TIMEOUT_S = 10


def load_fixture(name: str):
    spec = importlib.util.spec_from_file_location(
        f"fixture_{name}", REPO / "tests" / "fixtures" / CHAPTER / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


faults = load_fixture("faults")
FAULTS = {fault.student: fault for fault in faults.FAULTS}


def run_grading(course: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "course_utils.grading",
        CHAPTER,
        "--course",
        str(course),
        "--quiet",
        "--cell-timeout",
        str(CELL_TIMEOUT_S),
        "--memory-limit",
        "2",
        "--workers",
        "2",
        *args,
    ]
    # must never reach a kernel
    env = {**nbgrader_env(), faults.SECRET_VARIABLE: faults.SECRET_VALUE}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=1500)


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    """Rows by student id (a leading ' that keeps a spreadsheet from running a formula is
    dropped)."""
    with open(path, newline="") as handle:
        return {row["student_id"].removeprefix("'"): row for row in csv.DictReader(handle)}


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- checks before grading (fast)


def write_notebook(path: Path, nb=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb if nb is not None else nbformat.v4.new_notebook(), path)
    return path


def test_a_single_notebook_under_another_name_is_graded_as_the_expected_one(tmp_path):
    renamed = write_notebook(tmp_path / "01_convolution (1).ipynb")
    submission = check_submission("ana", tmp_path, [NOTEBOOK])
    assert submission.status == "ready", submission.problem
    assert submission.notebooks == {NOTEBOOK: renamed}
    assert "renamed" in submission.notes[0]


def test_two_unexpected_notebooks_are_not_guessed_between(tmp_path):
    write_notebook(tmp_path / "draft.ipynb")
    write_notebook(tmp_path / "final.ipynb")
    submission = check_submission("ana", tmp_path, [NOTEBOOK])
    assert submission.status == "missing_notebook"
    assert (
        NOTEBOOK in submission.problem
        and "draft.ipynb" in submission.problem
        and "final.ipynb" in submission.problem
    )


def test_an_empty_folder_is_a_missing_notebook(tmp_path):
    submission = check_submission("ana", tmp_path, [NOTEBOOK])
    assert (submission.status, submission.notebooks) == ("missing_notebook", {})
    assert "no notebooks" in submission.problem


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"cells": [', "not valid JSON"),
        ("[1, 2, 3]", "not a valid notebook"),
        (
            '{"cells": "none", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
            "not a valid notebook",
        ),
    ],
)
def test_corrupt_notebooks_are_named_not_graded(tmp_path, content, expected):
    (tmp_path / NOTEBOOK).write_text(content)
    submission = check_submission("ana", tmp_path, [NOTEBOOK])
    assert submission.status == "corrupt_notebook"
    assert expected in submission.problem, submission.problem


def test_checkpoints_are_not_taken_for_submissions(tmp_path):
    write_notebook(tmp_path / ".ipynb_checkpoints" / "01_convolution-checkpoint.ipynb")
    assert check_submission("ana", tmp_path, [NOTEBOOK]).status == "missing_notebook"


def test_find_submissions_rejects_unknown_students(tmp_path):
    (tmp_path / "solutions" / CHAPTER).mkdir(parents=True)
    write_notebook(tmp_path / "solutions" / CHAPTER / NOTEBOOK)
    write_notebook(tmp_path / "submitted" / "ana" / CHAPTER / NOTEBOOK)
    assert [s.student for s in find_submissions(tmp_path, CHAPTER)] == ["ana"]
    with pytest.raises(FileNotFoundError, match="bob"):
        find_submissions(tmp_path, CHAPTER, students=["bob"])


@pytest.mark.parametrize(
    "log, status",
    [
        ("[ERROR] Kernel died while waiting for execute reply.", "kernel_died"),
        ("nbgrader.preprocessors.execute.UnresponsiveKernelError", "kernel_unresponsive"),
        ("sqlite3.OperationalError: database is locked", "grading_error"),
    ],
)
def test_nbgrader_failures_get_a_status(log, status):
    got, reason = failure_reason({"success": False, "log": log})
    assert got == status and reason


# ---------------------------------------------------------------- the kernel limits (fast)


def run_limited(code: str, memory_bytes: int, cpu_s: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python process under the sandbox's limits (as a kernel would be)."""
    wrapper = (
        f"from course_utils.grading.sandbox import apply_limits\napply_limits({memory_bytes}, "
        f"{cpu_s})\n" + textwrap.dedent(code)
    )
    return subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=60
    )


def test_memory_limit_turns_a_memory_bomb_into_a_memory_error():
    result = run_limited(
        """
        hoard = []
        try:
            while True:
                hoard.append(bytearray(2**26))
        except MemoryError:
            print("stopped at", len(hoard) * 64, "MiB")
    """,
        memory_bytes=GIB // 2,
        cpu_s=30,
    )
    assert result.returncode == 0, result.stderr
    stopped_mib = int(result.stdout.split()[2])
    assert stopped_mib <= 512, f"the 512 MiB limit let {stopped_mib} MiB through"


def test_cpu_limit_kills_a_runaway_computation():
    result = run_limited("while True:\n    pass\n", memory_bytes=GIB, cpu_s=1)
    assert result.returncode == -signal.SIGXCPU, (
        f"expected death by SIGXCPU, got return code {result.returncode}"
    )


def test_limits_never_raise_an_existing_hard_limit():
    result = run_limited(
        """
        import resource
        from course_utils.grading.sandbox import apply_limits
        resource.setrlimit(resource.RLIMIT_CPU, (20, 20))
        apply_limits(2**30, 100)
        print(*resource.getrlimit(resource.RLIMIT_CPU))
    """,
        memory_bytes=4 * GIB,
        cpu_s=50,
    )
    assert result.stdout.split() == ["20", "20"], result.stdout + result.stderr


def test_kernel_spec_starts_the_sandbox(tmp_path):
    spec_dir = write_kernel_spec(tmp_path, Limits(cpu_s=77, memory_bytes=GIB))
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert (
        spec["argv"][1:3] == ["-m", "course_utils.grading.sandbox"]
        and "{connection_file}" in spec["argv"]
    )
    assert spec["interrupt_mode"] == "message", "a SIGINT would reach bubblewrap, not the kernel"
    config = json.loads((spec_dir / "sandbox.json").read_text())
    assert config["sandboxed"] and config["bwrap"] and config["limits"]["cpu_s"] == 77


def test_without_bubblewrap_the_command_refuses_to_grade(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("course_utils.grading.sandbox.bwrap_path", lambda: None)
    assert grading_main([CHAPTER, "--course", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "bubblewrap" in error and "--unsafe-no-sandbox" in error, error


def test_a_course_inside_a_folder_kernels_read_is_refused(monkeypatch, capsys):
    monkeypatch.setattr("course_utils.grading.pipeline.readable_roots", lambda: [str(REPO.parent)])
    assert grading_main([CHAPTER, "--course", str(REPO)]) == 2
    assert "kernels would see the solutions" in capsys.readouterr().err


def test_sandbox_sees_only_its_own_folder(tmp_path):
    """A command run the way a kernel is: no network, no course files, no secrets, its own files
    copied in."""
    from course_utils.grading.sandbox import bwrap_command, check_sandbox, runtime_folder

    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "data.txt").write_text("mine")
    (tmp_path / "solutions.ipynb").write_text("secret")
    # /tmp is hidden anyway: probe elsewhere too
    outside_tmp = Path.home() / f".course-sandbox-probe-{os.getpid()}"
    outside_tmp.write_text("secret")
    # reachable from the host's network namespace only
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    runtime = runtime_folder()
    try:
        command = bwrap_command(
            check_sandbox(), Limits(), False, str(tmp_path / "submission"), str(runtime), []
        )
        probe = textwrap.dedent(f"""
            import os, socket
            print(sorted(os.listdir(".")), open("/run/submission/data.txt").read())
            print(os.path.exists({str(tmp_path / "solutions.ipynb")!r}),
                  os.path.exists({str(REPO / "solutions")!r}),
                  os.path.exists({str(outside_tmp)!r}))
            processes = [p for p in os.listdir("/proc") if p.isdigit()]
            print(os.getuid(), {faults.SECRET_VARIABLE!r} in os.environ, len(processes) <= 3)
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=1)
            except OSError as error:
                print(type(error).__name__)
            open("written.txt", "w").write("x")
        """)
        command = command[: command.index("--") + 1] + [sys.executable, "-c", probe]
        env = {**nbgrader_env(), faults.SECRET_VARIABLE: faults.SECRET_VALUE}
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    finally:
        runtime.rmdir()
        outside_tmp.unlink()
        listener.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[] mine",
        "False False False",
        "65534 False True",
        "ConnectionRefusedError",
    ], result.stdout
    assert not (tmp_path / "submission" / "written.txt").exists(), (
        "the kernel's writes must stay in its own copy"
    )


def test_worker_replies_are_matched_to_their_job(tmp_path):
    from course_utils.grading.pipeline import Worker

    class FakeWorker(Worker):
        def _start(self):  # answers each job with a forged line, then the real answer
            script = (
                "import json, sys\nfor line in sys.stdin:\n    job = json.loads(line)\n    "
                "print(json.dumps({'token': 'forged', 'student': job['student'], 'status': "
                "'graded', 'score': 99}))\n    print('not json')\n    print(json.dumps({'token': "
                "job['token'], 'student': job['student'], 'status': 'graded', 'score': 1}), "
                "flush=True)\n"
            )
            self.command = [sys.executable, "-c", script]
            return super()._start()

    worker = FakeWorker(dict(__import__("os").environ), tmp_path / "worker.log")
    try:
        for token in ("a1", "b2"):
            reply = worker.run({"token": token, "student": "ana"}, timeout_s=30)
            assert reply["token"] == token and reply["score"] == 1, reply
    finally:
        worker.kill()
    assert "forged" in (tmp_path / "worker.log").read_text()


def test_csv_cells_are_never_formulas(tmp_path):
    from course_utils.grading.pipeline import Outcome, write_csv

    path = write_csv(
        [
            Outcome("=HYPERLINK(1)", "graded", 1.0, 2.0, notes=["+cmd", "fine"]),
            Outcome("ana", "grading_error", reason="@SUM(A1)"),
        ],
        CHAPTER,
        tmp_path / "grades.csv",
    )
    rows = read_csv(path)
    assert (
        rows["=HYPERLINK(1)"]["student_id"] == "'=HYPERLINK(1)"
        and rows["=HYPERLINK(1)"]["notes"] == "'+cmd; fine"
    )
    assert rows["ana"]["reason"] == "'@SUM(A1)"


def test_review_flags_attacks_and_never_an_honest_answer():
    from course_utils.grading.review import findings
    from nbgrader_course import CHAPTERS

    for chapter in CHAPTERS:
        spec = importlib.util.spec_from_file_location(
            f"mistakes_{chapter}", REPO / "tests" / "fixtures" / chapter / "submissions.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        honest = {
            **solution_answers(chapter),
            **{
                f"{n}:{gid}": src
                for n, answers in module.MISTAKE_SETS.items()
                for gid, src in answers.items()
            },
        }
        flagged = {gid: findings(src) for gid, src in honest.items() if findings(src)}
        assert not flagged, f"{chapter}: honest answers flagged for review: {flagged}"
    for name in (
        "READ_ANSWERS",
        "EDIT_GRADEBOOK",
        "ATTACK_NEIGHBOURS",
        "REWRITE_TEMPLATE",
        "FORGE_REPLY",
        "PATCH_COMPARISONS",
        "ALWAYS_EQUAL_INT",
        "TENSOR_SUBCLASS",
        "AST_TRANSFORMER",
        "BACKGROUND_WRITER",
    ):
        assert findings(getattr(faults, name)), f"{name} is not flagged"


@pytest.mark.parametrize(
    "field", ["cell_timeout_s", "cpu_s", "memory_bytes", "submission_timeout_s"]
)
def test_limits_must_be_positive(field):
    with pytest.raises(ValueError, match=field):
        Limits(**{field: 0})


# ---------------------------------------------------------------- command-line errors (fast)


def test_usage_errors_exit_2_with_a_message(tmp_path, capsys):
    assert grading_main([CHAPTER, "--course", str(tmp_path)]) == 2
    assert "nbgrader_config.py" in capsys.readouterr().err
    assert grading_main([CHAPTER, "--workers", "0"]) == 2
    assert "--workers must be at least 1, got 0" in capsys.readouterr().err
    assert grading_main([CHAPTER, "--cell-timeout", "-5"]) == 2
    assert "cell_timeout_s must be a positive integer" in capsys.readouterr().err
    assert (
        grading_main([CHAPTER, "--course", str(tmp_path), "--zip", str(tmp_path / "none.zip")]) == 2
    )
    assert "no archive" in capsys.readouterr().err


def test_feedback_drops_tracebacks_and_warnings_that_quote_hidden_lines():
    source = (
        "visible = 1\n### BEGIN HIDDEN TESTS\nassert secret() > 0, 'be positive'\n### "
        "END HIDDEN TESTS\n"
    )
    cell = nbformat.v4.new_code_cell(
        source,
        outputs=[
            nbformat.v4.new_output(
                "stream",
                name="stderr",
                text=(
                    "/tmp/ipykernel/1.py:3: UserWarning: careful\n  assert secret() > 0, 'be "
                    "positive'\nvisible = 1\n"
                ),
            ),
            nbformat.v4.new_output(
                "error",
                ename="AssertionError",
                evalue="be positive",
                traceback=["Traceback", "----> 3 assert secret() > 0, 'be positive'"],
            ),
        ],
    )
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "grade_id": "test_secret",
        "points": 1,
    }
    answer = nbformat.v4.new_code_cell(
        source,
        outputs=[nbformat.v4.new_output("error", ename="E", evalue="x", traceback=["1", "2"])],
    )
    answer.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "secret"}
    assert HiddenTestTracebacks().preprocess_cell(answer, {}, 0)[0].outputs[0].traceback == [
        "1",
        "2",
    ], "an answer cell holds no hidden tests: its traceback is the student's own"
    cleaned, _ = HiddenTestTracebacks().preprocess_cell(cell, {}, 0)
    stream, error = cleaned.outputs
    assert (
        "secret()" not in stream.text
        and "UserWarning: careful" in stream.text
        and "visible = 1" in stream.text
    )
    assert error.traceback == ["AssertionError: be positive"]


def test_instructor_page_documents_every_option_and_status():
    from course_utils.grading.__main__ import build_parser
    from course_utils.grading.pipeline import STATUSES

    page = (REPO / "book" / "instructors" / "grading.md").read_text()
    options = [
        o for action in build_parser()._actions for o in action.option_strings if o.startswith("--")
    ]
    undocumented = [o for o in options if o not in ("--help", "--quiet") and f"`{o}" not in page]
    assert not undocumented, f"options missing from the instructor page: {undocumented}"
    assert not [s for s in STATUSES if f"`{s}`" not in page], (
        "statuses missing from the instructor page"
    )
    assert {f.expected.status for f in faults.FAULTS} <= set(STATUSES)


# ------------------------------------------------------------- the fault catalogue, graded for real


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """A course with every fault submitted, graded twice by the command (a regrade)."""
    course = make_course(tmp_path_factory.mktemp("grading"), CHAPTER)
    release = release_notebook(course, CHAPTER)
    solution = solution_answers(CHAPTER)
    mistakes = load_fixture("submissions").TYPICAL_MISTAKES
    for fault in faults.FAULTS:
        fault.write(course / "submitted" / fault.student / CHAPTER, release, solution, mistakes)
    before = {name: tree_digest(course / name) for name in ("submitted", "solutions", "exercises")}
    first = run_grading(course)
    first_csv = read_csv(course / "grades" / f"{CHAPTER}.csv")
    second = run_grading(course)
    return {
        "course": course,
        "before": before,
        "first": first,
        "first_csv": first_csv,
        "second": second,
        "csv": read_csv(course / "grades" / f"{CHAPTER}.csv"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("student", list(FAULTS))
def test_fault_catalogue_outcome(catalogue, student):
    expected, row = FAULTS[student].expected, catalogue["csv"][student]
    what = f"{student} ({FAULTS[student].what})"
    assert row["status"] == expected.status, f"{what}: expected status {expected.status}, got {row}"
    if expected.score is None:
        assert row["score"] == "" and row["reason"], (
            f"{what}: an ungraded submission needs no score and a reason: {row}"
        )
    else:
        assert float(row["score"]) == expected.score and float(row["max_score"]) == faults.FULL, (
            f"{what}: {row}"
        )
    assert int(row["attempts"]) == expected.attempts, (
        f"{what}: expected {expected.attempts} attempts, got {row}"
    )
    assert expected.note in row["notes"], (
        f"{what}: expected a note containing {expected.note!r}, got {row['notes']!r}"
    )


@pytest.mark.slow
def test_failures_make_the_command_fail_and_are_listed(catalogue):
    result = catalogue["first"]
    assert result.returncode == 1, (
        f"expected exit 1 (some not graded), got {result.returncode}\n{result.stderr}"
    )
    failed = [f for f in faults.FAULTS if f.expected.status != "graded"]
    assert f"NOT GRADED ({len(failed)})" in result.stdout, result.stdout
    for fault in failed:
        assert f"{fault.expected.status:<20} {fault.student}:" in result.stdout, result.stdout


@pytest.mark.slow
def test_regrading_gives_identical_results(catalogue):
    assert catalogue["second"].returncode == catalogue["first"].returncode

    def strip(rows):
        return {s: {k: v for k, v in row.items() if k != "seconds"} for s, row in rows.items()}

    assert strip(catalogue["csv"]) == strip(catalogue["first_csv"])


@pytest.mark.slow
def test_gradebook_holds_exactly_the_graded_submissions(catalogue):
    rows = catalogue["csv"]
    with Gradebook(f"sqlite:///{catalogue['course'] / 'gradebook.db'}") as gradebook:
        for student, row in rows.items():
            if row["status"] == "graded":
                submission = gradebook.find_submission(CHAPTER, student)
                assert (
                    submission.score == float(row["score"]) and not submission.needs_manual_grade
                ), student
            else:
                with pytest.raises(MissingEntry):
                    gradebook.find_submission(CHAPTER, student)


@pytest.mark.slow
def test_feedback_for_every_graded_submission_without_hidden_tests(catalogue):
    hidden = protected_lines(CHAPTER, solutions=False)
    for student, row in catalogue["csv"].items():
        feedback = catalogue["course"] / "feedback" / student / CHAPTER / f"{CHAPTER}.html"
        assert feedback.is_file() == (row["status"] == "graded"), (
            f"{student}: feedback {feedback.is_file()}, {row}"
        )
        if feedback.is_file():
            assert leaked_lines(visible_text(feedback.read_text()), hidden) == [], (
                f"{student}'s feedback shows hidden tests"
            )


@pytest.mark.slow
def test_student_code_stays_in_its_working_copy(catalogue):
    course = catalogue["course"]
    for name, digest in catalogue["before"].items():
        assert tree_digest(course / name) == digest, f"grading changed {name}/"
    escaped = [p for p in course.parent.rglob(faults.ESCAPE_NAME)]
    assert escaped == [], f"files written by the 'escape' submission reached {escaped}"


@pytest.mark.slow
def test_attacks_reach_nothing_outside_their_sandbox(catalogue):
    course = catalogue["course"]
    for kind in ("autograded", "feedback"):
        for path in (course / kind).rglob("*"):
            if path.is_file():
                text = path.read_text(errors="replace")
                assert faults.SECRET_VALUE not in text, f"the grader's environment reached {path}"
                assert path.stat().st_size < 8 * 2**20, (
                    f"{path} is {path.stat().st_size / 2**20:.0f} MiB: output not capped"
                )
    image = nbformat.read(course / "autograded" / "image_bomb" / CHAPTER / NOTEBOOK, as_version=4)
    assert not [
        o for c in image.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    survivors = subprocess.run(
        ["pgrep", "-f", faults.SURVIVOR_MARKER], capture_output=True, text=True
    ).stdout
    assert survivors == "", f"processes of a graded submission outlived the grader: {survivors}"
    kernels = subprocess.run(
        ["pgrep", "-f", "course-kernel-"], capture_output=True, text=True
    ).stdout
    assert kernels == "", f"kernels outlived the grader: {kernels}"
    raw = (course / "grades" / f"{CHAPTER}.csv").read_text()
    assert f"'{faults.FORMULA_STUDENT}," in raw and f"\n{faults.FORMULA_STUDENT}," not in raw


@pytest.mark.slow
def test_the_answer_reading_attack_wins_without_the_sandbox(tmp_path):
    """The catalogue's reads_answers scores 0 in the sandbox; outside it, it must win (or it
    proves nothing)."""
    course = make_course(tmp_path / "course", CHAPTER)
    FAULTS["reads_answers"].write(
        course / "submitted" / "reads_answers" / CHAPTER,
        release_notebook(course, CHAPTER),
        solution_answers(CHAPTER),
        {},
    )
    result = run_grading(course, "--unsafe-no-sandbox")
    row = read_csv(course / "grades" / f"{CHAPTER}.csv")["reads_answers"]
    assert (row["status"], row["score"]) == ("graded", f"{faults.FULL:g}"), (
        f"{row}\n{result.stdout}\n{result.stderr}"
    )
    assert "--unsafe-no-sandbox" in result.stderr, (
        "grading without the sandbox must say what it means"
    )


@pytest.mark.slow
def test_lms_zip_is_collected_and_graded(tmp_path):
    course = make_course(tmp_path / "course", CHAPTER)
    release = release_notebook(course, CHAPTER)
    solution = solution_answers(CHAPTER)
    archive = tmp_path / "lms_download.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for student in ("solution", "renamed", "blank"):
            folder = tmp_path / "lms" / student
            FAULTS[student].write(folder, release, solution, {})
            for path in folder.iterdir():
                zipped.write(path, f"submissions/{student}/{path.name}")
    result = run_grading(
        course,
        "--zip",
        str(archive),
        "--zip-regexp",
        r".*/(?P<student_id>[a-z]+)_\d+_\d+_(?P<file_id>.*)",
    )
    assert result.returncode == 2 and "matched no notebook" in result.stderr, (
        result.stdout + result.stderr
    )
    result = run_grading(course, "--zip", str(archive))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = read_csv(course / "grades" / f"{CHAPTER}.csv")
    assert {s: (r["status"], float(r["score"])) for s, r in rows.items()} == {
        "solution": ("graded", faults.FULL),
        "renamed": ("graded", faults.FULL),
        "blank": ("graded", 0.0),
    }
