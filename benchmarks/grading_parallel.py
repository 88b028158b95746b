"""Plain sequential nbgrader vs the course's grading command, on the same submissions.

    python benchmarks/grading_parallel.py [--chapter 01_convolution] [--submissions 24]

Builds a temporary course with the repository's nbgrader configuration and N submissions
(the solution, the blank release and the typical-mistake sets, in turn), copies it three
times and grades each copy:

1. sequential: ``nbgrader autograde`` then ``nbgrader generate_feedback`` (what the
   grading command also does), one submission after the other;
2. ``python -m course_utils.grading --unsafe-no-sandbox`` with one worker (the workers and
   the merge, without bubblewrap);
3. ``python -m course_utils.grading`` with one worker (2 plus the sandbox);
4. ``python -m course_utils.grading`` with one worker per core.

Prints the wall times, the speed-up, what the sandbox costs per submission (3 minus 2; the
goal is under 0.5 s), and checks that all gradebooks hold identical scores. The goal on
2 cores is a speed-up of at least 1.8.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from nbgrader.api import Gradebook  # noqa: E402
from nbgrader_course import (  # noqa: E402
    fill_answers,
    make_course,
    nbgrader_env,
    release_notebook,
    solution_answers,
    submit,
)

from course_utils.grading.gradebook import put_tools_on_path  # noqa: E402


def mistake_sets(chapter: str) -> list[dict[str, str]]:
    spec = importlib.util.spec_from_file_location(
        "submissions",
        REPO / "tests" / "fixtures" / chapter / "submissions.py",
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.MISTAKE_SETS.values())


def build_course(root: Path, chapter: str, count: int) -> Path:
    course = make_course(root, chapter)
    release = release_notebook(course, chapter)
    perfect = solution_answers(chapter)
    kinds = [fill_answers(release, perfect), release] + [
        fill_answers(release, {**perfect, **m})
        for m in mistake_sets(chapter)
    ]
    for i in range(count):
        submit(course, chapter, f"student{i:03d}", kinds[i % len(kinds)])
    return course


def timed(command: list[str], course: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        command,
        cwd=course,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return seconds


def scores(course: Path, chapter: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {
            s.student.id: s.score
            for s in gradebook.assignment_submissions(chapter)
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", default="01_convolution")
    parser.add_argument("--submissions", type=int, default=24)
    args = parser.parse_args()
    put_tools_on_path()  # nbgrader runs alembic by name
    cores = os.cpu_count() or 1
    nbgrader = [sys.executable, "-m", "nbgrader"]
    grade = [
        sys.executable,
        "-m",
        "course_utils.grading",
        args.chapter,
        "--quiet",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        base = build_course(
            Path(tmp) / "base", args.chapter, args.submissions
        )
        courses = {
            name: Path(
                shutil.copytree(base, Path(tmp) / name, symlinks=True)
            )
            for name in (
                "sequential",
                "unsandboxed",
                "one_worker",
                "parallel",
            )
        }
        times = {}
        autograde_s = timed(
            [*nbgrader, "autograde", args.chapter], courses["sequential"]
        )
        times["sequential"] = autograde_s + timed(
            [*nbgrader, "generate_feedback", args.chapter],
            courses["sequential"],
        )
        times["unsandboxed"] = timed(
            [*grade, "--workers", "1", "--unsafe-no-sandbox"],
            courses["unsandboxed"],
        )
        times["one_worker"] = timed(
            [*grade, "--workers", "1"], courses["one_worker"]
        )
        times["parallel"] = timed(
            [*grade, "--workers", str(cores)], courses["parallel"]
        )
        results = {
            name: scores(course, args.chapter)
            for name, course in courses.items()
        }

    n = args.submissions
    print(f"{n} submissions of {args.chapter}, {cores} cores")
    print(
        f"  nbgrader autograde + generate_feedback (sequential): {times['sequential']:7.1f} s "
        f"({autograde_s:.1f} s autograde)"
    )
    print(
        f"  course_utils.grading --workers 1 --unsafe-no-sandbox: {times['unsandboxed']:6.1f} s"
    )
    print(
        f"  course_utils.grading --workers 1:                    {times['one_worker']:7.1f} s"
    )
    print(
        f"  course_utils.grading --workers {cores}:                    {times['parallel']:7.1f} s"
    )
    print(
        f"  speed-up, parallel vs sequential nbgrader: {times['sequential'] / times['parallel']:.2f}x (goal >= 1.8x on 2 cores)"
    )
    print(
        f"  workers and merge, one worker without sandbox vs sequential: "
        f"{(times['unsandboxed'] - times['sequential']) / n:+.2f} s per submission"
    )
    print(
        f"  the sandbox, one worker with vs without: "
        f"{(times['one_worker'] - times['unsandboxed']) / n:+.2f} s per submission (goal < 0.5 s)"
    )
    identical = (
        len({tuple(sorted(r.items())) for r in results.values()}) == 1
    )
    print(
        f"  scores identical in all four gradebooks: {identical} "
        f"(totals {sorted(set(results['sequential'].values()))})"
    )
    if not identical or len(results["sequential"]) != n:
        raise SystemExit(f"scores differ or are missing: {results}")


if __name__ == "__main__":
    main()
