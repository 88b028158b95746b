"""Numbers in the lecture prose are computed, defined in code, or cited.

A figure typed into a markdown cell is invisible to the strict build: when the code changes,
the sentence keeps its old value. So every number in a lecture's prose must be one of:

- glued: ``{glue:text}`` and friends insert the value the notebook computed (stripped here);
- a small count or a year: integers up to 12 ("two layers", "3 × 3") and years 1900–2030;
- defined in code: the same literal appears in a code cell of the notebook (a setting the
  code uses, a value a cell asserts, a published figure the code compares against);
- in :data:`ALLOWED`, with the reason it is a definition or a citation.

Math (``$...$``), inline code, citations, cross-references and link targets are not prose
numbers; the final "Assignment" section is checked against the release notebooks by
``test_book_text.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from nbgrader_course import REPO

LECTURES = sorted((REPO / "book").rglob("*.ipynb"))

# page (relative to book/) -> {number as written: why it may be typed}
ALLOWED: dict[str, dict[str, str]] = {
    "02_architectures/architectures.ipynb": {
        "14": "LeNet-5's published geometry (28 / 2); the summary table above shows it",
        "64": "published filter counts (AlexNet single-tower, VGG stages, VGG-7) that the models "
        "define",
        "96": "the original AlexNet's filter counts (Krizhevsky et al. 2012), cited",
        "128": "published filter counts (VGG stages, VGG-7) and the printed '+ 128' being quoted",
        "384": "AlexNet's published filter counts",
        "4,096": "VGG-7's definition: 4 × 4 × 256 inputs to its FC layer",
    },
    "04_batchnorm/batchnorm.ipynb": {
        "25": "definitions: the cell's largest input scale is 5 (variance 25), and 1/m for m = 4",
    },
    "05_resnet_densenet/resnet_densenet.ipynb": {
        "28": "the MNIST image size (a definition of the data)",
        "16": "SmallResNet's definition (8 then 16 channels, He et al.'s CIFAR design)",
        "100": "He et al. (2016, identity mappings): their networks of 110 and 1001 layers, cited",
        "128": "ResNet's published stage widths",
        "512": "ResNet's published stage widths",
    },
    "06_autoencoders_dncnn/autoencoders.ipynb": {
        "28": "the MNIST image size (a definition of the data)",
        "196": "7 × 7 × 4, arithmetic on the definitions in the same sentence",
        "1,568": "7 × 7 × 32, arithmetic on the definitions in the same sentence",
    },
    "06_autoencoders_dncnn/dncnn.ipynb": {
        "0.9": "DnCNN's patch scales (Zhang et al. 2017), which course_utils.patches defines",
        "0.8": "DnCNN's patch scales (Zhang et al. 2017), which course_utils.patches defines",
        "0.7": "DnCNN's patch scales (Zhang et al. 2017), which course_utils.patches defines",
        "0.6": "the paper's published margin over BM3D (Zhang et al. 2017), cited",
        "1,600": "DnCNN-S's published training set size (Zhang et al. 2017), cited",
    },
    "08_training/training.ipynb": {
        "224": "AlexNet's published crop size (Krizhevsky et al. 2012), cited",
        "90": "the definition of calibration, illustrated (confidence 0.9 means 90 % right)",
    },
}

ROLE = re.compile(r"\{[a-z:]+\}`[^`]*`")
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|```\{math\}.*?```", re.S)
FENCE = re.compile(r"```.*?```|~~~.*?~~~", re.S)
INLINE_CODE = re.compile(r"`[^`]*`")
LINK_TARGET = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+")
LABEL = re.compile(r"^\([\w-]+\)=\s*$", re.M)
# a number that is not part of a name (ResNet-50, conv5_3, BM3D, VGG16) or of a longer number
NUMBER = re.compile(r"(?<![\w.\-/])\d+(?:,\d{3})*(?:\.\d+)?(?![\w/]|\.\d)")


def prose(markdown: str) -> str:
    for pattern in (FENCE, MATH, ROLE, INLINE_CODE, LINK_TARGET, LABEL):
        markdown = pattern.sub(" ", markdown)
    return markdown


def numbers_in(markdown: str) -> list[tuple[str, str]]:
    """(number, the sentence around it) for every number in the prose of ``markdown``."""
    text = prose(markdown)
    found = []
    for match in NUMBER.finditer(text):
        start, end = max(0, match.start() - 60), match.end() + 40
        found.append((match.group(), " ".join(text[start:end].split())))
    return found


def is_count_or_year(number: str) -> bool:
    if not re.fullmatch(r"\d+", number):
        return False
    value = int(number)
    return value <= 12 or (len(number) == 4 and 1900 <= value <= 2030)


def code_literals(notebook) -> set[float]:
    """The value of every numeric literal in the notebook's code cells (``2e-3`` and ``0.002``
    alike)."""
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    literals = re.findall(r"(?<![\w.])\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?", code)
    return {float(literal.replace("_", "")) for literal in literals}


def is_assignment_section(cell) -> bool:
    return bool(re.search(r"^#+ Assignment \d", cell.source, re.M))


def untraced_numbers(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    literals = code_literals(notebook)
    allowed = ALLOWED.get(str(path.relative_to(REPO / "book")), {})
    problems = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown" or is_assignment_section(cell):
            continue
        for number, sentence in numbers_in(cell.source):
            bare = number.replace(",", "")
            if is_count_or_year(bare) or float(bare) in literals or number in allowed:
                continue
            problems.append(f"{number!r} in “…{sentence}…”")
    return problems


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_prose_numbers_are_glued_defined_or_cited(path):
    problems = untraced_numbers(path)
    assert not problems, (
        f"{path.relative_to(REPO)}: numbers typed into the prose that the notebook neither glues "
        "nor defines in code (glue the computed value, or, for a definition or citation, add it "
        "to ALLOWED with the reason):\n  " + "\n  ".join(problems)
    )


def test_allow_list_names_existing_pages_and_numbers():
    for page, numbers in ALLOWED.items():
        path = REPO / "book" / page
        assert path.is_file(), f"ALLOWED names {page}, which is not a lecture notebook"
        notebook = nbformat.read(path, as_version=4)
        written = {
            number
            for cell in notebook.cells
            if cell.cell_type == "markdown"
            for number, _ in numbers_in(cell.source)
        }
        stale = sorted(set(numbers) - written)
        assert not stale, f"ALLOWED[{page!r}] lists numbers the page no longer writes: {stale}"


def test_the_check_finds_a_typed_result_and_ignores_glue_math_and_names():
    found = [
        n
        for n, _ in numbers_in(
            "Accuracy reached 93.5 % after {glue:text}`epochs` epochs on ResNet-50 with $y = 2x "
            "+ 13$, see `lr = 0.125` and [the 2014 paper](https://example.org/1234)."
        )
    ]
    assert found == ["93.5", "2014"], found  # a link's text is prose, its target is not
    assert is_count_or_year("2014") and is_count_or_year("3") and not is_count_or_year("13")
    assert not is_count_or_year("93.5") and not is_count_or_year("1,797".replace(",", ""))
