"""Shared, expensive results: each assignment's mutation report is computed once per session."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from nbgrader_course import REPO, nbgrader_env


@pytest.fixture(scope="session")
def mutation_reports(tmp_path_factory) -> Callable[[str], dict]:
    """chapter -> its mutation report (``course_utils.grading.mutation --json``), run in a fresh
    process."""
    folder = tmp_path_factory.mktemp("mutation")
    cache: dict[str, dict] = {}

    def report(chapter: str) -> dict:
        if chapter not in cache:
            path = folder / f"{chapter}.json"
            env = {**nbgrader_env(), "MPLBACKEND": "Agg"}
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "course_utils.grading.mutation",
                    chapter,
                    "--quiet",
                    "--course",
                    str(REPO),
                    "--json",
                    str(path),
                ],
                cwd=REPO / "solutions" / chapter,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert result.returncode == 0, (
                f"mutation testing of {chapter} failed:\n{result.stdout}\n{result.stderr[-3000:]}"
            )
            print(result.stdout)
            cache[chapter] = json.loads(path.read_text())
        return cache[chapter]

    return report
