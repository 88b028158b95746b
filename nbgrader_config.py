"""nbgrader configuration of the course (instructor and student Validate alike).

Layout: solutions/<chapter>/<chapter>.ipynb are the source notebooks; exercises/ is what
`nbgrader generate_assignment <chapter> --force` makes from them.
"""

from course_utils.grading.kernel import kernel_arguments

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "cnn-image-processing"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# PyTorch cells (imports, a few optimisation steps) need more than nbgrader's default 30 s;
# a cell that runs longer is interrupted and the rest of the notebook is still graded.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# nbgrader zeroes a test cell that wrote to stderr: send warnings to stdout instead.
c.Execute.extra_arguments = kernel_arguments()

# Run All in a release notebook goes on past an unanswered part: answer and test cells of the
# release (not of the source) get the `raises-exception` tag. Grading runs every cell anyway.
c.GenerateAssignment.preprocessors.append("course_utils.grading.release.ContinueRunAll")

# Publishing through nbgrader's exchange (JupyterHub's Assignment List) needs the exchange's
# folder, shared by instructors and students: set it here and in each student's
# ~/.jupyter/nbgrader_config.py (book/instructors/grading.md, "Publishing an assignment").
# c.Exchange.root = "/srv/nbgrader/exchange"

# A student who deletes a test cell gets it back (and graded) instead of "needs manual grade".
c.OverwriteCells.add_missing_cells = True

# Feedback must not reveal hidden tests: nbgrader's default feedback shows them, and even
# with ClearHiddenTests a failed hidden assertion shows its source line in the traceback.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "course_utils.grading.feedback.HiddenTestTracebacks",
    "course_utils.grading.feedback.TestCellsClearHiddenTests",
]
