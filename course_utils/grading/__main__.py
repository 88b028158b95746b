"""``python -m course_utils.grading ASSIGNMENT``: the instructor's grading
command.

See ``--help`` and the book's instructor page. Exit status: 0 when every
submission was graded, 1 when any could not be (each is listed with its
reason), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from course_utils.grading.sandbox import (
    GIB,
    Limits,
    SandboxUnavailable,
    check_sandbox,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grading",
        description="Autograde every submission of an assignment in "
        "sandboxed kernels, in parallel; write feedback "
        "(hidden tests removed), merge grades into the "
        "gradebook and export a CSV with a status per "
        "submission.",
    )
    parser.add_argument(
        "assignment",
        help="assignment name, e.g. 01_convolution (a folder of "
        "solutions/)",
    )
    parser.add_argument(
        "--course",
        type=Path,
        default=Path("."),
        help="course folder with nbgrader_config.py (default: .)",
    )
    parser.add_argument(
        "--zip",
        type=Path,
        help="an LMS download to collect into submitted/ first (nbgrader "
        "zip_collect)",
    )
    parser.add_argument(
        "--zip-regexp",
        help="regular expression with (?P<student_id>...) and "
        "(?P<file_id>...) matched against each file's path in the "
        "archive (default: one folder per student)",
    )
    parser.add_argument(
        "--student",
        action="append",
        dest="students",
        help="grade only this student (repeatable)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="submissions graded at once (default: CPU cores)",
    )
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=Limits.cell_timeout_s,
        help="seconds per cell (default: %(default)s)",
    )
    parser.add_argument(
        "--cpu-limit",
        type=int,
        default=Limits.cpu_s,
        help="CPU seconds per kernel (default: %(default)s)",
    )
    parser.add_argument(
        "--memory-limit",
        type=float,
        default=Limits.memory_bytes / GIB,
        help="GiB per kernel (default: %(default)g)",
    )
    parser.add_argument(
        "--submission-timeout",
        type=int,
        default=Limits.submission_timeout_s,
        help="wall seconds per submission, everything included (default: "
        "%(default)s)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="extra attempts after a kernel died (default: %(default)s)",
    )
    parser.add_argument(
        "--csv",
        type=Path,
        help="where to write the grades (default: "
        "<course>/grades/<assignment>.csv)",
    )
    parser.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run student code without bubblewrap, with resource limits "
        "only: it can then read and write whatever your user can "
        "(the solutions, the gradebook, other submissions)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar"
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.grading``: grade a class; exit status 1
    when a submission was not graded."""
    args = parse_args(argv)
    from course_utils.grading.pipeline import (
        grade_assignment,
        print_summary,
    )
    from course_utils.grading.submissions import (
        FOLDER_PER_STUDENT_REGEXP,
        collect_zip,
    )

    if args.unsafe_no_sandbox:
        print(
            "warning: --unsafe-no-sandbox: student code runs as you, "
            "with resource limits only; it can read the solutions and "
            "hidden tests and change grades. Use it only for code you "
            "trust.",
            file=sys.stderr,
        )
    # a polite kill (SIGTERM) ends the run like Ctrl-C does: the CSV still
    # gets a row per submission
    signal.signal(
        signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum)
    )
    try:
        if not args.unsafe_no_sandbox:
            check_sandbox()  # before collecting or grading anything
        limits = Limits(
            args.cell_timeout,
            args.cpu_limit,
            int(args.memory_limit * GIB),
            args.submission_timeout,
        )
        if args.workers is not None and args.workers < 1:
            raise ValueError(
                f"--workers must be at least 1, got {args.workers}"
            )
        if args.retries < 0:
            raise ValueError(
                f"--retries must be 0 or more, got {args.retries}"
            )
        if args.zip is not None:
            collect_zip(
                args.course.resolve(),
                args.assignment,
                args.zip.resolve(),
                args.zip_regexp or FOLDER_PER_STUDENT_REGEXP,
            )
        csv_path = (
            args.csv
            or args.course.resolve() / "grades" / f"{args.assignment}.csv"
        )
        outcomes = grade_assignment(
            args.course,
            args.assignment,
            workers=args.workers,
            limits=limits,
            retries=args.retries,
            students=args.students,
            csv_path=csv_path,
            progress=not args.quiet,
            sandboxed=not args.unsafe_no_sandbox,
        )
    except (
        ValueError,
        FileNotFoundError,
        RuntimeError,
        SandboxUnavailable,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_summary(outcomes, args.assignment, csv_path)
    return 0 if all(o.graded for o in outcomes) else 1


def cli() -> None:
    """Entry point of the ``course-grade`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
