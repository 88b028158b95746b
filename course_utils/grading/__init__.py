"""Grading support for instructors (nbgrader runs the assignments; this makes it safe).

:mod:`course_utils.grading.kernel` is loaded into every kernel nbgrader starts (see
``nbgrader_config.py``) so that a warning cannot zero a correct answer.
"""
