"""Grading support for instructors: nbgrader runs the assignments; this makes it safe.

``python -m course_utils.grading ASSIGNMENT`` (:mod:`.pipeline`, :mod:`.__main__`) grades a
class: it checks and collects submissions (:mod:`.submissions`), grades each in its own
working copy in a worker process (:mod:`.worker`) whose kernels run under resource limits
(:mod:`.sandbox`), merges the grades into the course gradebook (:mod:`.gradebook`) and
writes a CSV with a status per submission. :mod:`.kernel` (warnings to stdout) and
:mod:`.feedback` (no hidden tests in tracebacks) are used by ``nbgrader_config.py``, so
plain nbgrader commands get them too.
"""
