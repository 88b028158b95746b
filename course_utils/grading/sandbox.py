"""The sandbox that every graded kernel runs in (instructor grading).

nbgrader starts a kernel per submission through the ``python3`` kernel spec
that :func:`write_kernel_spec` writes; its command is this module, which
runs twice:

1. **outside** (:func:`launch`), as the instructor, before any student code
   exists in the process tree: it puts the kernel in a control group of its
   own (memory, shared memory and tmpfs included, and a process count) where
   the machine allows one, and execs bubblewrap;
2. **inside** (:func:`start_kernel`), as the first thing bubblewrap runs: it
   copies the submission's files into the kernel's private working folder,
   lowers the resource limits that hold per process, and becomes the
   ordinary IPython kernel.

Inside, the kernel sees a read-only system (``/usr``, a few files of
``/etc``), the Python installation and virtualenv, the ``course_utils``
package, a writable in-memory copy of *its own* submission folder, a private
``/tmp`` and ``/dev/shm``, and the folder of its own connection sockets. It
has no network (a private network namespace; the kernel talks to nbgrader
over Unix sockets, ZMQ's ``ipc`` transport), no view of other processes (a
private PID namespace: when the kernel ends, everything it started ends
too), no capabilities, no way to make further user namespaces, and an
environment built from an allowlist. The grader's working copy (the solution
notebook, the gradebook with the hidden tests, other submissions) is simply
not there.

Without bubblewrap, ``--unsafe-no-sandbox`` keeps only the per-process
limits; the instructor page of the book says what that means.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

GIB = 1024**3
MIB = 1024**2
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PREFIX = "course-grading-"
# the only variables a graded kernel inherits; everything else (tokens,
# keys, paths) stays out
ENVIRONMENT_ALLOWLIST = (
    "LANG",
    "LC_ALL",
    "TZ",
    "COURSE_SCALE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)
#: What a Python kernel needs from /etc; the rest (shadow, ssh keys, the
#: host's configuration) stays out.
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "host.conf",
    "passwd",
    "group",
    "mime.types",
    "fonts",
    "ssl/certs",
    "alternatives",
)
SANDBOX_HOME = "/tmp/home"
# nobody: no capabilities inside, and no name the host gives rights to
SANDBOX_USER = 65534


@dataclass(frozen=True)
class Limits:
    """Per-submission limits (all positive).

    Args:
        cell_timeout_s: wall time one cell may run before it is interrupted
            (the rest of the notebook is still graded).
        cpu_s: CPU seconds a kernel process may use in total; past it the
            kernel is killed.
        memory_bytes: memory the kernel may allocate; past it allocations
            fail (``MemoryError``), and everything its processes hold
            together (shared memory and files in memory included) is capped
            a little above it by the control group.
        submission_timeout_s: wall time for grading one submission, kernel
            start to feedback.
        processes: processes and threads the kernel may run at once.
        file_bytes: the largest file the kernel may write, and the size of
            its working folder and of its ``/tmp``.
        output_bytes: output a cell may keep in the graded notebook
            (text and images); the rest is dropped with a note.

    Raises:
        ValueError: if a limit is not a positive integer.
    """

    cell_timeout_s: int = 120
    cpu_s: int = 600
    memory_bytes: int = 4 * GIB
    submission_timeout_s: int = 1200
    processes: int = 256
    file_bytes: int = 512 * MIB
    output_bytes: int = 2 * MIB

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value <= 0
            ):
                raise ValueError(
                    f"Limits.{name} must be a positive integer, got "
                    f"{value!r}"
                )


class SandboxUnavailable(RuntimeError):
    """Bubblewrap is missing or cannot make namespaces on this machine."""


# ------------------------------------ control groups (memory and processes)


class ControlGroup:
    """One kernel's control group: a memory cap that covers shared memory
    too, and a process cap.

    Uses cgroup v2 where the memory and pids controllers can be enabled
    below this process's own group, else the v1 ``memory`` and ``pids``
    hierarchies; :meth:`create` returns None where neither is writable (an
    unprivileged user without delegation), and the kernel then relies on its
    per-process limits.
    """

    def __init__(self, folders: list[Path], version: int) -> None:
        self.folders, self.version = folders, version

    @staticmethod
    def own_path(controller: str) -> str | None:
        """This process's group in ``controller``'s hierarchy ("" for
        v2's unified one)."""
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if (
                (controller in controllers.split(","))
                if controller
                else controllers == ""
            ):
                return path
        return None

    @classmethod
    def create(
        cls, name: str, memory_bytes: int, processes: int
    ) -> ControlGroup | None:
        for make in (cls._create_v2, cls._create_v1):
            try:
                group = make(name, memory_bytes, processes)
            except OSError:
                group = None
            if group is not None:
                return group
        return None

    @classmethod
    def _create_v2(
        cls, name: str, memory_bytes: int, processes: int
    ) -> ControlGroup | None:
        own = cls.own_path("")
        mount = (
            CGROUP_ROOT
            if (CGROUP_ROOT / "cgroup.controllers").exists()
            else CGROUP_ROOT / "unified"
        )
        if own is None or not (mount / "cgroup.controllers").exists():
            return None
        parent = mount / own.lstrip("/")
        if not {"memory", "pids"} <= set(
            (parent / "cgroup.controllers").read_text().split()
        ):
            return None
        if not {"memory", "pids"} <= set(
            (parent / "cgroup.subtree_control").read_text().split()
        ):
            (parent / "cgroup.subtree_control").write_text("+memory +pids")
        folder = parent / name
        folder.mkdir()
        group = cls([folder], 2)
        try:
            (folder / "memory.max").write_text(str(memory_bytes))
            if (folder / "memory.swap.max").exists():  # no escape into swap
                (folder / "memory.swap.max").write_text("0")
            (folder / "pids.max").write_text(str(processes))
        except OSError:
            group.remove()
            raise
        return group

    @classmethod
    def _create_v1(
        cls, name: str, memory_bytes: int, processes: int
    ) -> ControlGroup | None:
        memory_path, pids_path = (
            cls.own_path("memory"),
            cls.own_path("pids"),
        )
        if memory_path is None or pids_path is None:
            return None
        memory = CGROUP_ROOT / "memory" / memory_path.lstrip("/") / name
        pids = CGROUP_ROOT / "pids" / pids_path.lstrip("/") / name
        memory.mkdir()
        group = cls([memory], 1)
        try:
            pids.mkdir()
            group.folders.append(pids)
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            # no escape into swap
            if (memory / "memory.memsw.limit_in_bytes").exists():
                (memory / "memory.memsw.limit_in_bytes").write_text(
                    str(memory_bytes)
                )
            (pids / "pids.max").write_text(str(processes))
        except OSError:
            group.remove()
            raise
        return group

    @classmethod
    def available(cls) -> bool:
        """Whether this process can make control groups with memory and
        process caps."""
        group = cls.create(
            f"{CGROUP_PREFIX}probe-{secrets.token_hex(4)}", GIB, 16
        )
        if group is not None:
            group.remove()
        return group is not None

    def join(self, pid: int) -> None:
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders:
            try:
                found |= {
                    int(p)
                    for p in (folder / "cgroup.procs").read_text().split()
                }
            except OSError:
                pass
        return found

    def kill(self, timeout_s: float = 5.0) -> bool:
        """Kill every process in the group; True when none is left."""
        deadline = time.monotonic() + timeout_s
        while (left := self.pids()) and time.monotonic() < deadline:
            kill_file = self.folders[0] / "cgroup.kill"
            if self.version == 2 and kill_file.exists():
                kill_file.write_text("1")
            else:
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.01)
        return not self.pids()

    def remove(self) -> None:
        for folder in self.folders:
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass

    def out_of_memory(self) -> bool:
        """Whether the memory cap killed or stopped a process of the
        group."""
        try:
            if self.version == 2:
                events = dict(
                    line.split()
                    for line in (self.folders[0] / "memory.events")
                    .read_text()
                    .splitlines()
                )
                return (
                    int(events.get("oom_kill", 0)) > 0
                    or int(events.get("max", 0)) > 0
                )
            folder = self.folders[0]
            control = dict(
                line.split()
                for line in (folder / "memory.oom_control")
                .read_text()
                .splitlines()
            )
            return (
                int(control.get("oom_kill", 0)) > 0
                or int((folder / "memory.failcnt").read_text()) > 0
            )
        except (OSError, ValueError):
            return False


def job_groups(job_token: str) -> list[ControlGroup]:
    """The control groups that kernels of one grading job made (named
    after the job's token)."""
    groups = []
    for version, hierarchies in (
        (2, ["", "unified"]),
        (1, ["memory", "pids"]),
    ):
        for hierarchy in hierarchies:
            own = ControlGroup.own_path("" if version == 2 else hierarchy)
            base = (
                CGROUP_ROOT / hierarchy if hierarchy != "" else CGROUP_ROOT
            )
            if own is None or not base.is_dir():
                continue
            parent = base / own.lstrip("/")
            groups += [
                ControlGroup([p], version)
                for p in parent.glob(f"{CGROUP_PREFIX}{job_token}-*")
                if p.is_dir()
            ]
    return groups


def end_job(job_token: str) -> tuple[bool, bool]:
    """Kill whatever the job's kernels left running and remove their groups.

    Returns (every process is gone, a memory cap was hit). Without control
    groups the PID namespace has already ended every process the kernel
    started when the kernel ended.
    """
    all_dead, out_of_memory = True, False
    for group in job_groups(job_token):
        out_of_memory |= group.out_of_memory()
        all_dead &= group.kill()
        group.remove()
    return all_dead, out_of_memory


# --------------------------------------------------------------- bubblewrap


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def check_sandbox() -> str:
    """The bubblewrap binary, after a trial run with the namespaces grading
    uses.

    Raises :class:`SandboxUnavailable` with what to do when it cannot work
    here.
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so student code would "
            "run with the instructor's rights. Install it "
            "(Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf "
            "install bubblewrap), or pass --unsafe-no-sandbox to grade "
            "with resource limits only (see the instructor page)"
        )
    version = subprocess.run(
        [bwrap, "--version"], capture_output=True, text=True, timeout=30
    ).stdout.split()[-1:]
    numbers = (
        tuple(
            int(part)
            for part in version[0].split(".")[:2]
            if part.isdigit()
        )
        if version
        else ()
    )
    if numbers < (0, 8):
        raise SandboxUnavailable(
            "bubblewrap 0.8 or newer is needed (for --disable-userns); "
            f"this one says {' '.join(version) or 'nothing'}. Install a "
            "newer bubblewrap, or pass --unsafe-no-sandbox (see the "
            "instructor page)"
        )
    trial = [
        bwrap,
        *namespace_options(),
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "true",
    ]
    result = subprocess.run(
        trial, capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        raise SandboxUnavailable(
            "bubblewrap cannot create the sandbox's namespaces here "
            f"({result.stderr.strip() or result.returncode}). "
            "Unprivileged user namespaces may be disabled (sysctl "
            "kernel.unprivileged_userns_clone, or an AppArmor rule for "
            "bwrap on Ubuntu 24.04); enable them, or pass "
            "--unsafe-no-sandbox (see the instructor page)"
        )
    return bwrap


def namespace_options() -> list[str]:
    return [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--uid",
        str(SANDBOX_USER),
        "--gid",
        str(SANDBOX_USER),
        "--hostname",
        "grading",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]


def readable_roots() -> list[str]:
    """Host folders a kernel reads: Python, the virtualenv,
    ``course_utils`` and the torch hub cache."""
    import course_utils

    package = Path(course_utils.__file__).resolve().parent
    roots = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix),
        Path(sys.prefix).resolve(),
        package,
    }
    hub = (
        Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
        / "hub"
    )
    if hub.is_dir():
        roots.add(hub.resolve())
    return sorted(str(r) for r in roots)


def system_binds() -> list[str]:
    """Read-only binds of the system: ``/usr`` and its merged-usr links,
    and :data:`ETC_FILES`."""
    options = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            options += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            options += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        path = Path("/etc") / name
        if path.exists():
            options += ["--ro-bind", str(path.resolve()), str(path)]
    return options


def sandbox_environment() -> dict[str, str]:
    env = {
        name: os.environ[name]
        for name in ENVIRONMENT_ALLOWLIST
        if name in os.environ
    }
    env.update(
        PATH=os.pathsep.join(
            [
                str(Path(sys.executable).parent),
                "/usr/local/bin",
                "/usr/bin",
                "/bin",
            ]
        ),
        HOME=SANDBOX_HOME,
        TMPDIR="/tmp",
        USER="nobody",
        LOGNAME="nobody",
        LANG=env.get("LANG", "C.UTF-8"),
        MPLCONFIGDIR=f"{SANDBOX_HOME}/.matplotlib",
        COURSE_DEVICE="cpu",
        COURSE_ALLOW_DOWNLOAD="0",
        PYTHONDONTWRITEBYTECODE="1",
        VIRTUAL_ENV=sys.prefix,
    )
    hub = Path(
        os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")
    )
    if (hub / "hub").is_dir():
        env["TORCH_HOME"] = str(hub.resolve())
    return env


#: Where the sandbox shows the submission's folder, read-only, for the
#: kernel to copy.
SUBMISSION_MOUNT = "/run/submission"


def bwrap_command(
    bwrap: str,
    limits: Limits,
    address_space: bool,
    work_dir: str,
    runtime_dir: str,
    kernel_args: list[str],
) -> list[str]:
    """The bubblewrap command line that runs :func:`start_kernel` for one
    submission.

    ``work_dir`` (the folder nbgrader runs the notebook in) is seen
    read-only at :data:`SUBMISSION_MOUNT` and replaced by an empty in-memory
    folder that the kernel fills; ``runtime_dir`` holds the kernel's
    connection file and sockets.

    Args:
        bwrap: path of the ``bwrap`` executable (the command's first word).
        limits: the submission's limits; ``file_bytes`` sizes the in-memory
            folders, and all of them are passed on to :func:`start_kernel`.
        address_space: whether the kernel also caps its address space
            (``RLIMIT_AS``); set when no control group caps its memory.
        work_dir: absolute path of the folder nbgrader runs the notebook in.
        runtime_dir: absolute path of the folder of the kernel's connection
            file, the only host folder the kernel may write to.
        kernel_args: the kernel's own arguments (``-f CONNECTION_FILE``
            ...).

    Returns:
        The argument list for ``os.execv``, starting with ``bwrap``.
    """
    inside = json.dumps({**asdict(limits), "address_space": address_space})
    command = [bwrap, *namespace_options(), "--clearenv"]
    for name, value in sandbox_environment().items():
        command += ["--setenv", name, value]
    # mounts apply in order: the private /tmp first, so that binds of
    # folders under /tmp land on top of it
    command += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits.file_bytes),
        "--tmpfs",
        "/tmp",
        "--size",
        str(limits.file_bytes),
        "--tmpfs",
        "/dev/shm",
        "--dir",
        SANDBOX_HOME,
    ]
    command += system_binds()
    for root in readable_roots():
        command += ["--ro-bind", root, root]
    command += [
        "--ro-bind",
        work_dir,
        SUBMISSION_MOUNT,
        "--size",
        str(limits.file_bytes),
        "--tmpfs",
        work_dir,
        "--bind",
        runtime_dir,
        runtime_dir,
        "--remount-ro",
        "/",
        "--chdir",
        work_dir,
        "--",
        sys.executable,
        "-P",
        "-m",
        "course_utils.grading.sandbox",
        "--inside",
        inside,
        *kernel_args,
    ]
    return command


# ------------------------------------------------------- per-process limits


def apply_limits(
    memory_bytes: int,
    cpu_s: int,
    file_bytes: int | None = None,
    address_space: bool = False,
) -> None:
    """Lower this process's memory, CPU and file-size limits (never above an
    existing hard limit).

    ``memory_bytes`` caps the heap and private mappings (``RLIMIT_DATA``:
    allocations past it raise ``MemoryError`` and the kernel lives on); with
    ``address_space`` it caps all mappings (``RLIMIT_AS``), the fallback
    where no control group covers shared memory.

    Args:
        memory_bytes: soft limit of ``RLIMIT_DATA`` (and, with
            ``address_space``, one GiB more for ``RLIMIT_AS``), in bytes.
        cpu_s: CPU seconds before ``SIGXCPU`` kills the process; the hard
            limit, 5 s later, is the ``SIGKILL`` backstop.
        file_bytes: the largest file the process may write
            (``RLIMIT_FSIZE``; a write past it fails with ``EFBIG`` because
            ``SIGXFSZ`` is ignored); ``None`` leaves the limit as it is.
            Default: ``None``.
        address_space: cap all mappings too (``RLIMIT_AS``).
            Default: ``False``.
    """
    wanted = [
        (resource.RLIMIT_DATA, memory_bytes, 0),
        (resource.RLIMIT_CPU, cpu_s, 5),
    ]
    if file_bytes is not None:
        wanted.append((resource.RLIMIT_FSIZE, file_bytes, 0))
        # a write past the limit fails with EFBIG instead of killing
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if address_space:
        # shared libraries and thread stacks too
        wanted.append((resource.RLIMIT_AS, memory_bytes + GIB, 0))
    for which, soft, hard_extra in wanted:
        _, hard = resource.getrlimit(which)
        wanted_hard = soft + hard_extra
        if hard != resource.RLIM_INFINITY:
            soft, wanted_hard = min(soft, hard), min(wanted_hard, hard)
        # past the soft CPU limit the kernel gets SIGXCPU (fatal); the hard
        # limit is the SIGKILL backstop
        resource.setrlimit(which, (soft, wanted_hard))


# --------------------------------------- the kernel spec and its two stages


def write_kernel_spec(
    jupyter_dir: Path, limits: Limits, sandboxed: bool = True
) -> Path:
    """Write a ``python3`` kernel spec under ``jupyter_dir/kernels`` that
    starts sandboxed kernels.

    Put ``jupyter_dir`` first on ``JUPYTER_PATH``: notebooks ask for the
    ``python3`` kernel and Jupyter takes the first spec of that name it
    finds. The spec's folder also holds the sandbox's configuration; kernels
    never see either.
    """
    spec_dir = jupyter_dir / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "sandboxed": sandboxed,
        "limits": asdict(limits),
        "bwrap": check_sandbox() if sandboxed else None,
    }
    config_path = spec_dir / "sandbox.json"
    config_path.write_text(json.dumps(config, indent=1))
    argv = [
        sys.executable,
        "-m",
        "course_utils.grading.sandbox",
        str(config_path),
        "-f",
        "{connection_file}",
    ]
    # interrupts travel as messages: a signal would reach bubblewrap, not
    # the kernel inside it
    spec = {
        "argv": argv,
        "display_name": "Python 3 (grading sandbox)",
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


JOB_TOKEN_VARIABLE = "COURSE_GRADING_JOB"
RUNTIME_PREFIX = "course-kernel-"


def runtime_folder(job_token: str = "") -> Path:
    """A fresh folder for one job's kernel connection file and sockets.

    Short (Unix socket paths are limited to about 100 bytes), and private to
    the job: the sandboxed kernel can write in it. Pass
    ``<folder>/kernel.json`` as the kernel manager's ``connection_file`` and
    the ``ipc`` transport. :func:`remove_runtime_folders` finds it by the
    job's token.
    """
    return Path(tempfile.mkdtemp(prefix=f"{RUNTIME_PREFIX}{job_token}-"))


def remove_runtime_folders(job_token: str) -> None:
    """Remove the socket folders of a job whose worker was killed before
    it could."""
    for folder in Path(tempfile.gettempdir()).glob(
        f"{RUNTIME_PREFIX}{job_token}-*"
    ):
        shutil.rmtree(folder, ignore_errors=True)


def launch(config_path: str, kernel_args: list[str]) -> None:
    """Stage 1, outside: join a fresh control group, then exec bubblewrap
    (or, unsafe, the kernel)."""
    config = json.loads(Path(config_path).read_text())
    limits = Limits(**config["limits"])
    group = None
    token = os.environ.get(JOB_TOKEN_VARIABLE)
    # a grading job: its worker kills and removes the group afterwards
    if token:
        # the cap sits above RLIMIT_DATA so that an ordinary allocation
        # fails with MemoryError first
        group = ControlGroup.create(
            f"{CGROUP_PREFIX}{token}-{secrets.token_hex(4)}",
            limits.memory_bytes + limits.file_bytes + GIB // 2,
            limits.processes,
        )
        if group is not None:
            group.join(os.getpid())
    if not config["sandboxed"]:
        apply_limits(
            limits.memory_bytes,
            limits.cpu_s,
            limits.file_bytes,
            address_space=group is None,
        )
        os.execv(sys.executable, kernel_command(kernel_args))
    runtime_dir = (
        Path(kernel_args[kernel_args.index("-f") + 1]).resolve().parent
    )
    if (
        not runtime_dir.name.startswith(RUNTIME_PREFIX)
        or len(list(runtime_dir.iterdir())) != 1
    ):
        # the kernel gets write access to this folder: never a shared one
        # such as /tmp
        raise SystemExit(
            "sandbox: the connection file must be alone in a folder made "
            f"by runtime_folder(), not in {runtime_dir}"
        )
    command = bwrap_command(
        config["bwrap"],
        limits,
        group is None,
        os.getcwd(),
        str(runtime_dir),
        kernel_args,
    )
    os.execv(config["bwrap"], command)


def kernel_command(kernel_args: list[str]) -> list[str]:
    """The IPython kernel, with the working folder kept off ``sys.path``
    (``-P``; IPython honours it too).

    Otherwise a submitted ``ipykernel_launcher.py``, ``torch.py`` or
    ``course_utils/`` would be imported in place of the real ones, before
    the tamper check starts.
    """
    return [sys.executable, "-P", "-m", "ipykernel_launcher", *kernel_args]


def start_kernel(limits_json: str, kernel_args: list[str]) -> None:
    """Stage 2, inside the sandbox: fill the working folder, lower the
    limits, become the kernel."""
    settings = json.loads(limits_json)
    address_space = settings.pop("address_space", False)
    limits = Limits(**settings)
    source = Path(SUBMISSION_MOUNT)
    for item in source.iterdir():
        if item.is_dir() and not item.is_symlink():
            shutil.copytree(item, Path.cwd() / item.name, symlinks=True)
        else:
            shutil.copy2(
                item, Path.cwd() / item.name, follow_symlinks=False
            )
    Path(SANDBOX_HOME).mkdir(parents=True, exist_ok=True)
    apply_limits(
        limits.memory_bytes,
        limits.cpu_s,
        limits.file_bytes,
        address_space=address_space,
    )
    os.execv(sys.executable, kernel_command(kernel_args))


def main(argv: list[str] | None = None) -> None:
    """``python -m course_utils.grading.sandbox CONFIG.json -f
    CONNECTION_FILE`` (the kernel spec's command)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) >= 2 and args[0] == "--inside":
        start_kernel(args[1], args[2:])
    elif args and args[0].endswith(".json") and "-f" in args:
        launch(args[0], args[1:])
    else:
        raise SystemExit(
            "usage: python -m course_utils.grading.sandbox CONFIG.json "
            "-f CONNECTION_FILE [kernel arguments]"
        )


if __name__ == "__main__":
    main()
