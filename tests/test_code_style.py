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
        pytest.fail(
            f"ruff is not installed in the venv ({RUFF}); pip install -r requirements.txt"
        )
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


def test_the_lecture_notebooks_are_in_scope():
    """ruff's include must cover every lecture notebook (a typo there would check nothing)."""
    listed = ruff("check", "--show-files").stdout
    lectures = sorted(
        p.relative_to(REPO).as_posix()
        for p in (REPO / "book").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts
    )
    assert lectures, "no lecture notebooks found under book/"
    missing = [page for page in lectures if page not in listed]
    assert not missing, (
        f"ruff does not check these lecture notebooks (pyproject.toml [tool.ruff] include): {missing}"
    )


def test_code_is_formatted():
    result = ruff("format", "--check")
    unformatted = re.findall(
        r"^Would reformat: (.+)$", result.stdout, re.MULTILINE
    )
    assert result.returncode == 0, (
        f"ruff format would change {len(unformatted)} files (run `ruff format`): {unformatted}\n"
        f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
    )


def test_code_passes_the_linter():
    result = ruff("check", "--output-format", "concise")
    findings = [
        line
        for line in result.stdout.splitlines()
        if re.match(r"^\S+:(cell \d+:)?\d+:\d+: ", line)
    ]
    files = sorted({line.split(":")[0] for line in findings})
    assert result.returncode == 0, (
        f"ruff check: {len(findings)} findings in {files}:\n"
        + "\n".join(findings[:40])
        + result.stderr[-2000:]
    )
