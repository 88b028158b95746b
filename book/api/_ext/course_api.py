"""Sphinx extension for the course_utils reference (book/api/), book build only.

napoleon reads the first line of a constant's docstring as ``type: description``, so a
comment such as ``#: VGG configurations (table 1): channels ...`` would show everything
before the colon as the constant's type, and nitpicky mode would look that "type" up.
The course documents its constants in prose, not in that convention. Before napoleon
sees such a docstring, its first line is broken after the colon: napoleon finds no type
in a line that ends with its colon, and the paragraph reads as written.
Listed under ``sphinx.local_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

from typing import Any

from sphinx.ext.napoleon import Config
from sphinx.ext.napoleon.docstring import GoogleDocstring

NAPOLEON_PRIORITY = 500  # Sphinx's default; napoleon connects with it


def split_after_type_colon(line: str) -> list[str]:
    """``"A: B"`` as ``["A:", "B"]``, at the colon napoleon would take for a type's."""
    parser = GoogleDocstring([], Config(), what="function")
    before, colon, after = parser._partition_field_on_colon(line)
    if not colon or not after:
        return [line]
    return [f"{before}{colon}", after]


def keep_constant_docstrings(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what in ("data", "attribute") and lines:
        lines[:1] = split_after_type_colon(lines[0])


def setup(app: Any) -> dict[str, Any]:
    app.connect(
        "autodoc-process-docstring",
        keep_constant_docstrings,
        priority=NAPOLEON_PRIORITY - 100,
    )
    return {"parallel_read_safe": True, "parallel_write_safe": True}
