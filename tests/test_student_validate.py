"""The student's Validate button, end to end: a real Jupyter server with nbgrader's
extensions answering the HTTP request the button sends, started from a folder holding the
course's nbgrader_config.py (as on the instructor's machine), and from a folder holding
nothing but one release notebook (as a student who got it from the LMS or the exchange):
there the notebook's own setup cell must make Validate agree with the grader."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

from nbgrader_course import (
    CHAPTERS,
    REPO,
    answer_cells,
    fill_answers,
    graded_cells,
    nbgrader_env,
    solution_answers,
)

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(folder: Path, env: dict[str, str]):
    """A jupyter-server rooted at ``folder``; yields (base URL, token) and stops it afterwards."""
    port, token = free_port(), secrets.token_hex(16)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter-server"),
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={folder}",
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None:
                pytest.fail(f"jupyter-server exited: {server.stderr.read()[-3000:]}")
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("jupyter-server did not start within 60 s")
    yield base, token
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def student_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    shutil.copy(REPO / "nbgrader_config.py", folder / "nbgrader_config.py")
    shutil.copytree(REPO / "exercises", folder / "exercises")
    for base, token in serve(folder, nbgrader_env()):
        yield folder, base, token


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    """A server whose root (and the student's HOME) holds no nbgrader configuration at all."""
    folder, home = tmp_path_factory.mktemp("bare"), tmp_path_factory.mktemp("home")
    for base, token in serve(folder, {**nbgrader_env(), "HOME": str(home)}):
        yield folder, base, token


def press_validate(base: str, token: str, path: str) -> dict:
    request = urllib.request.Request(
        f"{base}/assignments/validate",
        data=urllib.parse.urlencode({"path": path}).encode(),
        headers={"Authorization": f"token {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def test_nbgrader_extensions_are_enabled_for_jupyterlab():
    listing = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "labextension", "list"],
        capture_output=True,
        text=True,
        env=nbgrader_env(),
    )
    text = listing.stdout + listing.stderr
    line = next((ln for ln in text.splitlines() if "@jupyter/nbgrader" in ln), "")
    assert "enabled" in line and "OK" in line, (
        f"nbgrader's JupyterLab extension is not enabled:\n{text}"
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_validate_button_on_blank_and_solved_notebooks(chapter, student_server):
    folder, base, token = student_server
    release_path = Path("exercises") / chapter / f"{chapter}.ipynb"
    blank = press_validate(base, token, str(release_path))
    assert blank["success"], f"Validate crashed on the untouched exercise: {blank['value']}"
    failed = blank["value"].get("failed", [])
    release = nbformat.read(folder / release_path, as_version=4)
    assert len(failed) == len(graded_cells(release)), (
        f"Validate should report every test cell failing, got {len(failed)}"
    )
    assert all("NotImplementedError" in f["raw_error"] for f in failed), (
        "blank test cells should fail on the stubs"
    )
    assert len(answer_cells(release)) >= 5

    solved_path = Path("exercises") / chapter / "solved.ipynb"
    nbformat.write(fill_answers(release, solution_answers(chapter)), folder / solved_path)
    solved = press_validate(base, token, str(solved_path))
    assert solved == {"success": True, "value": {}}, (
        f"Validate reports problems with correct answers: {solved}"
    )


WARNING_TEXT = "deprecated on purpose"


def warning_in_every_call(answer: str, name: str) -> str:
    """A correct answer whose function ``name`` emits a UserWarning each time a test calls it."""
    return answer + (
        f"\n\n_{name} = {name}\n\n\ndef {name}(*args, **kwargs):\n    import warnings\n\n"
        f"    warnings.warn({WARNING_TEXT!r}, UserWarning)\n    return _{name}(*args, **kwargs)\n"
    )


def test_validate_in_a_folder_without_the_course_config(bare_server):
    """Warnings go to stdout by the notebook's own setup cell: a warning is no failure."""
    folder, base, token = bare_server
    chapter = "01_convolution"
    assert not list(folder.rglob("nbgrader_config.py"))
    release = nbformat.read(REPO / "exercises" / chapter / f"{chapter}.ipynb", as_version=4)
    nbformat.write(release, folder / "blank.ipynb")
    blank = press_validate(base, token, "blank.ipynb")
    assert blank["success"] and len(blank["value"].get("failed", [])) == len(
        graded_cells(release)
    ), blank

    answers = solution_answers(chapter)
    answers["conv_layer_params"] = warning_in_every_call(
        answers["conv_layer_params"], "conv_layer_params"
    )
    solved = fill_answers(release, answers)
    nbformat.write(solved, folder / "solved.ipynb")
    result = press_validate(base, token, "solved.ipynb")
    assert result == {"success": True, "value": {}}, (
        f"Validate fails a correct answer that warns: {result}"
    )

    # the same answer with Python's own warning printer put back (what the setup cell replaced)
    # fails: the setup cell's routing is what makes the difference
    restored = (
        "import warnings\n\nwarnings.showwarning = warnings._showwarning_orig\n\n"
        + answers["conv_layer_params"]
    )
    nbformat.write(
        fill_answers(release, {**answers, "conv_layer_params": restored}), folder / "unrouted.ipynb"
    )
    without = press_validate(base, token, "unrouted.ipynb")
    failed = [f["source"] for f in without["value"].get("failed", [])]
    assert without["success"] and len(failed) == 1 and "conv_layer_params(" in failed[0], (
        f"a warning on stderr should fail exactly its test cell: {without}"
    )
