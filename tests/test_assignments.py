"""Soundness of every assignment, proven with nbgrader's own autograder and gradebook.

For each chapter in solutions/, a temporary course gets the repository's nbgrader config;
nbgrader generates the release, then autogrades these submissions in one run:

- ``solution``: the instructor's answers               -> full marks in every graded cell
- ``blank``: the untouched release                      -> exactly 0
- each set in ``fixtures/<chapter>/submissions.py``     -> loses points in *every* graded cell
- ``warning``: correct answers that emit a warning      -> full marks (nbgrader zeroes stderr)
- ``deleted_test``: correct, one test cell deleted      -> re-inserted, graded, full marks
- ``edited_test``: correct, one test cell emptied       -> restored from the source, full marks
- ``alternative``: ``ALTERNATIVE_CORRECT`` answers      -> full marks (other valid ways of writing
  them)
- ``mutant-N``: a sample of the mutation tester's mutants -> nbgrader's verdict (full marks or not)
  equals the in-process one (tests/test_mutation.py)
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from nbgrader_course import (
    CHAPTERS,
    HIDDEN,
    REPO,
    cells_by_grade_id,
    fill_answers,
    graded_cells,
    leaked_lines,
    make_course,
    protected_lines,
    release_notebook,
    run_nbgrader,
    solution_answers,
    source_notebook,
    submit,
    visible_text,
)

pytestmark = pytest.mark.slow

WARNING_TEXT = "this answer warns on purpose"


def fixture_module(chapter: str):
    path = REPO / "tests" / "fixtures" / chapter / "submissions.py"
    spec = importlib.util.spec_from_file_location(f"fixture_{chapter}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_warning(answers: dict[str, str]) -> dict[str, str]:
    """Correct answers whose functions warn each time they are called (so in test cells)."""
    warned = {}
    for gid, source in answers.items():
        names = re.findall(r"^def (\w+)\(", source, re.MULTILINE)
        wrappers = "".join(
            f"\n_{name}_unwarned = {name}\n"
            f"def {name}(*args, **kwargs):\n"
            f"    import warnings\n"
            f"    warnings.warn({WARNING_TEXT!r}, UserWarning)\n"
            f"    return _{name}_unwarned(*args, **kwargs)\n"
            for name in names
        )
        warned[gid] = source + "\n" + wrappers
    return warned


@dataclass
class GradedCourse:
    chapter: str
    course: Path
    release: nbformat.NotebookNode
    # student -> cell -> (score, max, manual)
    scores: dict[str, dict[str, tuple[float | None, float, bool]]]
    mistake_sets: list[str]
    mutants: dict[str, tuple[str, bool]]  # student -> (mutant key, killed in-process)
    deleted_cell: str
    edited_cell: str

    def autograded(self, student: str) -> nbformat.NotebookNode:
        path = self.course / "autograded" / student / self.chapter / f"{self.chapter}.ipynb"
        return nbformat.read(path, as_version=4)


def mutant_sample(report: dict) -> list[tuple[str, str, str, bool]]:
    """(cell, key, source, killed) for a few mutants: killed ones from the first and last answer
    cells, one survivor."""
    cells = list(report["cells"])
    sample = []
    for cell in (cells[0], cells[-1]):
        killed = report["cells"][cell]["killed"]
        if killed:
            mutant = killed[len(killed) // 2]
            sample.append((cell, mutant["key"], mutant["source"], True))
    survivors = [(cell, m) for cell in cells for m in report["cells"][cell]["survived"]]
    if survivors:
        cell, mutant = survivors[0]
        sample.append((cell, mutant["key"], mutant["source"], False))
    return sample


@pytest.fixture(scope="module", params=CHAPTERS)
def graded(request, tmp_path_factory, mutation_reports) -> GradedCourse:
    chapter = request.param
    course = make_course(tmp_path_factory.mktemp(chapter), chapter)
    release = release_notebook(course, chapter)
    perfect = solution_answers(chapter)
    mistakes = fixture_module(chapter).MISTAKE_SETS
    tests = list(graded_cells(release))
    deleted_cell, edited_cell = tests[0], tests[-1]

    submissions = {
        "solution": fill_answers(release, perfect),
        "blank": release,
        "warning": fill_answers(release, with_warning(perfect)),
    }
    for name, answers in mistakes.items():
        submissions[name] = fill_answers(release, {**perfect, **answers})
    deleted = fill_answers(release, perfect)
    deleted.cells.remove(cells_by_grade_id(deleted)[deleted_cell])
    submissions["deleted_test"] = deleted
    edited = fill_answers(release, perfect)
    cells_by_grade_id(edited)[edited_cell].source = "pass  # a student replaced the tests"
    submissions["edited_test"] = edited
    alternative = getattr(fixture_module(chapter), "ALTERNATIVE_CORRECT", None)
    if alternative:
        submissions["alternative"] = fill_answers(release, {**perfect, **alternative})
    mutants = {}
    for i, (cell, key, source, killed) in enumerate(mutant_sample(mutation_reports(chapter))):
        submissions[f"mutant-{i}"] = fill_answers(release, {**perfect, cell: source})
        mutants[f"mutant-{i}"] = (key, killed)
    for student, nb in submissions.items():
        submit(course, chapter, student, nb)

    run_nbgrader(course, "autograde", chapter, "--force")
    run_nbgrader(course, "generate_feedback", chapter, "--force")

    scores: dict[str, dict[str, tuple[float | None, float, bool]]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in submissions:
            notebook = gradebook.find_submission_notebook(chapter, chapter, student)
            scores[student] = {
                g.name: (g.score, g.max_score, g.needs_manual_grade) for g in notebook.grades
            }
    return GradedCourse(
        chapter, course, release, scores, list(mistakes), mutants, deleted_cell, edited_cell
    )


def graded_scores(graded: GradedCourse, student: str) -> dict[str, tuple[float | None, float]]:
    test_cells = graded_cells(graded.release)
    return {
        cell: (score, maximum)
        for cell, (score, maximum, _) in graded.scores[student].items()
        if cell in test_cells
    }


def test_assignment_shape(graded):
    """At least 5 autograded parts and 10 points; each test cell has visible and hidden tests."""
    source = source_notebook(graded.chapter)
    tests = graded_cells(source)
    assert len(tests) >= 5, (
        f"{graded.chapter}: {len(tests)} graded test cells, the course asks for at least 5"
    )
    total = sum(c.metadata["nbgrader"]["points"] for c in tests.values())
    assert total >= 10, f"{graded.chapter}: {total} points, the course asks for at least 10"
    for gid, cell in tests.items():
        visible = HIDDEN.sub("", cell.source)
        assert "assert" in visible or "expect_" in visible, (
            f"{gid}: no visible tests before the hidden part"
        )
        assert HIDDEN.search(cell.source), f"{gid}: no ### BEGIN HIDDEN TESTS section"
        assert "assert" in HIDDEN.search(cell.source).group(1), (
            f"{gid}: hidden section has no assertion"
        )


def test_solution_scores_full_marks(graded):
    for cell, (score, maximum) in graded_scores(graded, "solution").items():
        assert score == maximum, (
            f"{graded.chapter}: the solution scores {score}/{maximum} in {cell}"
        )


def test_untouched_exercise_scores_exactly_zero(graded):
    scores = graded_scores(graded, "blank")
    assert sum(score for score, _ in scores.values()) == 0, (
        f"{graded.chapter}: blank release scores {scores}"
    )


def test_every_mistake_set_loses_points_in_every_graded_cell(graded):
    assert graded.mistake_sets, f"{graded.chapter}: no typical-mistake fixtures"
    for student in graded.mistake_sets:
        for cell, (score, maximum) in graded_scores(graded, student).items():
            assert score < maximum, (
                f"{graded.chapter}/{student}: the mistake in {cell} still scores {score}/{maximum}"
            )


def test_alternative_correct_answers_score_full_marks(graded):
    assert "alternative" in graded.scores, (
        f"{graded.chapter}: add ALTERNATIVE_CORRECT to "
        f"tests/fixtures/{graded.chapter}/submissions.py"
    )
    for cell, (score, maximum) in graded_scores(graded, "alternative").items():
        assert score == maximum, (
            f"{graded.chapter}: a correct alternative answer scores {score}/{maximum} in {cell}"
        )


def test_nbgrader_agrees_with_the_in_process_mutation_verdicts(graded):
    assert graded.mutants, f"{graded.chapter}: no mutant sampled"
    for student, (key, killed) in graded.mutants.items():
        scores = graded_scores(graded, student)
        lost = sum(maximum - score for score, maximum in scores.values())
        assert (lost > 0) == killed, (
            f"{graded.chapter}: mutant {key} is {'killed' if killed else 'a survivor'} "
            f"in-process but nbgrader scores it {scores}"
        )


def test_no_grade_needs_manual_grading_or_lacks_a_score(graded):
    for student, cells in graded.scores.items():
        for cell, (score, _maximum, manual) in cells.items():
            assert not manual, f"{student}/{cell} needs manual grading"
            assert score is not None, f"{student}/{cell} has no score"


def test_warning_on_stderr_does_not_cost_a_correct_answer(graded):
    for cell, (score, maximum) in graded_scores(graded, "warning").items():
        assert score == maximum, f"a correct answer that warns scores {score}/{maximum} in {cell}"
    outputs = [
        o.get("text", "")
        for c in graded.autograded("warning").cells
        if c.cell_type == "code"
        for o in c.outputs
    ]
    assert any(WARNING_TEXT in text for text in outputs), (
        "the fixture's warning never fired: the test proves nothing"
    )


def test_deleted_test_cell_is_reinserted_and_graded(graded):
    assert graded.deleted_cell in graded_cells(graded.autograded("deleted_test"))
    for cell, (score, maximum) in graded_scores(graded, "deleted_test").items():
        assert score == maximum, f"deleted_test: {cell} scores {score}/{maximum}"


def test_edited_test_cell_is_restored_from_the_source(graded):
    restored = graded_cells(graded.autograded("edited_test"))[graded.edited_cell].source
    assert (
        restored.strip()
        == graded_cells(source_notebook(graded.chapter))[graded.edited_cell].source.strip()
    )
    for cell, (score, maximum) in graded_scores(graded, "edited_test").items():
        assert score == maximum, f"edited_test: {cell} scores {score}/{maximum}"


def test_feedback_hides_the_hidden_tests(graded):
    # the feedback shows the student's own answers: a hidden line that repeats a solution line is
    # no leak
    hidden_only = protected_lines(graded.chapter, solutions=False) - protected_lines(
        graded.chapter, hidden=False
    )
    # students who fail hidden tests matter most: nbgrader's tracebacks quote the failing line
    for student in ["solution", *graded.mistake_sets]:
        html = (
            graded.course / "feedback" / student / graded.chapter / f"{graded.chapter}.html"
        ).read_text()
        assert "BEGIN HIDDEN TESTS" not in html, student
        leaked = leaked_lines(visible_text(html), hidden_only)
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"


def test_exercises_are_exactly_what_generate_assignment_produces(graded):
    generated = (
        graded.course / "exercises" / graded.chapter / f"{graded.chapter}.ipynb"
    ).read_bytes()
    committed = (REPO / "exercises" / graded.chapter / f"{graded.chapter}.ipynb").read_bytes()
    assert committed == generated, (
        f"exercises/{graded.chapter} is stale or hand-edited: run "
        f"`nbgrader generate_assignment {graded.chapter} --force` from the repository root"
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_solution_or_hidden_test_text_in_exercises(chapter):
    released = "\n".join(p.read_text() for p in (REPO / "exercises" / chapter).rglob("*.ipynb"))
    assert "BEGIN SOLUTION" not in released and "HIDDEN TESTS" not in released
    leaked = leaked_lines(released, protected_lines(chapter))
    assert not leaked, f"exercises/{chapter} contains solution or hidden-test lines: {leaked[:3]}"
