#!/usr/bin/env bash
# Install everything, then run the whole test suite: unit tests, notebooks (nbval),
# assignment soundness with nbgrader, the strict book build and the offline browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"   # nbgrader runs `alembic` and kernels by name
exec python -m pytest "$@"
