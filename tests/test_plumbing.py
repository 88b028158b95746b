"""course_utils.grading.kernel and course_utils.sphinx_offline."""

import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

from course_utils import sphinx_offline
from course_utils.grading import kernel


def test_warnings_go_to_stdout_not_stderr(capsys):
    saved = warnings.showwarning
    try:
        kernel.route_warnings_to_stdout()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            kernel_warning = "torch says: this is deprecated"
            warnings.warn(kernel_warning, UserWarning, stacklevel=1)
        out, err = capsys.readouterr()
    finally:
        warnings.showwarning = saved
    assert kernel_warning in out and "UserWarning" in out
    assert err == ""


def test_kernel_exec_line_runs_in_a_fresh_interpreter():
    """The exact line nbgrader passes to each kernel works on its own."""
    code = f"{kernel.KERNEL_EXEC_LINE}\nimport warnings\nwarnings.warn('hello from a kernel')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "hello from a kernel" in result.stdout and result.stderr == ""
    assert kernel.kernel_arguments() == [f"--IPKernelApp.exec_lines={kernel.KERNEL_EXEC_LINE}"]


def test_mathjax_is_configured_from_the_installed_files():
    static = sphinx_offline.mathjax_static_dir()
    assert (static / sphinx_offline.MATHJAX_SCRIPT).stat().st_size > 100_000
    assert (static / "mathjax" / "es5" / "output" / "chtml" / "fonts" / "woff-v2").is_dir(), (
        "CHTML fonts missing"
    )
    config = SimpleNamespace(
        html_static_path=["_static_of_the_book"], mathjax_path="https://cdn.example/mathjax.js"
    )
    sphinx_offline._use_local_mathjax(app=None, config=config)
    assert config.mathjax_path == sphinx_offline.MATHJAX_SCRIPT
    assert config.html_static_path == ["_static_of_the_book", str(static)]
    assert Path(config.html_static_path[-1]).is_dir()
