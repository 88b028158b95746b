#!/usr/bin/env bash
# Install everything, then build the book with every notebook executed (offline).
# Executed notebooks are cached in _build/.jupyter_cache: a rebuild only re-runs changed ones.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
unset MPLBACKEND   # kernels inheriting a non-inline backend (e.g. Agg) would draw no figures
jupyter-book build . --all -W -n --keep-going "$@"
echo "The book is at $PWD/_build/html/index.html"
