"""The lectures show the library code they teach, and the library says where it is shown.

A lecture shows a ``course_utils`` class or function with MyST's ``literalinclude`` and
``:pyobject:`` (the source is read from the file at build time, so the page and the library
cannot drift apart)::

    ```{literalinclude} ../../course_utils/resnet.py
    :language: python
    :pyobject: BasicBlock.forward
    ```

This test checks, for every such directive in a markdown cell of ``book/**/*.ipynb``:

1. the file exists and defines the object (read with ``ast``; nothing is imported);
2. the object's docstring says where it is shown, in one sentence that may wrap::

       Shown in :doc:`/book/05_resnet_densenet/resnet_densenet`,
       section "The residual block".

   naming the page (its path without ``.ipynb``) and the text of the nearest ``##`` or
   ``###`` heading above the directive;
3. every line that ``literalinclude`` shows (the ``def``/``class`` line, or its first
   decorator, through the object's last line) fits the book's code column, 76 characters;

and conversely, that every ``Shown in :doc:`` sentence in ``course_utils`` names a directive
that exists, and that each chapter listed in :data:`CHAPTERS_THAT_SHOW_CODE` shows some.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "course_utils"
BOOK = REPO / "book"
CODE_COLUMN = 76  # what a code cell shows at 1280 px ([tool.ruff] line-length in pyproject.toml)

# Chapters that show their library code. Chapter 4's teaching objects (BatchNorm,
# keras_to_torch_momentum) are the answers of assignment 4 line for line, which the book may
# not show (tests/test_book.py, the leak test); its from-scratch training mode is written out
# on the page and checked against both nn.BatchNorm1d/2d and course_utils.batchnorm.BatchNorm.
CHAPTERS_THAT_SHOW_CODE = [
    "01_convolution/convolution",
    "02_architectures/architectures",
    "03_initialization/initialization",
    "05_resnet_densenet/resnet_densenet",
    "06_autoencoders_dncnn/dncnn",
    "07_style_transfer/style_transfer",
    "08_training/training",
    "09_transfer_detection/transfer_detection",
]

# a fenced directive (``` or :::, three or more) with its argument and its option lines
DIRECTIVE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{literalinclude\}[ \t]+(?P<path>\S+)[ \t]*\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:.*\n?)*)"
    r"(?P=fence)[ \t]*$",
    re.MULTILINE,
)
OPTION = re.compile(r"^[ \t]*:(?P<key>[\w-]+):[ \t]*(?P<value>.*?)[ \t]*$", re.MULTILINE)
HEADING = re.compile(r"^(#{2,3})[ \t]+(?P<text>.+?)[ \t]*#*[ \t]*$")
FENCE_LINE = re.compile(r"^[ \t]*(`{3,}|~{3,}|:{3,})")
DEFINITIONS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
SHOWN_IN = re.compile(r'Shown in :doc:`(?P<doc>[^`]+)`, section "(?P<section>[^"]+)"\.')


@dataclass(frozen=True)
class Directive:
    page: str  # the notebook's docname, e.g. /book/05_resnet_densenet/resnet_densenet
    file: Path  # the included file, resolved
    pyobject: str  # e.g. BasicBlock.forward
    section: str  # the nearest ## or ### heading above the directive ("" if none)

    def __str__(self) -> str:
        return (
            f"{self.page} ({self.section!r}): {self.pyobject} from "
            f"{os.path.relpath(self.file, REPO)}"
        )


def docname(notebook: Path) -> str:
    return "/" + notebook.relative_to(REPO).with_suffix("").as_posix()


def directives_in(cells: list[dict], notebook: Path) -> list[Directive]:
    """The ``literalinclude`` directives with ``:pyobject:`` in the markdown ``cells`` of
    ``notebook``."""
    found, section = [], ""
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        headings = []  # (offset, text) of the headings outside code fences
        offset, fenced = 0, False
        for line in text.splitlines(keepends=True):
            if FENCE_LINE.match(line):
                fenced = not fenced
            elif not fenced and (match := HEADING.match(line.rstrip("\n"))):
                headings.append((offset, match["text"]))
            offset += len(line)
        for match in DIRECTIVE.finditer(text):
            options = {m["key"]: m["value"] for m in OPTION.finditer(match["options"])}
            if "pyobject" not in options:
                continue
            above = [title for start, title in headings if start < match.start()]
            found.append(
                Directive(
                    docname(notebook),
                    (notebook.parent / match["path"]).resolve(),
                    options["pyobject"],
                    above[-1] if above else section,
                )
            )
        if headings:
            section = headings[-1][1]
    return found


def book_directives() -> list[Directive]:
    found = []
    for notebook in sorted(BOOK.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in notebook.parts or "_build" in notebook.parts:
            continue
        found += directives_in(json.loads(notebook.read_text())["cells"], notebook)
    return found


def find_object(tree: ast.Module, qualname: str) -> ast.AST | None:
    """The class or function ``qualname`` (``Class.method`` for members) names, as ``:pyobject:``
    finds it."""
    scope: ast.AST = tree
    for part in qualname.split("."):
        if not isinstance(scope, (ast.Module, ast.ClassDef)):
            return None
        scope = next(
            (node for node in scope.body if isinstance(node, DEFINITIONS) and node.name == part),
            None,
        )
        if scope is None:
            return None
    return scope


def shown_span(node: ast.AST) -> tuple[int, int]:
    """First and last line (1-based) that ``literalinclude`` shows: decorators through the end."""
    return min([node.lineno] + [d.lineno for d in node.decorator_list]), node.end_lineno


def shown_in_claims(docstring: str | None) -> list[tuple[str, str]]:
    """``(doc, section)`` of each ``Shown in :doc:`...`, section "..."`` sentence (it may wrap)."""
    return [
        (m["doc"], m["section"]) for m in SHOWN_IN.finditer(" ".join((docstring or "").split()))
    ]


def problems_with(directive: Directive, source: str | None) -> list[str]:
    """What is wrong with one directive, given the included file's text (``None``: no such file)."""
    if source is None:
        return [f"{directive}: the file does not exist"]
    node = find_object(ast.parse(source), directive.pyobject)
    if node is None:
        return [f"{directive}: the file defines no {directive.pyobject}"]
    problems = []
    claims = shown_in_claims(ast.get_docstring(node))
    if (directive.page, directive.section) not in claims:
        wanted = f'Shown in :doc:`{directive.page}`, section "{directive.section}".'
        problems.append(
            f"{directive}: its docstring should say {wanted!r}, says {claims or 'nothing'}"
        )
    first, last = shown_span(node)
    for number, line in enumerate(source.splitlines()[first - 1 : last], first):
        if len(line) > CODE_COLUMN:
            problems.append(
                f"{directive}: line {number} has {len(line)} > {CODE_COLUMN} characters: "
                f"{line.strip()[:60]}"
            )
    return problems


def claims_in(source: str, filename: str) -> list[tuple[str, str, str, str]]:
    """``(filename, qualname, doc, section)`` for each ``Shown in`` sentence in a module's
    docstrings."""
    found = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, DEFINITIONS):
                qualname = prefix + node.name
                claims = shown_in_claims(ast.get_docstring(node))
                found.extend((filename, qualname, doc, section) for doc, section in claims)
                if isinstance(node, ast.ClassDef):
                    visit(node.body, qualname + ".")

    tree = ast.parse(source)
    found.extend(
        (filename, "<module>", doc, section)
        for doc, section in shown_in_claims(ast.get_docstring(tree))
    )
    visit(tree.body, "")
    return found


def unbacked_claims(
    claims: list[tuple[str, str, str, str]], directives: list[Directive]
) -> list[str]:
    """The claims that no directive backs: the page does not include that object there."""
    shown = {
        (d.file.relative_to(REPO).as_posix(), d.pyobject, d.page, d.section)
        for d in directives
        if d.file.is_relative_to(REPO)
    }
    return [
        f"{filename} {qualname}: says it is shown in {doc}, section {section!r}, "
        "but that page does not include it there"
        for filename, qualname, doc, section in claims
        if (filename, qualname, doc, section) not in shown
    ]


def chapters_without_code(directives: list[Directive], chapters: list[str]) -> list[str]:
    pages = {d.page for d in directives}
    return [chapter for chapter in chapters if f"/book/{chapter}" not in pages]


# ---------------------------------------------------------------------------------------------
# the book and the library


DIRECTIVES = book_directives()


def test_the_book_has_directives_to_check():
    assert len(DIRECTIVES) >= len(CHAPTERS_THAT_SHOW_CODE), DIRECTIVES


@pytest.mark.parametrize(
    "directive", DIRECTIVES, ids=lambda d: f"{d.page.split('/')[-1]}:{d.pyobject}"
)
def test_each_shown_object_exists_says_where_and_fits_the_column(directive):
    source = directive.file.read_text() if directive.file.is_file() else None
    assert directive.file.is_relative_to(REPO), (
        f"{directive}: includes a file outside the repository"
    )
    problems = problems_with(directive, source)
    assert not problems, "\n".join(problems)


def test_every_shown_in_sentence_is_backed_by_a_directive():
    claims = [
        claim
        for path in sorted(PACKAGE.rglob("*.py"))
        for claim in claims_in(path.read_text(), path.relative_to(REPO).as_posix())
    ]
    assert claims, "no course_utils docstring says where it is shown"
    problems = unbacked_claims(claims, DIRECTIVES)
    assert not problems, "\n".join(problems)


def test_each_listed_chapter_shows_library_code():
    for chapter in CHAPTERS_THAT_SHOW_CODE:
        assert (BOOK / f"{chapter}.ipynb").is_file(), (
            f"CHAPTERS_THAT_SHOW_CODE lists a missing page: {chapter}"
        )
    missing = chapters_without_code(DIRECTIVES, CHAPTERS_THAT_SHOW_CODE)
    assert not missing, f"these chapters show no library code with literalinclude: {missing}"


def test_the_span_is_the_one_sphinx_includes():
    """``shown_span`` agrees with Sphinx's own ``:pyobject:`` lookup for every shown object."""
    analyzer = pytest.importorskip("sphinx.pycode").ModuleAnalyzer
    for directive in DIRECTIVES:
        source = directive.file.read_text()
        tag = analyzer.for_string(source, "shown").find_tags()[directive.pyobject]
        assert tag[1:] == shown_span(find_object(ast.parse(source), directive.pyobject)), directive


# ---------------------------------------------------------------------------------------------
# each check can fail

PAGE = REPO / "book" / "99_sample" / "sample.ipynb"
SAMPLE_CELLS = [
    {"cell_type": "markdown", "source": "# Sample\n\n## First section\n\nText.\n"},
    {"cell_type": "code", "source": "## not a heading: a comment in code\n"},
    {
        "cell_type": "markdown",
        "source": [
            "Still in the first section:\n",
            "\n",
            "```{literalinclude} ../../course_utils/sample.py\n",
            ":language: python\n",
            ":pyobject: Block.forward\n",
            "```\n",
            "\n",
            "### A subsection\n",
            "\n",
            "```python\n",
            "## a comment in a code fence, not a heading\n",
            "```\n",
            "\n",
            ":::{literalinclude} ../../course_utils/sample.py\n",
            ":pyobject: helper\n",
            ":::\n",
            "\n",
            "```{literalinclude} ../../course_utils/sample.py\n",
            ":lines: 1-3\n",
            "```\n",
        ],
    },
]
SAMPLE_SOURCE = '''
class Block:
    """A block."""

    def forward(self, x):
        """Adds one.

        Shown in :doc:`/book/99_sample/sample`,
        section "First section".
        """
        return x + 1


@staticmethod
def helper(x):
    """Shown in :doc:`/book/99_sample/sample`, section "A subsection"."""
    return x
'''


def sample_directive(pyobject: str, section: str) -> Directive:
    return Directive("/book/99_sample/sample", PACKAGE / "sample.py", pyobject, section)


def test_the_parser_finds_directives_and_their_sections():
    assert directives_in(SAMPLE_CELLS, PAGE) == [
        sample_directive("Block.forward", "First section"),
        sample_directive("helper", "A subsection"),
    ]


def test_a_correct_sample_passes():
    for directive in directives_in(SAMPLE_CELLS, PAGE):
        assert problems_with(directive, SAMPLE_SOURCE) == []
    claims = claims_in(SAMPLE_SOURCE, "course_utils/sample.py")
    assert len(claims) == 2 and unbacked_claims(claims, directives_in(SAMPLE_CELLS, PAGE)) == []


def test_a_missing_file_fails():
    assert (
        "the file does not exist"
        in problems_with(sample_directive("helper", "A subsection"), None)[0]
    )


def test_a_missing_object_fails():
    assert (
        "defines no Block.backward"
        in problems_with(sample_directive("Block.backward", "First section"), SAMPLE_SOURCE)[0]
    )
    # a method is found through its class only
    assert (
        "defines no forward"
        in problems_with(sample_directive("forward", "First section"), SAMPLE_SOURCE)[0]
    )


@pytest.mark.parametrize(
    "old, new",
    [
        ('section "First section"', 'section "A subsection"'),  # another section
        ("/book/99_sample/sample`", "/book/99_sample/other`"),  # another page
        ("Shown in :doc:", "Seen in :doc:"),  # no sentence at all
    ],
)
def test_a_wrong_or_missing_shown_in_sentence_fails(old, new):
    problems = problems_with(
        sample_directive("Block.forward", "First section"), SAMPLE_SOURCE.replace(old, new)
    )
    assert len(problems) == 1 and "its docstring should say" in problems[0], problems


def test_a_long_line_fails_and_the_decorator_counts():
    long_body = SAMPLE_SOURCE.replace("return x + 1", "return x + " + "1 + " * 20 + "1")
    problems = problems_with(sample_directive("Block.forward", "First section"), long_body)
    assert len(problems) == 1 and "> 76 characters" in problems[0], problems
    long_decorator = SAMPLE_SOURCE.replace(
        "@staticmethod", "@staticmethod" + " " * 70 + "# a long decorator line"
    )
    problems = problems_with(sample_directive("helper", "A subsection"), long_decorator)
    assert len(problems) == 1 and "> 76 characters" in problems[0], problems


def test_a_shown_in_sentence_without_its_directive_fails():
    claims = claims_in(SAMPLE_SOURCE, "course_utils/sample.py")
    only_the_first = directives_in(SAMPLE_CELLS, PAGE)[:1]
    problems = unbacked_claims(claims, only_the_first)
    assert len(problems) == 1 and problems[0].startswith("course_utils/sample.py helper:"), problems


def test_a_chapter_without_directives_fails():
    directives = directives_in(SAMPLE_CELLS, PAGE)
    assert chapters_without_code(directives, ["99_sample/sample"]) == []
    assert chapters_without_code(directives, ["99_sample/sample", "98_other/other"]) == [
        "98_other/other"
    ]
