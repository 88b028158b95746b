"""Mutation testing of every assignment: each mutant of a solution's answer is killed by the tests.

``course_utils.grading.mutation`` changes one thing in an answer cell at a time and runs the
rest of the notebook in-process; a surviving mutant is a wrong answer the tests would give
full marks. Every survivor must be listed in ``tests/fixtures/<chapter>/mutants.py`` as
equivalent (it behaves like the solution for every input the task allows, with a reason)
or, until its test is written, as not yet killed. A new survivor, or a listed mutant that no
longer survives, fails this test. tests/test_assignments.py grades a sample of mutants with
nbgrader and checks that its verdicts equal the in-process ones.

``course_utils.grading.hardcoding`` builds, for every answer that defines functions, the
answer of a student who special-cased the visible tests' inputs; its hidden tests must catch it.
"""

from __future__ import annotations

import importlib.util

import pytest

from nbgrader_course import CHAPTERS, REPO

pytestmark = pytest.mark.slow


def known_survivors(chapter: str):
    spec = importlib.util.spec_from_file_location(
        f"mutants_{chapter}", REPO / "tests" / "fixtures" / chapter / "mutants.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EQUIVALENT, module.NOT_YET_KILLED


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_mutant_is_killed_or_known(chapter, mutation_reports):
    report = mutation_reports(chapter)
    equivalent, not_yet_killed = known_survivors(chapter)
    assert not set(equivalent) & set(not_yet_killed), f"{chapter}: a mutant is listed twice"
    assert all(reason.strip() for reason in equivalent.values()), (
        f"{chapter}: every equivalent mutant needs its reason"
    )
    survivors = {m["key"] for cell in report["cells"].values() for m in cell["survived"]}
    mutants = sum(len(cell["killed"]) + len(cell["survived"]) for cell in report["cells"].values())
    assert mutants >= 10 * len(report["cells"]) // 2, (
        f"{chapter}: only {mutants} mutants; is the mutator broken?"
    )
    new = sorted(survivors - set(equivalent) - set(not_yet_killed))
    assert not new, (
        f"{chapter}: {len(new)} wrong answers keep full marks; add hidden tests that catch them, "
        f"or list them as equivalent with a reason: {new}"
    )
    stale = sorted((set(equivalent) | set(not_yet_killed)) - survivors)
    assert not stale, (
        f"{chapter}: listed mutants that are now killed or no longer made; remove them: {stale}"
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_hidden_tests_catch_an_answer_that_only_knows_the_visible_tests(chapter, monkeypatch):
    from course_utils.grading.hardcoding import hard_coding_report

    monkeypatch.chdir(REPO / "solutions" / chapter)
    verdicts = hard_coding_report(REPO / "solutions" / chapter / f"{chapter}.ipynb")
    assert any(v.outcome == "caught" for v in verdicts), f"{chapter}: no answer cell was checked"
    wrong = {v.cell: v.outcome for v in verdicts if v.outcome not in ("caught", "not applicable")}
    assert not wrong, (
        f"{chapter}: an answer that returns the right values only for the visible tests' inputs "
        f"is not caught (or the check is inconclusive): {wrong}"
    )
