"""Grading support for instructors: nbgrader runs the assignments; this
makes it safe.

``python -m course_utils.grading ASSIGNMENT`` (:mod:`.pipeline`,
:mod:`.__main__`) grades a class: it checks and collects submissions
(:mod:`.submissions`), grades each in its own working copy in a worker
process (:mod:`.worker`) whose kernels run in a bubblewrap sandbox with
control-group limits (:mod:`.sandbox`) and bounded output (:mod:`.execute`),
lists suspicious student code for review (:mod:`.review`), merges the grades
into the course gradebook (:mod:`.gradebook`) and writes a CSV with a status
per submission. :mod:`.kernel` (warnings to stdout, and :mod:`.guard`'s
tamper check) and :mod:`.feedback` (no hidden tests in tracebacks) are used
by ``nbgrader_config.py``, so plain nbgrader commands get them too. For
instructors writing assignments, :mod:`.mutation` and :mod:`.hardcoding`
check that the tests catch wrong answers, running notebooks in-process
(:mod:`.inprocess`).
"""
