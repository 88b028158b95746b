"""The student's Validate button, end to end: a real Jupyter server with nbgrader's
extensions, started from a folder holding the course's nbgrader_config.py (as when a
student runs `jupyter lab` at the repository root), answering the HTTP request the
button sends."""

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

from nbgrader_course import CHAPTERS, REPO, answer_cells, fill_answers, graded_cells, nbgrader_env, solution_answers

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def student_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    shutil.copy(REPO / "nbgrader_config.py", folder / "nbgrader_config.py")
    shutil.copytree(REPO / "exercises", folder / "exercises")
    port, token = free_port(), secrets.token_hex(16)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter-server"), "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}"],
        cwd=folder, env=nbgrader_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
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
    yield folder, base, token
    server.terminate()
    server.wait(timeout=30)


def press_validate(base: str, token: str, path: str) -> dict:
    request = urllib.request.Request(
        f"{base}/assignments/validate", data=urllib.parse.urlencode({"path": path}).encode(),
        headers={"Authorization": f"token {token}"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def test_nbgrader_extensions_are_enabled_for_jupyterlab():
    listing = subprocess.run([str(Path(sys.executable).parent / "jupyter"), "labextension", "list"],
                             capture_output=True, text=True, env=nbgrader_env())
    text = listing.stdout + listing.stderr
    line = next((ln for ln in text.splitlines() if "@jupyter/nbgrader" in ln), "")
    assert "enabled" in line and "OK" in line, f"nbgrader's JupyterLab extension is not enabled:\n{text}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_validate_button_on_blank_and_solved_notebooks(chapter, student_server):
    folder, base, token = student_server
    release_path = Path("exercises") / chapter / f"{chapter}.ipynb"
    blank = press_validate(base, token, str(release_path))
    assert blank["success"], f"Validate crashed on the untouched exercise: {blank['value']}"
    failed = blank["value"].get("failed", [])
    release = nbformat.read(folder / release_path, as_version=4)
    assert len(failed) == len(graded_cells(release)), f"Validate should report every test cell failing, got {len(failed)}"
    assert all("NotImplementedError" in f["raw_error"] for f in failed), "blank test cells should fail on the stubs"
    assert len(answer_cells(release)) >= 5

    solved_path = Path("exercises") / chapter / "solved.ipynb"
    nbformat.write(fill_answers(release, solution_answers(chapter)), folder / solved_path)
    solved = press_validate(base, token, str(solved_path))
    assert solved == {"success": True, "value": {}}, f"Validate reports problems with correct answers: {solved}"
