"""The student's path: the package a student installs, the notebooks they get, and the way
those notebooks travel through nbgrader's exchange (release, fetch, submit, collect, grade).

- the wheel built from pyproject.toml holds course_utils with its checkpoint and nothing of
  the course's solutions or tests, and imports from its own files outside the repository;
- every release notebook is current nbformat with stable cell ids, states its total points
  and how to submit, marks answer and test cells, and each test cell prints a pass message;
- Run All of a release notebook goes past unanswered parts (the ``raises-exception`` tag);
- a full exchange round trip with a temporary exchange and a student in another folder
  with their own HOME ends with full marks in the instructor's gradebook.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from course_utils.grading.release import TAG
from nbgrader_course import (
    CHAPTERS,
    HIDDEN,
    REPO,
    VENV_BIN,
    answer_cells,
    fill_answers,
    graded_cells,
    leaked_lines,
    nbgrader_env,
    protected_lines,
    run_nbgrader,
    solution_answers,
    source_notebook,
)

PART_HEADING = re.compile(r"^## Part (\d+): .*\((\d+) points?\)\s*$", re.MULTILINE)
PASS_MESSAGE = re.compile(r'^print\("Part (\d+) \(.+\): all tests in this cell passed\."\)$')
COURSE_ID = "cnn-image-processing"


def release(chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "exercises" / chapter / f"{chapter}.ipynb", as_version=4)


def parts_of_cells(nb: nbformat.NotebookNode) -> dict[str, tuple[int, int]]:
    """grade_id -> (part number, points in the part's heading) for answer and test cells."""
    found, part = {}, None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and PART_HEADING.search(cell.source):
            heading = PART_HEADING.search(cell.source)
            part = (int(heading.group(1)), int(heading.group(2)))
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("grade")):
            assert part is not None, (
                f"{meta['grade_id']} comes before any '## Part N: ... (k points)' heading"
            )
            found[meta["grade_id"]] = part
    return found


# ---------------------------------------------------------------- the package (fast)


#: what course_utils/checkpoints/ ships: the trained models and their whole-photo results
SHIPPED_CHECKPOINT_FILES = sorted(
    path
    for pattern in ("*.pt", "*.csv")
    for path in (REPO / "course_utils" / "checkpoints").glob(pattern)
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """course_utils' wheel, built from a copy of what pyproject.toml packages (the repo stays
    clean)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "course_utils", source / "course_utils", ignore=shutil.ignore_patterns("__pycache__")
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"building the wheel failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    (built,) = (work / "dist").glob("course_utils-*.whl")
    return built


def test_wheel_holds_the_package_and_its_checkpoints_only(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(
            archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        )
        shipped = {
            path.name: archive.read(f"course_utils/checkpoints/{path.name}")
            for path in SHIPPED_CHECKPOINT_FILES
        }
    outside = [n for n in names if not n.startswith(("course_utils/", "course_utils-"))]
    assert not outside, f"the wheel holds files outside the package: {outside}"
    modules = {n for n in names if n.endswith(".py")}
    expected = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "course_utils").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert modules == expected, (
        f"missing from the wheel: {sorted(expected - modules)}; extra: {sorted(modules - expected)}"
    )
    assert {"dncnn_gray_blind.pt", "ffdnet_gray.pt", "whole_photos.csv", "ablation.csv"} <= set(
        shipped
    ), sorted(shipped)
    for path in SHIPPED_CHECKPOINT_FILES:
        assert shipped[path.name] == path.read_bytes(), f"{path.name} differs in the wheel"
    assert not [n for n in names if "/checkpoints/" in n and not n.endswith((".pt", ".csv"))], names
    assert not any(
        re.search(r"(^|/)(solutions|exercises|tests|book)/|\.ipynb$|\.db$", n) for n in names
    ), names
    extras = set(metadata.get_all("Provides-Extra"))
    assert {"grading", "book", "student"} <= extras, f"extras declared: {extras}"
    requires = metadata.get_all("Requires-Dist")
    core = {re.split(r"[ ;<>=!\[]", r)[0].lower() for r in requires if "extra ==" not in r}
    assert {"torch", "torchvision", "numpy", "pandas", "matplotlib", "scikit-image"} <= core, core
    assert any(r.startswith("nbgrader") and 'extra == "grading"' in r for r in requires), requires


def test_wheel_imports_from_its_own_files_outside_the_repository(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = "\n".join(
        [
            "import sys",
            f"repo = {str(REPO)!r}",
            "import os",
            "here = [p for p in sys.path if os.path.abspath(p or '.').startswith(repo)]",
            "assert all('/.venv/' in p for p in here), sys.path  # the environment's packages "
            "only, not the sources",
            "import course_utils, course_utils.student, course_utils.dncnn, course_utils.summary",
            "from importlib.resources import files",
            "print(course_utils.__file__)",
            "print(files('course_utils') / 'checkpoints' / 'dncnn_gray_blind.pt')",
        ]
    )
    env = {**nbgrader_env(), "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    package_file, checkpoint = result.stdout.split()[-2:]
    assert Path(package_file) == site / "course_utils" / "__init__.py", (
        f"imported {package_file}, not the wheel's copy"
    )
    assert Path(checkpoint).is_file() and Path(checkpoint).is_relative_to(site)


# ---------------------------------------------------------------- the release notebooks (fast)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_is_current_nbformat_with_the_source_cell_ids(chapter):
    nb = release(chapter)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5), (
        f"{chapter}: nbformat {nb.nbformat}.{nb.nbformat_minor}"
    )
    nbformat.validate(nb)
    ids = [cell.get("id") for cell in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids), (
        f"{chapter}: cells without a unique id (JupyterLab would add them)"
    )
    assert ids == [cell.get("id") for cell in source_notebook(chapter).cells], (
        f"{chapter}: the release's cell ids differ from the source's; give the source notebook "
        "ids and regenerate"
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_header_states_the_total_points_and_how_to_submit(chapter):
    source = source_notebook(chapter)
    header = source.cells[0].source
    stated = re.search(r"\*\*Total: (\d+) points\*\*", header)
    assert stated, f"{chapter}: the first cell states no '**Total: N points**'"
    points = {gid: c.metadata["nbgrader"]["points"] for gid, c in graded_cells(source).items()}
    assert int(stated.group(1)) == sum(points.values()), (
        f"{chapter}: header says {stated.group(1)}, cells give {points}"
    )
    table = {
        int(part): int(pts)
        for part, pts in re.findall(r"^\| (\d+) \| .* \| (\d+) \|$", header, re.MULTILINE)
    }
    headings = parts_of_cells(source)
    assert table == {part: pts for part, pts in headings.values()}, (
        f"{chapter}: the table's points differ from the headings"
    )
    for gid, pts in points.items():
        assert headings[gid][1] == pts, (
            f"{chapter}/{gid}: the heading says {headings[gid][1]} points, the cell {pts}"
        )
    for words in ("Validate", "Run All", "Assignment List", "Submit", "LMS", "SETUP"):
        assert words in header, f"{chapter}: the header does not mention {words!r}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_cells_are_marked_and_tests_print_a_pass_message(chapter):
    source = source_notebook(chapter)
    parts = parts_of_cells(source)
    for gid, cell in answer_cells(source).items():
        first = cell.source.splitlines()[0]
        assert first.startswith(f"# ✏️ YOUR ANSWER for part {parts[gid][0]} "), (
            f"{chapter}/{gid} starts with {first!r}"
        )
    for gid, cell in graded_cells(source).items():
        lines = cell.source.splitlines()
        assert lines[0].startswith(f"# 🔒 TESTS for part {parts[gid][0]}:"), (
            f"{chapter}/{gid} starts with {lines[0]!r}"
        )
        message = PASS_MESSAGE.match(lines[-1])
        assert message and int(message.group(1)) == parts[gid][0], (
            f'{chapter}/{gid} must end with print("Part {parts[gid][0]} (...): '
            'all tests in this cell passed."), '
            f"ends with {lines[-1]!r}"
        )
        assert HIDDEN.search(cell.source).end() < cell.source.rindex("print("), (
            f"{chapter}/{gid}: print before hidden tests"
        )
    setup = next(c for c in source.cells if c.cell_type == "code")
    assert setup.metadata["nbgrader"]["locked"] and not setup.metadata["nbgrader"]["grade"], (
        f"{chapter}: setup cell"
    )
    assert "warnings_to_stdout()" in setup.source, (
        f"{chapter}: the setup cell must route warnings to stdout"
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_only_the_release_lets_run_all_continue_past_answer_and_test_cells(chapter):
    for cell in source_notebook(chapter).cells:
        assert TAG not in cell.metadata.get("tags", []), (
            f"{chapter}: the source must stop on errors (nbval)"
        )
    nb = release(chapter)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        tagged = TAG in cell.metadata.get("tags", [])
        assert tagged == bool(meta.get("solution") or meta.get("grade")), (
            f"{chapter}: {cell.source[:60]!r}"
        )


@pytest.mark.slow
def test_run_all_of_an_untouched_release_reaches_the_last_cell(tmp_path):
    """nbclient, like JupyterLab's Run All, stops at an error unless the cell has the tag."""
    from nbclient import NotebookClient

    chapter = "01_convolution"
    nb = release(chapter)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    tests = graded_cells(nb)
    failed = [gid for gid, c in tests.items() if any(o.output_type == "error" for o in c.outputs)]
    assert failed == list(tests), (
        f"every test cell should run and fail on its stub; failed: {failed}"
    )
    assert nb.cells[-1].get("execution_count"), "Run All stopped before the last cell"


# ---------------------------------------------------------------- the exchange round trip (slow)


def student_run(folder: Path, home: Path, *args: str) -> str:
    env = {**nbgrader_env(), "HOME": str(home)}
    result = subprocess.run(
        [str(VENV_BIN / "nbgrader"), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"student's nbgrader {' '.join(args)} failed:\n{log[-3000:]}"
    return log


@pytest.mark.slow
def test_exchange_round_trip_release_fetch_submit_collect_autograde(tmp_path):
    chapter = "01_convolution"
    # nbgrader names a submission after the Unix account
    student = pwd.getpwuid(os.getuid()).pw_name
    exchange, course, home, work = (
        tmp_path / name for name in ("exchange", "course", "home", "work")
    )
    for folder in (exchange, home / ".jupyter", work):
        folder.mkdir(parents=True)
    # the instructor's course root: the course's config plus the exchange, and the source
    # notebook only
    course.mkdir()
    shutil.copytree(REPO / "solutions" / chapter, course / "solutions" / chapter)
    config = (REPO / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(config + f"\nc.Exchange.root = {str(exchange)!r}\n")
    run_nbgrader(course, "generate_assignment", chapter, "--force")
    run_nbgrader(course, "release_assignment", chapter, "--force")

    # the student: their own ~/.jupyter/nbgrader_config.py, as book/instructors/grading.md says
    (home / ".jupyter" / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\nc.CourseDirectory.course_id = "
        f"{COURSE_ID!r}\n"
    )
    listing = student_run(work, home, "list")
    assert f"{COURSE_ID} {chapter}" in listing, listing
    student_run(work, home, "fetch_assignment", chapter)
    fetched_path = work / chapter / f"{chapter}.ipynb"
    fetched = nbformat.read(fetched_path, as_version=4)
    fetched_text = "\n".join(cell.source for cell in fetched.cells)
    assert "BEGIN SOLUTION" not in fetched_text and "HIDDEN TESTS" not in fetched_text
    leaked = leaked_lines(fetched_text, protected_lines(chapter))
    assert not leaked, f"the fetched notebook contains solution or hidden-test lines: {leaked[:3]}"
    assert sorted(p.name for p in work.iterdir()) == [chapter], (
        "the student's folder holds more than the assignment"
    )

    nbformat.write(fill_answers(fetched, solution_answers(chapter)), fetched_path)
    student_run(work, home, "submit", chapter)

    log = run_nbgrader(course, "collect", chapter)
    assert (course / "submitted" / student / chapter / f"{chapter}.ipynb").is_file(), log
    run_nbgrader(course, "autograde", chapter, "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(chapter, student)
        score, maximum = submission.score, submission.max_score
    points = sum(
        c.metadata["nbgrader"]["points"] for c in graded_cells(source_notebook(chapter)).values()
    )
    assert maximum == points and score == maximum, (
        f"the round trip scores {score}/{maximum}, expected {points}/{points}"
    )


# -------------------------------------------------- JupyterLab opens a release unmodified (browser)


@pytest.mark.slow
@pytest.mark.browser
def test_jupyterlab_opens_a_release_without_marking_it_modified(tmp_path):
    """JupyterLab marks a notebook modified on open when it must add cell ids (nbformat < 4.5) or
    when the kernel's language_info differs from the stored one; neither may happen here."""
    import secrets
    import time
    import urllib.request

    from jupyter_client.manager import start_new_kernel

    playwright_api = pytest.importorskip("playwright.sync_api")
    browser_path = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    if browser_path is None:
        pytest.skip("no Chromium on this machine")
    chapter = "01_convolution"
    stored = release(chapter).metadata["language_info"]
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        running = client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel()
    if running.get("version") != stored.get("version"):
        pytest.skip(
            f"this Python is {running.get('version')}, the releases were written for "
            f"{stored.get('version')}: JupyterLab then updates language_info (regenerate the "
            "releases with the course's Python)"
        )
    assert stored == running, (
        "the releases' language_info differs from the kernel's (regenerate the source notebooks' "
        "metadata)"
    )

    folder, home = tmp_path / "student", tmp_path / "home"
    folder.mkdir()
    home.mkdir()
    shutil.copy(REPO / "exercises" / chapter / f"{chapter}.ipynb", folder)
    before = (folder / f"{chapter}.ipynb").read_bytes()
    port, token = free_port_number(), secrets.token_hex(16)
    server = subprocess.Popen(
        [
            str(VENV_BIN / "jupyter-lab"),
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={folder}",
        ],
        cwd=folder,
        env={**nbgrader_env(), "HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2
                )
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (
                    "jupyter-lab did not start"
                )
                time.sleep(0.5)
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=browser_path, args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/{chapter}.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            # the kernel starts and reports its language_info, which JupyterLab writes into
            # the model
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(e => "
                "/Idle/.test(e.textContent))",
                timeout=120_000,
            )
            page.wait_for_timeout(3000)
            tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=f"{chapter}.ipynb")
            classes = tab.get_attribute("class")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "jp-mod-dirty" not in classes, (
        "JupyterLab marks the untouched release notebook modified on open"
    )
    assert (folder / f"{chapter}.ipynb").read_bytes() == before, "opening the notebook rewrote it"


def free_port_number() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
