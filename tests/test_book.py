"""The book: a strict build, no leaked solutions, and a real offline browser.

The build runs ``jupyter-book build --all -W -n --keep-going`` (a plain build exits 0 even
when a cell fails). The browser test opens each chapter page in headless Chromium with every
request outside the local server blocked and recorded, then checks that MathJax typeset the
math (no raw TeX left), that every figure loaded, and that no request left the machine.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
import yaml

from nbgrader_course import CHAPTERS, REPO, leaked_lines, nbgrader_env, protected_lines, visible_text

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [page for chapter in part["chapters"] for page in with_sections(chapter)]
    return pages


def with_sections(chapter: dict) -> list[str]:
    return [chapter["file"], *(section["file"] for section in chapter.get("sections", []))]


def chapter_pages() -> list[str]:
    """The lecture notebooks, sections included: the toc's "Chapters" part (other parts are for instructors)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [page for part in toc["parts"] if part["caption"] == "Chapters" for chapter in part["chapters"]
            for page in with_sections(chapter)]


@pytest.fixture(scope="module")
def html_dir() -> Path:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPO), "--all", "-W", "-n", "--keep-going"],
        cwd=REPO, env=nbgrader_env(), capture_output=True, text=True, timeout=1800,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"book build failed ({result.returncode}):\n{log[-6000:]}"
    return REPO / "_build" / "html"


def test_book_builds_every_page(html_dir):
    for page in toc_pages():
        assert (html_dir / f"{page}.html").is_file(), f"{page}.html missing from the build"


def plotted_figures(page: str) -> int:
    """How many figures a lecture notebook shows (cells calling plt.show()); at least one."""
    notebook = nbformat.read(REPO / f"{page}.ipynb", as_version=4)
    shown = sum("plt.show()" in cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert shown >= 1, f"{page}: the lecture plots nothing"
    return shown


def test_chapter_pages_show_their_figures(html_dir):
    """Each chapter page embeds its notebook's figures, and each image file exists."""
    for page in chapter_pages():
        html_path = html_dir / f"{page}.html"
        sources = re.findall(r'<img[^>]+src="([^"]+)"', html_path.read_text())
        figures = [src for src in sources if "_images/" in src]
        shown = plotted_figures(page)
        assert len(figures) >= shown, (
            f"{page}: {len(figures)} figures in the page for {shown} plt.show() cells (is MPLBACKEND set for the kernel?)")
        missing = [src for src in figures if not (html_path.parent / src).resolve().is_file()]
        assert not missing, f"{page}: figure files missing from the build: {missing}"


def test_chapter_pages_show_no_warnings_or_errors(html_dir):
    """A reader sees results, not Python's complaints: no cell of a chapter page printed to stderr."""
    from bs4 import BeautifulSoup

    for page in chapter_pages():
        soup = BeautifulSoup((html_dir / f"{page}.html").read_text(), "html.parser")
        complaints = [block.get_text().strip()[:300] for block in soup.select("div.output.stderr, div.output.traceback")]
        assert not complaints, f"{page} shows warnings or errors to its readers: {complaints}"


def test_every_chapter_has_a_lecture_and_an_assignment():
    slugs = {Path(page).parent.name for page in chapter_pages()}
    assert set(CHAPTERS) <= slugs, f"assignments without a lecture in _toc.yml: {set(CHAPTERS) - slugs}"
    for slug in slugs:
        assert (REPO / "solutions" / slug / f"{slug}.ipynb").is_file(), f"chapter {slug} has no assignment source"
        assert (REPO / "exercises" / slug / f"{slug}.ipynb").is_file(), f"chapter {slug} has no generated exercise"


def test_no_solution_or_hidden_test_text_in_the_html(html_dir):
    text = "\n".join(visible_text(p.read_text(errors="replace")) for p in html_dir.rglob("*.html"))
    for chapter in CHAPTERS:
        leaked = leaked_lines(text, protected_lines(chapter))
        assert not leaked, f"the built book shows lines of the {chapter} solution or hidden tests: {leaked[:3]}"


def test_math_is_served_by_the_book_itself(html_dir):
    for page in chapter_pages():
        html = (html_dir / f"{page}.html").read_text()
        assert "_static/mathjax/es5/tex-chtml.js" in html, f"{page}: MathJax is not loaded from the book"
        assert "cdn.jsdelivr.net" not in html and "cdnjs" not in html, f"{page}: references a CDN"


@pytest.fixture(scope="module")
def local_server(html_dir):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html_dir))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


NO_RAW_TEX = r"""
() => {
  const root = document.querySelector('main') || document.body;
  const copy = root.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, .cell_input').forEach(e => e.remove());
  return copy.innerText;
}
"""


@pytest.mark.browser
@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_page_in_an_offline_browser(page, local_server):
    browser_path = chromium_path()
    if browser_path is None:
        message = "no Chromium found (Debian package 'chromium'; scripts/setup.sh installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    local_host = urlparse(local_server).netloc
    outside, failed, console_errors = [], [], []

    def route(route_request):
        url = urlparse(route_request.request.url)
        if url.scheme in ("data", "blob", "about") or url.netloc == local_host:
            route_request.continue_()
        else:
            outside.append(route_request.request.url)
            route_request.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.route("**/*", route)
        tab = context.new_page()
        tab.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        tab.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        tab.goto(f"{local_server}/{page}.html", wait_until="load")
        tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30000)
        tab.evaluate("() => MathJax.startup.promise")
        typeset = tab.locator("mjx-container").count()
        raw_tex = [token for token in ("$$", "\\frac", "\\sum", "\\left", "\\lfloor", "\\begin{")
                   if token in tab.evaluate(NO_RAW_TEX)]
        images = tab.evaluate("() => Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])")
        browser.close()

    assert typeset >= 10, f"{page}: only {typeset} formulas typeset by MathJax"
    assert not raw_tex, f"{page}: raw TeX left on the page: {raw_tex}"
    figures = [src for src, _ in images if "_images/" in src]
    assert len(figures) >= plotted_figures(page), f"{page}: expected the notebook's figures, found {len(figures)} images"
    broken = [src for src, ok in images if not ok]
    assert not broken, f"{page}: images that did not load: {broken}"
    assert not outside, f"{page}: requests left the machine: {outside}"
    assert not failed, f"{page}: failed requests: {failed}"
