"""The book: a strict build, no leaked solutions, and a real offline browser.

The build runs ``jupyter-book build --all -W -n --keep-going`` (a plain build exits 0 even
when a cell fails). The browser test opens each chapter page in headless Chromium with every
request outside the local server blocked and recorded, then checks that MathJax typeset the
math (no raw TeX left), that every figure loaded, and that no request left the machine; and
that the page reads at 1280 px and on a phone (390 px): nothing cut off without a scrollbar,
every code cell within the column, every figure with alt text and its text >= 11 px as shown.
COURSE_BOOK_HTML=<folder> runs these tests against an existing build instead of building.
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
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
import yaml

from nbgrader_course import (
    CHAPTERS,
    REPO,
    leaked_lines,
    nbgrader_env,
    protected_lines,
    visible_text,
)

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [page for chapter in part["chapters"] for page in with_sections(chapter)]
    return pages


def with_sections(chapter: dict) -> list[str]:
    return [chapter["file"], *(section["file"] for section in chapter.get("sections", []))]


def chapter_pages() -> list[str]:
    """The lecture notebooks, sections included: the toc's "Chapters" part (other parts are for
    instructors)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [
        page
        for part in toc["parts"]
        if part["caption"] == "Chapters"
        for chapter in part["chapters"]
        for page in with_sections(chapter)
    ]


@pytest.fixture(scope="module")
def html_dir() -> Path:
    """The strict build; COURSE_BOOK_HTML=<folder> checks an existing build instead (no rebuild)."""
    existing = os.environ.get("COURSE_BOOK_HTML")
    if existing:
        assert (Path(existing) / "index.html").is_file(), (
            f"COURSE_BOOK_HTML={existing} holds no built book"
        )
        return Path(existing)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyter-book"),
            "build",
            str(REPO),
            "--all",
            "-W",
            "-n",
            "--keep-going",
        ],
        cwd=REPO,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=1800,
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
            f"{page}: {len(figures)} figures in the page for {shown} plt.show() cells (is "
            "MPLBACKEND set for the kernel?)"
        )
        missing = [src for src in figures if not (html_path.parent / src).resolve().is_file()]
        assert not missing, f"{page}: figure files missing from the build: {missing}"


def test_chapter_pages_show_no_warnings_or_errors(html_dir):
    """A reader sees results, not Python's complaints: no cell of a chapter page printed to
    stderr."""
    from bs4 import BeautifulSoup

    for page in chapter_pages():
        soup = BeautifulSoup((html_dir / f"{page}.html").read_text(), "html.parser")
        complaints = [
            block.get_text().strip()[:300]
            for block in soup.select("div.output.stderr, div.output.traceback")
        ]
        assert not complaints, f"{page} shows warnings or errors to its readers: {complaints}"


def test_every_chapter_has_a_lecture_and_an_assignment():
    slugs = {Path(page).parent.name for page in chapter_pages()}
    assert set(CHAPTERS) <= slugs, (
        f"assignments without a lecture in _toc.yml: {set(CHAPTERS) - slugs}"
    )
    for slug in slugs:
        assert (REPO / "solutions" / slug / f"{slug}.ipynb").is_file(), (
            f"chapter {slug} has no assignment source"
        )
        assert (REPO / "exercises" / slug / f"{slug}.ipynb").is_file(), (
            f"chapter {slug} has no generated exercise"
        )


def test_no_solution_or_hidden_test_text_in_the_html(html_dir):
    text = "\n".join(visible_text(p.read_text(errors="replace")) for p in html_dir.rglob("*.html"))
    for chapter in CHAPTERS:
        leaked = leaked_lines(text, protected_lines(chapter))
        assert not leaked, (
            f"the built book shows lines of the {chapter} solution or hidden tests: {leaked[:3]}"
        )


def test_math_is_served_by_the_book_itself(html_dir):
    for page in chapter_pages():
        html = (html_dir / f"{page}.html").read_text()
        assert "_static/mathjax/es5/tex-chtml.js" in html, (
            f"{page}: MathJax is not loaded from the book"
        )
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
"""  # noqa: E501 (JavaScript run in the page)


# Content a reader cannot see: an element sticking out of the text column (or out of a box that
# hides its overflow) with no scroll container (overflow-x: auto/scroll) in between. Wide tables
# and display math that scroll on their own pass; MathJax's internals are checked as one box.
CLIPPED = r"""
() => {
  const root = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const name = (el) => el.tagName.toLowerCase()
      + (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).join('.') : '');
  const found = [], flagged = new Set();
  for (const el of root.querySelectorAll('*')) {
    if (el.parentElement && flagged.has(el.parentElement)) { flagged.add(el); continue; }  // outermost only
    const math = el.closest('mjx-container');
    if (math && math !== el) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    let clipper = null;
    for (let a = el.parentElement; a && a !== root.parentElement; a = a.parentElement) {
      const overflow = getComputedStyle(a).overflowX;
      if (overflow === 'auto' || overflow === 'scroll') break;
      if (overflow === 'hidden' || overflow === 'clip' || a === root) { clipper = a; break; }
    }
    if (clipper === null) continue;
    const edge = clipper.getBoundingClientRect(), style = getComputedStyle(clipper);
    const left = edge.left + parseFloat(style.borderLeftWidth), right = edge.right - parseFloat(style.borderRightWidth);
    if (box.right > right + 1 || box.left < left - 1) {
      flagged.add(el);
      const text = (el.innerText || el.textContent || '').trim().slice(0, 60).replace(/\s+/g, ' ');
      found.push(`${name(el)} spans x ${Math.round(box.left)}..${Math.round(box.right)} outside ${name(clipper)} `
                 + `(${Math.round(left)}..${Math.round(right)}): ${text}`);
    }
  }
  return found;
}
"""  # noqa: E501 (JavaScript run in the page)

# Figures as displayed: [src, alt, rendered width, natural width] of every image in the article.
FIGURES = """
() => Array.from((document.querySelector('article.bd-article') || document).querySelectorAll('img'))
  .map(i => [i.getAttribute('src'), (i.getAttribute('alt') || '').trim(), i.getBoundingClientRect().width, i.naturalWidth])
"""  # noqa: E501 (JavaScript run in the page)

# Code cells whose longest line does not fit: [first line, scroll width, visible width].
SCROLLING_CODE = """
() => Array.from(document.querySelectorAll('.cell_input pre'))
  .filter(p => p.scrollWidth > p.clientWidth + 1)
  .map(p => [p.innerText.split('\\n')[0].slice(0, 60), p.scrollWidth, p.clientWidth])
"""

# Matplotlib draws text at its point size x dpi / 72 pixels; the inline backend's figures have
# dpi 100 (natural size), and the page scales them by rendered / natural width. The smallest
# text a figure of the course uses is matplotlib's default tick-label size, 10 pt (no notebook
# sets a smaller fontsize: test_no_figure_text_below_the_default_size), so a figure's smallest
# text renders at 10 x 100 / 72 x scale px. Body text is 16 px; 11 px is the floor we accept for
# tick labels (titles and labels are 12 pt or more, so they stay >= 13 px).
FIGURE_DPI, SMALLEST_FIGURE_PT, MIN_FIGURE_TEXT_PX = 100, 10, 11.0


def rendered_text_px(rendered_width: float, natural_width: float) -> float:
    """Pixel size on the page of the smallest figure text (see MIN_FIGURE_TEXT_PX)."""
    return SMALLEST_FIGURE_PT * FIGURE_DPI / 72 * rendered_width / natural_width


def figure_problems(figures: list) -> list[str]:
    """Images without alt text, and figures whose smallest text renders below MIN_FIGURE_TEXT_PX."""
    problems = []
    for src, alt, rendered, natural in figures:
        # docutils' default alt is the URI
        if not alt or alt == src or alt.endswith((".png", ".jpg", ".svg")):
            problems.append(f"{src}: no alt text (cell metadata mystnb.image.alt)")
        if (
            "_images/" in src
            and natural
            and rendered_text_px(rendered, natural) < MIN_FIGURE_TEXT_PX
        ):
            problems.append(
                f"{src}: shown at {rendered:.0f} of {natural} px, its 10 pt text renders at "
                f"{rendered_text_px(rendered, natural):.1f} px (< {MIN_FIGURE_TEXT_PX}): narrower "
                "figsize or fewer columns"
            )
    return problems


def code_column() -> int:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["line-length"]


def test_figure_checks_fail_on_bad_figures():
    """The figure check itself: a missing alt and a shrunk figure are reported, a good one is
    not."""
    assert figure_problems([["_images/a.png", "a plot", 640, 640]]) == []
    assert any("no alt text" in p for p in figure_problems([["_images/a.png", "", 640, 640]]))
    assert any(
        "no alt text" in p for p in figure_problems([["_images/a.png", "_images/a.png", 640, 640]])
    )
    assert any(
        "renders at" in p for p in figure_problems([["_images/a.png", "wide grid", 688, 1100]])
    )


def test_no_figure_text_below_the_default_size():
    """No lecture or course_utils figure asks for text under 10 pt (the premise of
    MIN_FIGURE_TEXT_PX)."""
    small = []
    for page in chapter_pages():
        for cell in nbformat.read(REPO / f"{page}.ipynb", as_version=4).cells:
            if cell.cell_type == "code":
                small += [
                    f"{page}: fontsize={size}"
                    for size in re.findall(r"fontsize\s*=\s*([0-9.]+)", cell.source)
                    if float(size) < SMALLEST_FIGURE_PT
                ]
    for module in (REPO / "course_utils").rglob("*.py"):
        small += [
            f"{module.name}: fontsize={size}"
            for size in re.findall(r"fontsize\s*=\s*([0-9.]+)", module.read_text())
            if float(size) < SMALLEST_FIGURE_PT
        ]
    assert not small, f"figure text below {SMALLEST_FIGURE_PT} pt: {small}"


@pytest.mark.browser
def test_clipping_check_fails_on_clipped_content():
    """CLIPPED finds a table spilling out of the column and text cut by overflow: hidden, not a
    scrolling one."""
    browser_path = chromium_path()
    if browser_path is None:
        pytest.skip("no Chromium found")
    from playwright.sync_api import sync_playwright

    snippet = (
        '<article class="bd-article" style="width:300px"><table id="spill" '
        'style="width:600px"><tr><td>wide</td></tr></table><div '
        'style="overflow:hidden;width:200px"><p id="cut" style="width:400px">cut '
        'off</p></div><div style="overflow-x:auto;width:200px"><p '
        'style="width:400px">scrolls</p></div></article>'
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 800})
        tab.set_content(snippet)
        found = tab.evaluate(CLIPPED)
        browser.close()
    assert len(found) == 2 and "table" in found[0] and "p " in found[1], found


@pytest.mark.browser
@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_page_in_an_offline_browser(page, local_server):
    """At 1280 px: math typeset, figures loaded with alt text and readable text, nothing clipped,
    every code cell fits its column; at 390 px (a phone): nothing clipped (code may scroll)."""
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
        tab.on(
            "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )
        tab.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        tab.goto(f"{local_server}/{page}.html", wait_until="load")
        tab.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30000
        )
        tab.evaluate("() => MathJax.startup.promise")
        typeset = tab.locator("mjx-container").count()
        raw_tex = [
            token
            for token in ("$$", "\\frac", "\\sum", "\\left", "\\lfloor", "\\begin{")
            if token in tab.evaluate(NO_RAW_TEX)
        ]
        images = tab.evaluate(
            "() => Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])"
        )
        tab.set_viewport_size({"width": 1280, "height": 900})
        clipped_wide = tab.evaluate(CLIPPED)
        displayed = tab.evaluate(FIGURES)
        scrolling_code = tab.evaluate(SCROLLING_CODE)
        tab.set_viewport_size({"width": 390, "height": 844})
        clipped_phone = tab.evaluate(CLIPPED)
        browser.close()

    assert typeset >= 10, f"{page}: only {typeset} formulas typeset by MathJax"
    assert not raw_tex, f"{page}: raw TeX left on the page: {raw_tex}"
    figures = [src for src, _ in images if "_images/" in src]
    assert len(figures) >= plotted_figures(page), (
        f"{page}: expected the notebook's figures, found {len(figures)} images"
    )
    broken = [src for src, ok in images if not ok]
    assert not broken, f"{page}: images that did not load: {broken}"
    assert not outside, f"{page}: requests left the machine: {outside}"
    assert not failed, f"{page}: failed requests: {failed}"
    assert not clipped_wide, (
        f"{page} at 1280 px: content cut off without a scrollbar: {clipped_wide[:5]}"
    )
    assert not clipped_phone, (
        f"{page} at 390 px: content cut off without a scrollbar: {clipped_phone[:5]}"
    )
    problems = figure_problems(displayed)
    assert not problems, f"{page}: {len(problems)} figure problems: {problems[:5]}"
    assert not scrolling_code, (
        f"{page} at 1280 px: code cells wider than the column (ruff line-length {code_column()}): "
        f"{scrolling_code[:5]}"
    )
