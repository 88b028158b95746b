"""Launch buttons, the Binder environment, the lectures' install cell and the API reference.

The course repository's URL is set once, ``repository.url`` in ``_config.yml``: the launch
buttons (Binder, JupyterHub via nbgitpuller, Colab) are built from it, and each lecture's
first code cell installs ``course_utils`` from it (``scripts/install_cell.py`` writes that
cell). What these tests cannot do offline: build the Binder image (repo2docker and the
network), open Colab, clone from GitHub, or download the dependencies; they check the links
in a built page, the environment files against the pins, the cell in a real kernel, and
what pip makes of the cell's requirement (a ``git+file://`` copy of this working tree).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pkgutil
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import course_utils
from nbgrader_course import REPO, nbgrader_env

CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
API = REPO / "book" / "api"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


install_cell = load_script("install_cell")


def repository() -> tuple[str, str]:
    repo = CONFIG["repository"]
    return repo["url"].rstrip("/"), repo["branch"]


def lecture_notebooks() -> list[Path]:
    """The notebook pages of the book's table of contents."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())

    def files(entries):
        for entry in entries:
            yield entry["file"]
            yield from files(entry.get("sections", []))

    pages = [page for part in toc["parts"] for page in files(part["chapters"])]
    return [REPO / f"{page}.ipynb" for page in pages if (REPO / f"{page}.ipynb").is_file()]


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of a pip requirements file, following ``-r`` includes the way pip
    does (relative to the including file); every requirement must be an exact pin."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            found.update(pins(path.parent / line.split(maxsplit=1)[1]))
            continue
        if line.startswith("-"):
            continue  # index options such as --extra-index-url
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", (
            f"{path}: not an exact pin: {line}"
        )
        found[canonicalize_name(requirement.name)] = specifiers[0].version
    return found


def installed_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


# --- the repository URL and the launch buttons -------------------------------------------


def test_repository_and_launch_providers_are_configured():
    url, branch = repository()
    parsed = urlparse(url)
    assert parsed.scheme == "https" and parsed.netloc == "github.com", (
        "repository.url must be a GitHub https URL (Binder's gh provider and Colab need one), "
        f"got {url}"
    )
    assert len(parsed.path.strip("/").split("/")) == 2, (
        f"repository.url must be github.com/<org>/<repo>, got {url}"
    )
    assert branch, "repository.branch is empty"
    buttons = CONFIG["launch_buttons"]
    assert buttons["binderhub_url"] == "https://mybinder.org"
    assert buttons["colab_url"] == "https://colab.research.google.com"
    assert urlparse(buttons["jupyterhub_url"]).scheme == "https", (
        "launch_buttons.jupyterhub_url: an https hub URL"
    )
    assert buttons["notebook_interface"] == "jupyterlab"


def test_every_install_command_uses_the_configured_repository():
    """Any ``git+https://`` install in the repository's docs and notebooks names repository.url."""
    url, _ = repository()
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    wrong = []
    for name in tracked:
        path = REPO / name
        if (
            path.suffix not in {".md", ".ipynb", ".py", ".txt", ".yml", ".toml", ".sh"}
            or not path.is_file()
        ):
            continue
        if path == Path(__file__):
            continue
        for found in re.findall(r"git\+(https://[^\s\"'`)\\]+)", path.read_text(errors="replace")):
            if found.split("@")[0].removesuffix(".git").rstrip("/") != url:
                wrong.append(f"{name}: {found}")
    assert not wrong, f"install URLs that are not _config.yml's repository.url ({url}): {wrong}"


@pytest.fixture(scope="module")
def chapter_html(tmp_path_factory) -> tuple[str, str]:
    """One chapter page built by jupyter-book from the repository's root with its
    configuration, as the only page of the table of contents and without executing it (the
    buttons do not depend on outputs): (page, html)."""
    page = lecture_notebooks()[0].relative_to(REPO).with_suffix("")
    out = tmp_path_factory.mktemp("launch-page")
    config = dict(CONFIG, execute={**CONFIG["execute"], "execute_notebooks": "off"})
    local = config.get("sphinx", {}).get("local_extensions") or {}
    config["sphinx"] = dict(
        config["sphinx"], local_extensions={k: str(REPO / v) for k, v in local.items()}
    )
    (out / "_config.yml").write_text(yaml.safe_dump(config))
    (out / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": page.as_posix()}))
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyter-book"),
            "build",
            ".",
            "--config",
            str(out / "_config.yml"),
            "--toc",
            str(out / "_toc.yml"),
            "--path-output",
            str(out),
        ],
        cwd=REPO,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    html_file = out / "_build" / "html" / f"{page}.html"
    assert result.returncode == 0 and html_file.is_file(), (
        f"building {page} failed:\n{(result.stdout + result.stderr)[-3000:]}"
    )
    return page.as_posix(), html_file.read_text()


def test_chapter_page_launches_binder_jupyterhub_and_colab(chapter_html):
    from bs4 import BeautifulSoup

    page, html = chapter_html
    url, branch = repository()
    org, name = urlparse(url).path.strip("/").split("/")
    notebook = f"{page}.ipynb"
    links = [a["href"] for a in BeautifulSoup(html, "html.parser").select("a[href]")]
    buttons = CONFIG["launch_buttons"]

    binder = [link for link in links if link.startswith(buttons["binderhub_url"])]
    assert binder == [
        f"https://mybinder.org/v2/gh/{org}/{name}/{branch}?urlpath=lab/tree/{notebook}"
    ], binder

    colab = [link for link in links if link.startswith(buttons["colab_url"])]
    assert colab == [
        f"https://colab.research.google.com/github/{org}/{name}/blob/{branch}/{notebook}"
    ], colab

    hub = [urlparse(link) for link in links if link.startswith(buttons["jupyterhub_url"])]
    assert len(hub) == 1, f"{page}: no JupyterHub button: {links}"
    assert hub[0].path == "/hub/user-redirect/git-pull", hub[0]
    query = {key: values[0] for key, values in parse_qs(hub[0].query).items()}
    # nbgitpuller clones into a folder named after the repository, then opens the notebook in it
    assert query == {"repo": url, "branch": branch, "urlpath": f"lab/tree/{name}/{notebook}"}, query


# --- Binder --------------------------------------------------------------------------------


def test_binder_installs_the_pinned_requirements_and_the_course():
    binder = REPO / "binder"
    # repo2docker: a binder/ folder replaces the root's files; environment.yml or a Dockerfile
    # there would take precedence over requirements.txt
    for overriding in ("environment.yml", "environment.yaml", "Dockerfile"):
        assert not (binder / overriding).exists(), (
            f"binder/{overriding} would override binder/requirements.txt"
        )
    assert pins(binder / "requirements.txt") == pins(REPO / "requirements.txt"), (
        "binder/requirements.txt must install exactly the pins of requirements.txt"
    )
    runtime = (binder / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    requires = PYPROJECT["project"]["requires-python"]
    from packaging.specifiers import SpecifierSet

    assert runtime.removeprefix("python-") in SpecifierSet(requires), (
        f"{runtime} vs requires-python {requires}"
    )
    post_build = binder / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    commands = [line for line in post_build.read_text().splitlines() if "pip install" in line]
    assert len(commands) == 1 and commands[0].split()[-1] == "." and "--no-deps" in commands[0], (
        commands
    )


# --- the install cell ----------------------------------------------------------------------


def test_every_lecture_starts_with_the_install_cell():
    wanted = install_cell.cell_source()
    for path in lecture_notebooks():
        notebook = nbformat.read(path, as_version=4)
        first = next(cell for cell in notebook.cells if cell.cell_type == "code")
        name = path.relative_to(REPO)
        assert first.source == wanted, (
            f"{name}: first code cell is not the install cell (run scripts/install_cell.py)"
        )
        if (notebook.nbformat, notebook.nbformat_minor) >= (4, 5):
            assert first.get("id") == install_cell.CELL_ID, (
                f"{name}: install cell id {first.get('id')!r}"
            )
        assert not first.get("outputs"), f"{name}: notebooks are stored without outputs"


RECORDER = """
import sys
from IPython.core.magic import register_line_magic

pip_calls = []


@register_line_magic
def pip(line):
    pip_calls.append(line)
    sys.modules.pop("course_utils", None)  # as if pip had installed it
"""


def test_install_cell_in_a_kernel_installs_only_when_course_utils_is_missing():
    """In a real kernel, with IPython's %pip replaced by a recorder: nothing is installed
    where course_utils imports; where it does not, pip gets the course's requirement."""
    from nbclient import NotebookClient

    cell = install_cell.cell_source()
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(RECORDER),
            nbformat.v4.new_code_cell(cell),
            nbformat.v4.new_code_cell("print(repr(pip_calls))"),
            nbformat.v4.new_code_cell('sys.modules["course_utils"] = None  # not installed'),
            nbformat.v4.new_code_cell(cell),
            nbformat.v4.new_code_cell("print(repr(pip_calls))"),
        ]
    )
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": "/"}}
    ).execute()

    def text(index):
        return "".join(
            o.get("text", "") for o in notebook.cells[index].outputs if o.output_type == "stream"
        )

    assert text(1).strip() == f"course_utils {course_utils.__version__}", text(1)
    assert ast.literal_eval(text(2)) == [], (
        "the install cell called pip although course_utils imports"
    )
    calls = ast.literal_eval(text(5))
    assert len(calls) == 1, calls
    arguments = shlex.split(calls[0])
    assert arguments[0] == "install", arguments
    requirement = Requirement(arguments[-1])
    url, _ = repository()
    assert canonicalize_name(requirement.name) == canonicalize_name(PYPROJECT["project"]["name"]), (
        requirement
    )
    assert requirement.url == f"git+{url}", (
        f"installs from {requirement.url}, _config.yml says {url}"
    )
    assert requirement.extras == {install_cell.EXTRAS}, requirement.extras
    assert text(4).strip() == f"course_utils {course_utils.__version__}", text(4)


def test_the_install_requirement_resolves_to_this_package_and_the_pins(tmp_path):
    """pip resolves the cell's requirement (the repository as a ``git+file://`` clone of this
    working tree instead of GitHub): the package, its version and the extra the cell asks
    for; every dependency it then pulls in is satisfied by the course's environment, built
    from requirements.txt (its pin, or the version the pins brought in). Dependencies are
    not downloaded (--dry-run --no-deps)."""
    git = shutil.which("git")
    assert git, "git is needed to check the git+ requirement"
    clone = tmp_path / "course"
    files = subprocess.run(
        [git, "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    commit = ["-c", "user.name=test", "-c", "user.email=test@example.org"]
    for command in (["init", "-q"], ["add", "-A"], [*commit, "commit", "-qm", "snapshot"]):
        subprocess.run([git, *command], cwd=clone, check=True, capture_output=True)

    url, _ = repository()
    wanted = install_cell.requirement()
    assert wanted.endswith(f"git+{url}"), wanted
    local = wanted.replace(f"git+{url}", f"git+{clone.as_uri()}")
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--no-build-isolation",
            "--ignore-installed",
            "--no-index",
            "--quiet",
            "--report",
            str(report),
            local,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (installed,) = json.loads(report.read_text())["install"]
    metadata = installed["metadata"]
    assert (
        metadata["name"] == PYPROJECT["project"]["name"]
        and metadata["version"] == course_utils.__version__
    )
    assert installed["download_info"]["vcs_info"]["vcs"] == "git"
    extras = set(Requirement(wanted).extras)
    missing = extras - set(metadata.get("provides_extra", []))
    assert not missing, (
        f"pyproject.toml declares no {sorted(missing)} extra that the install cell asks for"
    )

    pinned = pins(REPO / "requirements.txt")
    unpinned, unsatisfied = [], []
    for line in metadata.get("requires_dist", []):
        requirement = Requirement(line)
        if requirement.marker and not any(
            requirement.marker.evaluate({"extra": e}) for e in extras | {""}
        ):
            continue
        version = pinned.get(canonicalize_name(requirement.name)) or installed_version(
            requirement.name
        )
        if version is None:
            unpinned.append(line)
        elif not requirement.specifier.contains(version, prereleases=True):
            unsatisfied.append(f"{line} (pinned {version})")
    assert not unpinned, (
        f"dependencies that requirements.txt neither pins nor brings in: {unpinned}"
    )
    assert not unsatisfied, f"dependencies the pins do not satisfy: {unsatisfied}"


# --- the API reference ---------------------------------------------------------------------

# Instructor commands (python -m ...) documented from course_utils.grading; the rest of the
# package is internal, as is the book-build extension.
GRADING_COMMANDS = {
    "course_utils.grading.__main__",
    "course_utils.grading.mutation",
    "course_utils.grading.hardcoding",
}
NOT_DOCUMENTED = {"course_utils.grading", "course_utils.sphinx_offline"}


def public_modules() -> set[str]:
    found = {
        f"course_utils.{m.name}"
        for m in pkgutil.iter_modules(course_utils.__path__)
        if not m.name.startswith("_")
    }
    return (found - NOT_DOCUMENTED) | GRADING_COMMANDS


def reference_sections() -> dict[str, tuple[Path, str]]:
    """``module -> (page, section text)`` for every ``automodule`` in book/api/."""
    sections = {}
    for page in sorted(API.glob("*.md")):
        for section in re.split(r"^## ", page.read_text(), flags=re.MULTILINE)[1:]:
            for module in re.findall(r"^\.\. automodule:: (\S+)", section, flags=re.MULTILINE):
                assert module not in sections, f"{module} documented twice"
                sections[module] = (page, section)
    return sections


def imported_modules(notebook: Path) -> set[str]:
    """course_utils modules a notebook imports (IPython syntax turned into Python first)."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    found = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(transform(cell.source))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
                if node.module == "course_utils":
                    found |= {f"course_utils.{alias.name}" for alias in node.names}
                else:
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("course_utils.")}
    return found


def test_every_public_module_is_in_the_reference():
    documented = set(reference_sections())
    missing = public_modules() - documented
    assert not missing, f"modules without a section in book/api/*.md: {sorted(missing)}"
    assert not documented - public_modules(), (
        f"book/api documents internals: {sorted(documented - public_modules())}"
    )


def test_reference_pages_are_in_the_toc():
    toc = (REPO / "_toc.yml").read_text()
    missing = [p.stem for p in API.glob("*.md") if f"book/api/{p.stem}\n" not in toc]
    assert not missing, f"book/api pages missing from _toc.yml: {missing}"


def test_each_module_links_to_the_chapters_that_use_it():
    """A section links to at least one page of the book, and to every lecture that imports it."""
    importers = {}
    for notebook in lecture_notebooks():
        for module in imported_modules(notebook):
            importers.setdefault(module, set()).add(
                notebook.relative_to(REPO).with_suffix("").as_posix()
            )
    toc = (REPO / "_toc.yml").read_text()
    for module, (page, section) in reference_sections().items():
        linked = set()
        for target in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", section):
            resolved = (page.parent / target).resolve().relative_to(REPO).as_posix()
            assert f"file: {resolved}\n" in toc, (
                f"{page.name}, {module}: links to {target}, not a page of the book"
            )
            linked.add(resolved)
        assert linked, f"{page.name}: {module} links to no chapter"
        unlinked = importers.get(module, set()) - linked
        assert not unlinked, (
            f"{page.name}: {module} is imported by {sorted(unlinked)}, which its section does not "
            "link"
        )


def test_constant_docstrings_keep_their_text_through_napoleon():
    """book/api/_ext/course_api.py: a constant documented as "A: B" gets no type "A"."""
    from sphinx.ext.napoleon import Config
    from sphinx.ext.napoleon.docstring import GoogleDocstring

    sys.path.insert(0, str(API / "_ext"))
    try:
        from course_api import split_after_type_colon
    finally:
        sys.path.remove(str(API / "_ext"))
    docstring = ["VGG configurations (table 1): channels of 3x3 convs, then pools", ""]
    plain = GoogleDocstring(docstring, Config(), what="data", name="x.VGG").lines()
    assert any(line.startswith(":type:") for line in plain), (
        "napoleon no longer reads an inline type"
    )
    kept = GoogleDocstring(
        split_after_type_colon(docstring[0]) + docstring[1:], Config(), what="data", name="x.VGG"
    ).lines()
    assert not any(line.startswith(":type:") for line in kept), kept
    assert " ".join(kept).split() == docstring[0].split(), kept
