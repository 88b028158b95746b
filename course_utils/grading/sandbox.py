"""Resource limits for the kernels that run student code (instructor grading).

Every submission runs in its own kernel, started through this module instead of
``ipykernel_launcher`` directly: :func:`main` lowers the kernel's limits on memory
(``RLIMIT_DATA``: the heap and every private mapping, which is where arrays and tensors
live) and on CPU time (``RLIMIT_CPU``), then becomes the ordinary IPython kernel. A memory
bomb therefore gets a ``MemoryError`` (or the kernel dies), a runaway computation is
killed by the kernel's CPU limit, and neither touches the grader or other submissions.

This is resource control, not a security boundary: the kernel runs as the instructor's
user, can read any file that user can read and can write outside its working copy by
absolute path. The instructor page of the book lists what it does not protect against.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

GIB = 1024**3


@dataclass(frozen=True)
class Limits:
    """Per-submission limits (all positive).

    cell_timeout_s: wall time one cell may run before it is interrupted (the rest of the
        notebook is still graded).
    cpu_s: CPU seconds the kernel may use in total; past it the kernel is killed.
    memory_bytes: memory the kernel may allocate (heap and private mappings).
    submission_timeout_s: wall time for grading one submission, kernel start to feedback.
    """

    cell_timeout_s: int = 120
    cpu_s: int = 600
    memory_bytes: int = 4 * GIB
    submission_timeout_s: int = 1200

    def __post_init__(self) -> None:
        for name in ("cell_timeout_s", "cpu_s", "memory_bytes", "submission_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")


def write_kernel_spec(jupyter_dir: Path, limits: Limits) -> Path:
    """Write a ``python3`` kernel spec under ``jupyter_dir/kernels`` that starts limited kernels.

    Put ``jupyter_dir`` first on ``JUPYTER_PATH``: notebooks ask for the ``python3`` kernel
    and Jupyter takes the first spec of that name it finds.
    """
    spec_dir = jupyter_dir / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "course_utils.grading.sandbox",
            str(limits.memory_bytes), str(limits.cpu_s), "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
            "metadata": {"debugger": False}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def apply_limits(memory_bytes: int, cpu_s: int) -> None:
    """Lower this process's memory and CPU limits (never raise them above the current hard limit)."""
    for which, soft, hard_extra in ((resource.RLIMIT_DATA, memory_bytes, 0), (resource.RLIMIT_CPU, cpu_s, 5)):
        _, hard = resource.getrlimit(which)
        wanted_hard = soft + hard_extra
        if hard != resource.RLIM_INFINITY:
            soft, wanted_hard = min(soft, hard), min(wanted_hard, hard)
        # past the soft CPU limit the kernel gets SIGXCPU (fatal); the hard limit is the SIGKILL backstop
        resource.setrlimit(which, (soft, wanted_hard))


def main(argv: list[str] | None = None) -> None:
    """``python -m course_utils.grading.sandbox MEMORY_BYTES CPU_S KERNEL_ARGS...``"""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or not args[0].isdigit() or not args[1].isdigit():
        raise SystemExit("usage: python -m course_utils.grading.sandbox MEMORY_BYTES CPU_SECONDS [kernel arguments...]")
    apply_limits(int(args[0]), int(args[1]))
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *args[2:]])


if __name__ == "__main__":
    main()
