"""The book's text: assignment tables that match the release notebooks, no slides or lectures
the reader does not have, and a bibliography in which every entry is cited and every citation
has an entry.

Each chapter ends with an "Assignment N" section whose table of parts and points is typed into
the markdown, and the introduction has one table for all chapters. These tests read the parts
and points from the student release (``exercises/<slug>/<slug>.ipynb``: the ``## Part k: ...
(p points)`` headings and the test cells' nbgrader points), so the typed numbers cannot drift
from what is graded. None of them builds the book.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from nbgrader_course import CHAPTERS, REPO

BOOK = REPO / "book"
BIB = REPO / "references.bib"

ASSIGNMENT_TITLE = re.compile(r"^# Assignment (\d+): (.+?)\s*$", re.MULTILINE)
PART_HEADING = re.compile(r"^## Part (\d+): (.+) \((\d+) points?\)\s*$", re.MULTILINE)
SECTION_HEADING = re.compile(r"^## Assignment (\d+): (.+?)\s*$", re.MULTILINE)
TABLE_ROW = re.compile(r"^\| *(\d+) *\| *(.+?) *\| *(\d+) *\|\s*$", re.MULTILINE)
TOTAL_ROW = re.compile(r"^\| *\| *\*\*total\*\* *\| *\*\*(\d+)\*\* *\|\s*$", re.MULTILINE)
INTRO_ROW = re.compile(
    r"^\| *(\d+)\. .*?\| *\{ref\}`exercises/(\w+)/(\w+)\.ipynb <assignment-(\w+)>` *\| *(\d+) "
    r"*\| *(\d+) *\|\s*$",
    re.MULTILINE,
)
CITE_ROLE = re.compile(r"\{(?:foot)?cite(?::\w+)?\}`([^`]+)`")
# What a reader of the book does not have: the slides and lectures it was written from, and
# the course codes of the courses that gave them.
NOT_FOR_READERS = re.compile(
    r"\b(?:slides?|lectures?|lecturers?)\b|\b(?:COMP|CSE|CS|EECS|ECE)\s?\d{3,4}[a-z]?\b",
    re.IGNORECASE,
)


def chapter_entries() -> list[dict]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    chapters = [part for part in toc["parts"] if part["caption"] == "Chapters"]
    assert len(chapters) == 1, "_toc.yml needs exactly one part captioned 'Chapters'"
    return chapters[0]["chapters"]


def pages_of(entry: dict) -> list[Path]:
    files = [entry["file"], *(section["file"] for section in entry.get("sections", []))]
    return [REPO / f"{file}.ipynb" for file in files]


def markdown_of(page: Path) -> str:
    if page.suffix == ".md":
        return page.read_text()
    notebook = nbformat.read(page, as_version=4)
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def release_assignment(slug: str) -> tuple[int, str, list[tuple[int, str, int]]]:
    """(number, title, [(part, task, points)]) of the student release; each part's points are
    checked against the nbgrader points of the test cells under its heading."""
    path = REPO / "exercises" / slug / f"{slug}.ipynb"
    assert path.is_file(), (
        f"{path.relative_to(REPO)} is missing: run `nbgrader generate_assignment {slug} --force`"
    )
    notebook = nbformat.read(path, as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    title = ASSIGNMENT_TITLE.search(text)
    assert title, f"{path.relative_to(REPO)}: no '# Assignment N: title' heading"
    parts, graded, current = [], {}, None
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for number, task, points in PART_HEADING.findall(cell.source):
                current = int(number)
                parts.append((current, task, int(points)))
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("points") is not None:
            assert current is not None, (
                f"{slug}: graded cell {meta.get('grade_id')} before any '## Part' heading"
            )
            graded[current] = graded.get(current, 0) + meta["points"]
    assert parts, f"{path.relative_to(REPO)}: no '## Part k: task (p points)' headings"
    for number, task, points in parts:
        assert graded.get(number, 0) == points, (
            f"{slug}: Part {number} ({task}) says {points} points, its test cells give "
            f"{graded.get(number, 0)}"
        )
    return int(title.group(1)), title.group(2), parts


def assignment_section(slug: str) -> tuple[Path, str]:
    """The page and the markdown cell that hold chapter ``slug``'s "Assignment N" section."""
    found = []
    for page in sorted((BOOK / slug).glob("*.ipynb")):
        for cell in nbformat.read(page, as_version=4).cells:
            if cell.cell_type == "markdown" and f"(assignment-{slug})=" in cell.source:
                found.append((page, cell.source))
    assert len(found) == 1, (
        f"chapter {slug}: expected one '(assignment-{slug})=' section, found {len(found)}"
    )
    return found[0]


def test_every_chapter_has_an_assignment_in_the_toc():
    slugs = [Path(entry["file"]).parent.name for entry in chapter_entries()]
    assert sorted(slugs) == CHAPTERS, (
        f"chapters in _toc.yml {slugs} != assignments in solutions/ {CHAPTERS}"
    )


@pytest.mark.parametrize(
    "entry", chapter_entries(), ids=lambda entry: Path(entry["file"]).parent.name
)
def test_chapter_ends_with_its_assignment(entry):
    """The last page of the chapter ends with "Assignment N: title", whose table lists the release's
    parts and points; the chapter's other pages point to it."""
    slug = Path(entry["file"]).parent.name
    number, title, parts = release_assignment(slug)
    page, section = assignment_section(slug)
    pages = pages_of(entry)
    where = page.relative_to(REPO)
    assert page == pages[-1], (
        f"{where}: the assignment belongs at the end of the chapter's last page, {pages[-1].name}"
    )
    last = nbformat.read(page, as_version=4).cells[-1]
    assert f"(assignment-{slug})=" in last.source, (
        f"{where}: the assignment section is not the page's last cell"
    )

    heading = SECTION_HEADING.search(section)
    assert heading, f"{where}: no '## Assignment N: title' heading in the assignment section"
    assert (int(heading.group(1)), heading.group(2)) == (number, title), (
        f"{where}: heading 'Assignment {heading.group(1)}: {heading.group(2)}', "
        f"the release says 'Assignment {number}: {title}'"
    )
    assert f"`exercises/{slug}/{slug}.ipynb`" in section, (
        f"{where}: the section does not name exercises/{slug}/{slug}.ipynb"
    )
    assert "{ref}`Students <intro-students>`" in section, (
        f"{where}: the section does not point to the intro's Students section"
    )
    assert re.search(r"hidden tests", section), (
        f"{where}: the section does not say that hidden tests run at grading"
    )

    typed = [(int(n), task, int(points)) for n, task, points in TABLE_ROW.findall(section)]
    assert typed == parts, f"{where}: the assignment table {typed} != the release's parts {parts}"
    total = TOTAL_ROW.search(section)
    assert total, f"{where}: the assignment table has no '| | **total** | **N** |' row"
    assert int(total.group(1)) == sum(points for _, _, points in parts), (
        f"{where}: total {total.group(1)} != {sum(points for _, _, points in parts)} points in "
        "the release"
    )
    for other in pages[:-1]:
        assert f"{{ref}}`assignment-{slug}`" in markdown_of(other), (
            f"{other.relative_to(REPO)}: does not point to the chapter's assignment "
            f"({{ref}}`assignment-{slug}`)"
        )


def test_intro_table_matches_the_releases():
    intro = markdown_of(BOOK / "intro.md")
    rows = {}
    for number, slug, name, label, n_parts, points in INTRO_ROW.findall(intro):
        assert slug == name == label, f"intro: a row mixes chapters: {slug}, {name}, {label}"
        assert slug not in rows, f"intro: chapter {slug} appears twice in the assignments table"
        rows[slug] = (int(number), int(n_parts), int(points))
    assert sorted(rows) == CHAPTERS, (
        f"intro: the assignments table lists {sorted(rows)}, the course has {CHAPTERS}"
    )
    for slug, typed in rows.items():
        number, _, parts = release_assignment(slug)
        expected = (number, len(parts), sum(points for _, _, points in parts))
        assert typed == expected, (
            f"intro: row for {slug} says (chapter, parts, points) = {typed}, the release {expected}"
        )
    headings = re.findall(r"^#+ (.+?)\s*$", intro, re.MULTILINE)
    assert len(headings) == len(set(headings)), f"intro: repeated headings {headings}"
    toc_captions = [
        part["caption"] for part in yaml.safe_load((REPO / "_toc.yml").read_text())["parts"]
    ]
    repeated = [h for h in headings if h in toc_captions and "{tableofcontents}" in intro]
    assert not repeated, (
        f"intro: heading {repeated} repeats the caption of the table of contents below it"
    )


def reader_pages() -> list[Path]:
    pages = [page for entry in chapter_entries() for page in pages_of(entry)]
    return [BOOK / "intro.md", *pages, BOOK / "references.md"]


def sentences_not_for_readers(text: str) -> list[str]:
    text = CITE_ROLE.sub("", text)
    sentences = re.split(r"(?<=[.!?:])\s+(?=[A-Z(*`$])|\n\s*\n", text)
    return [" ".join(s.split()) for s in sentences if NOT_FOR_READERS.search(s)]


def test_the_text_needs_no_slides_or_lectures():
    """Readers have the book only: no "the slide", "the lecture" or course codes in any page."""
    found = {
        str(page.relative_to(REPO)): sentences_not_for_readers(markdown_of(page))
        for page in reader_pages()
    }
    found = {page: hits for page, hits in found.items() if hits}
    report = "\n".join(
        f"{page}:\n" + "\n".join(f"  - {hit[:200]}" for hit in hits) for page, hits in found.items()
    )
    assert not found, (
        f"the book refers to slides, lectures or course codes its readers do not have:\n{report}"
    )


def test_the_check_for_slides_and_lectures_can_fail():
    assert sentences_not_for_readers("As the lecture shows, it works. Fine.") == [
        "As the lecture shows, it works."
    ]
    assert sentences_not_for_readers("The CSE428 table. The slides agree.") == [
        "The CSE428 table.",
        "The slides agree.",
    ]
    assert sentences_not_for_readers("Cited {cite:p}`lecture2020` here. Electrical slider.") == []


def bib_entries() -> dict[str, object]:
    # installed with sphinxcontrib-bibtex; raises on duplicate keys
    from pybtex.database import parse_file

    return dict(parse_file(str(BIB), bib_format="bibtex").entries)


def cited_keys() -> dict[str, list[str]]:
    cited: dict[str, list[str]] = {}
    pages = sorted(BOOK.rglob("*.ipynb")) + sorted(BOOK.rglob("*.md"))
    for page in pages:
        if ".ipynb_checkpoints" in page.parts:
            continue
        for keys in CITE_ROLE.findall(markdown_of(page)):
            for key in keys.split(","):
                cited.setdefault(key.strip(), []).append(str(page.relative_to(REPO)))
    return cited


def test_the_bibliography_is_configured_and_listed():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config.get("bibtex_bibfiles") == ["references.bib"], (
        "_config.yml: bibtex_bibfiles must be [references.bib]"
    )
    toc_files = [
        chapter["file"]
        for part in yaml.safe_load((REPO / "_toc.yml").read_text())["parts"]
        for chapter in part["chapters"]
    ]
    assert "book/references" in toc_files, "_toc.yml does not list book/references"
    assert re.search(r"```\{bibliography\}\n:all:\n```", (BOOK / "references.md").read_text()), (
        "book/references.md must show the whole bibliography (a {bibliography} directive with "
        ":all:)"
    )


def test_every_citation_has_an_entry_and_every_entry_is_cited():
    entries, cited = bib_entries(), cited_keys()
    assert len(cited) >= 20, (
        f"only {len(cited)} keys cited in the book; is the {{cite}} pattern still right?"
    )
    unknown = {key: pages for key, pages in cited.items() if key not in entries}
    assert not unknown, f"citations without an entry in references.bib: {unknown}"
    uncited = sorted(set(entries) - set(cited))
    assert not uncited, (
        "references.bib entries that no page cites (cite them where the text uses them, or drop "
        f"them): {uncited}"
    )


def test_bib_entries_have_the_fields_a_reader_needs():
    required = {
        "article": ("author", "title", "journal", "year"),
        "inproceedings": ("author", "title", "booktitle", "year"),
        "incollection": ("author", "title", "booktitle", "year"),
        "book": ("author", "title", "publisher", "year"),
        "misc": ("title", "howpublished"),
    }
    for key, entry in bib_entries().items():
        assert entry.type in required, (
            f"references.bib: {key} has type @{entry.type}; use one of {sorted(required)}"
        )
        fields = {name.lower() for name in entry.fields} | {role.lower() for role in entry.persons}
        missing = [name for name in required[entry.type] if name not in fields]
        assert not missing, f"references.bib: @{entry.type}{{{key}}} lacks {missing}"
