"""Sphinx extension that makes the book read fully offline (book build
only).

Serves MathJax 3 from the book itself instead of a CDN: the files come from
the ``django-static-mathjax`` wheel (plain static files, no Django needed),
are copied into the build's ``_static/mathjax/`` and ``mathjax_path`` points
there. Listed under ``sphinx.extra_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

MATHJAX_SCRIPT = "mathjax/es5/tex-chtml.js"


def mathjax_static_dir() -> Path:
    """The folder whose ``mathjax/es5/`` holds the MathJax 3
    distribution."""
    static = Path(str(files("mathjax") / "static"))
    if not (static / MATHJAX_SCRIPT).is_file():
        raise RuntimeError(
            f"MathJax 3 not found at {static / MATHJAX_SCRIPT}; install "
            "the pinned 'django-static-mathjax' from requirements.txt"
        )
    return static


def _use_local_mathjax(app: Any, config: Any) -> None:
    config.html_static_path = [
        *config.html_static_path,
        str(mathjax_static_dir()),
    ]
    # relative paths resolve inside _static/
    config.mathjax_path = MATHJAX_SCRIPT


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _use_local_mathjax, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
