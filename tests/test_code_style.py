"""One code style, checked: ruff formats and lints what pyproject.toml's [tool.ruff] includes.

The line length there is what a code cell of the book shows without scrolling at 1280 px;
the browser test (tests/test_book.py) checks the rendered pages against it. Fix a failure
with ``ruff format`` and ``ruff check --fix`` (the venv's ruff, pinned in requirements.txt);
what they cannot fix (a long string or comment) is rewrapped by hand.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).parent / "ruff"


def ruff(*args: str) -> subprocess.CompletedProcess:
    if not RUFF.is_file():
        pytest.fail(f"ruff is not installed in the venv ({RUFF}); pip install -r requirements.txt")
    return subprocess.run(
        [str(RUFF), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ruff_is_the_pinned_version():
    pinned = re.search(
        r"^ruff==(\S+)$",
        (REPO / "requirements.txt").read_text(),
        re.MULTILINE,
    )
    assert pinned, "requirements.txt does not pin ruff (ruff==<version>)"
    installed = ruff("--version").stdout.split()[-1]
    assert installed == pinned.group(1), (
        f"the venv has ruff {installed}, requirements.txt pins {pinned.group(1)}: "
        "formatting differs between versions"
    )


def test_the_lectures_library_tests_and_scripts_are_in_scope():
    """ruff's include must cover every lecture notebook and every Python file of the
    library, benchmarks, scripts and tests (a typo there would check nothing)."""
    shown = ruff("check", "--show-files").stdout
    listed = set(re.findall(r"((?:book|course_utils|benchmarks|scripts|tests)/\S+)$", shown, re.M))
    folders = {
        "book": "*.ipynb",
        "course_utils": "*.py",
        "benchmarks": "*.py",
        "scripts": "*.py",
        "tests": "*.py",
    }
    wanted = {
        p.relative_to(REPO).as_posix()
        for folder, pattern in folders.items()
        for p in (REPO / folder).rglob(pattern)
        if not {".ipynb_checkpoints", "_build", "__pycache__"} & set(p.parts)
    }
    assert any(path.startswith("book/") for path in wanted), "no lecture notebooks under book/"
    missing = sorted(wanted - listed)
    assert not missing, (
        f"ruff does not check these files (pyproject.toml [tool.ruff] include): {missing}"
    )


def test_the_library_has_the_book_s_line_and_the_tests_a_longer_one():
    """The library is formatted to the book's code column (the book shows parts of it)."""

    def line_length(path: str) -> int:
        settings = ruff("check", "--show-settings", path).stdout
        return int(re.search(r"^linter\.line_length = (\d+)$", settings, re.M).group(1))

    book_column = line_length("book/01_convolution/convolution.ipynb")
    assert book_column == 76, f"the book's code column is 76 characters, ruff says {book_column}"
    for library_file in ("course_utils/conv.py", "course_utils/grading/sandbox.py"):
        assert line_length(library_file) == book_column, (
            f"{library_file} is not at the book's column"
        )
    assert line_length("tests/test_conv.py") == 100, "tests/ruff.toml sets the tests' line to 100"


def test_code_is_formatted():
    result = ruff("format", "--check")
    unformatted = re.findall(r"^Would reformat: (.+)$", result.stdout, re.MULTILINE)
    assert result.returncode == 0, (
        f"ruff format would change {len(unformatted)} files (run `ruff format`): {unformatted}\n"
        f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
    )


def test_code_passes_the_linter():
    result = ruff("check", "--output-format", "concise")
    findings = [
        line for line in result.stdout.splitlines() if re.match(r"^\S+:(cell \d+:)?\d+:\d+: ", line)
    ]
    files = sorted({line.split(":")[0] for line in findings})
    assert result.returncode == 0, (
        f"ruff check: {len(findings)} findings in {files}:\n"
        + "\n".join(findings[:40])
        + result.stderr[-2000:]
    )
