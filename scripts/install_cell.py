"""Write the install cell that opens every lecture, from _config.yml.

A lecture opened outside the course's environment (Colab, a downloaded
notebook) lacks ``course_utils``; its first code cell installs the package
from the course repository. The repository URL lives in one place,
``repository.url`` in ``_config.yml`` (the launch buttons use it too), and
the package name in ``pyproject.toml``. After changing either, run

    python scripts/install_cell.py          # rewrite the cell everywhere
    python scripts/install_cell.py --check  # exit 1 if a notebook is stale

tests/test_launch_api.py checks the cells and runs one in a kernel.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import nbformat
import yaml

REPO = Path(__file__).resolve().parent.parent
CELL_ID = "colab-setup"
# The cell's first line: how the cell is found in notebooks older than
# nbformat 4.5, whose cells have no ids.
FIRST_LINE = (
    "# Running this outside the course (e.g. on Colab)?"
    " Install its library."
)
# Extras the lectures need beyond the core (optional-dependencies).
EXTRAS = "book"


def repository_url() -> str:
    """The course repository: ``repository.url`` in ``_config.yml``."""
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    url = (config.get("repository") or {}).get("url", "")
    if not url.startswith("https://"):
        raise ValueError(
            f"_config.yml: repository.url must be an https URL, got {url!r}"
        )
    return url.rstrip("/")


def package_name() -> str:
    """The distribution name in ``pyproject.toml`` (what pip installs)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return pyproject["project"]["name"]


def requirement() -> str:
    """The pip requirement the cell installs, as pip receives it."""
    return f"{package_name()}[{EXTRAS}] @ git+{repository_url()}"


def cell_source() -> str:
    """The install cell: does nothing where ``course_utils`` imports."""
    return "\n".join(
        [
            FIRST_LINE,
            "try:",
            "    import course_utils",
            "except ImportError:",
            f'    course_repo = "{repository_url()}"',
            "    %pip install --quiet"
            f' "{package_name()}[{EXTRAS}] @ git+{{course_repo}}"',
            "    import course_utils",
            'print("course_utils", course_utils.__version__)',
        ]
    )


def lecture_notebooks() -> list[Path]:
    """Every notebook of the book (the lectures)."""
    return sorted((REPO / "book").rglob("*.ipynb"))


def find_install_cell(notebook: nbformat.NotebookNode) -> int | None:
    """Index of the install cell: by id or, without ids, by first line."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("id") == CELL_ID or cell.source.startswith(FIRST_LINE):
            return index
    return None


def first_code_cell(notebook: nbformat.NotebookNode) -> int:
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            return index
    raise ValueError("the notebook has no code cell")


def update(path: Path, check: bool) -> bool:
    """Make the install cell the first code cell; True if it changed."""
    notebook = nbformat.read(path, as_version=4)
    has_ids = (notebook.nbformat, notebook.nbformat_minor) >= (4, 5)
    wanted = cell_source()
    index = find_install_cell(notebook)
    current = notebook.cells[index] if index is not None else None
    in_place = (
        current is not None
        and index == first_code_cell(notebook)
        and current.source == wanted
        and (not has_ids or current.get("id") == CELL_ID)
    )
    if in_place or check:
        return not in_place
    if current is not None:
        notebook.cells.pop(index)
    cell = nbformat.v4.new_code_cell(wanted)
    if has_ids:
        cell["id"] = CELL_ID
    else:
        cell.pop("id", None)
    notebook.cells.insert(first_code_cell(notebook), cell)
    nbformat.write(notebook, path)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="report, change nothing"
    )
    args = parser.parse_args()
    changed = [p for p in lecture_notebooks() if update(p, args.check)]
    for path in changed:
        verb = "out of date" if args.check else "updated"
        print(f"{path.relative_to(REPO)}: install cell {verb}")
    if args.check and changed:
        print("run: python scripts/install_cell.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
