"""A cached aarch64 Debian bookworm userland, run under qemu-aarch64-static, for checking bundles.

Correctness only: user-mode emulation runs the aarch64 kernels of the runtimes bit for bit, but
its timings say nothing about a device. There is no binfmt_misc to rely on, so every aarch64
program is started through ``qemu-aarch64-static`` explicitly, and a program started that way
cannot start another: the second stage of debootstrap (which does) runs under ``proot -q``,
everything after it under ``chroot`` + qemu, which is several times faster.

Layout of the cache (``$EDGESUB_AARCH64_CACHE``, else ``$XDG_CACHE_HOME/edgesub/aarch64-bookworm``):
``root/`` the userland, renamed into place only once complete; ``root/opt/edgesub/wheels/H`` and
``root/opt/edgesub/venvs/H`` the aarch64 wheels and the environment for one requirements.txt
(H: its sha256); ``.lock`` held while a run builds or uses any of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from edgesub.console import note
from edgesub.errors import EdgesubError

CACHE_ENV = "EDGESUB_AARCH64_CACHE"
QEMU = "/usr/bin/qemu-aarch64-static"
QEMU_CPU = "cortex-a72"  # the Raspberry Pi 4's core
SUITE = "bookworm"  # its python3 is 3.11, the wheels' --python-version
PYTHON_VERSION = "3.11"
WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64")  # bookworm: glibc 2.36
COMPLETE = ".complete"  # written last into a wheels or venv folder
# A bound /sys would make the runtimes' cpuinfo read the x86-64 host's CPUs, and crash.
BIND = ("proc", "dev")
ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    "PIP_NO_CACHE_DIR": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
BUILD_TIMEOUT_S = 3600  # debootstrap: a minute to download, many more to configure emulated
INSTALL_TIMEOUT_S = 1800


class Aarch64Error(EdgesubError):
    """The aarch64 userland cannot be built or a program in it failed."""


def cache_dir() -> Path:
    """Where the userland is kept between runs."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgesub" / f"aarch64-{SUITE}"


def describe(root: Path) -> str:
    """The userland and its copy of the emulator (the one that runs), with its version."""
    result = run([root / QEMU.lstrip("/"), "--version"], "qemu-aarch64-static --version", 60)
    words = (result.stdout.splitlines() or [""])[0].split()
    version = words[2] if len(words) > 2 and words[1] == "version" else "(version unknown)"
    return f"Debian {SUITE} arm64 under qemu-aarch64-static {version} (user-mode emulation)"


def check_host(build: bool) -> None:
    """Root (chroot, mount) and the tools, or one line naming the Debian packages to install."""
    if os.geteuid() != 0:
        raise Aarch64Error("--verify-aarch64 needs root (it uses chroot and bind mounts)")
    needed = {"qemu-user-static": Path(QEMU).is_file()}
    if build:
        needed |= {"debootstrap": bool(shutil.which("debootstrap"))}
        needed |= {"proot": bool(shutil.which("proot"))}
    missing = [package for package, present in needed.items() if not present]
    if missing:
        raise Aarch64Error(
            f"--verify-aarch64 needs {', '.join(missing)}: apt-get install {' '.join(missing)}"
        )


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    """Hold the cache's lock: one run builds or changes the userland at a time."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note(f"waiting for another edgesub to finish with {cache}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def userland(cache: Path) -> Path:
    """The cached root, built first when missing (hold :func:`locked`)."""
    root = cache / "root"
    if root.is_dir():
        return root
    for stale in cache.glob(".root.*.tmp"):  # a build that was killed; the lock is ours now
        remove_tree(stale)
    note(f"building an aarch64 Debian {SUITE} userland in {root} (once; several minutes)")
    staging = Path(tempfile.mkdtemp(prefix=".root.", suffix=".tmp", dir=cache))
    staging.chmod(0o755)  # a system's / (mkdtemp makes 0700)
    try:
        _debootstrap(staging)
        os.rename(staging, root)
    finally:
        if staging.exists():
            remove_tree(staging)
    return root


def _debootstrap(root: Path) -> None:
    """Both stages: the first on the host, the second emulated (its scripts start programs)."""
    include = "--include=python3,python3-venv"
    _check(
        ["debootstrap", "--foreign", "--arch=arm64", "--variant=minbase", include, SUITE, root],
        "debootstrap --foreign",
    )
    shutil.copy2(QEMU, root / QEMU.lstrip("/"))
    second = ["proot", "-q", QEMU, "-r", root, "-0", "/debootstrap/debootstrap", "--second-stage"]
    _check(second, "debootstrap --second-stage", env={**ENV, "DEBOOTSTRAP_DIR": "/debootstrap"})


def run(
    argv: Sequence[object],
    what: str,
    timeout: float,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    enter: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """A program (no shell), its output captured; running past ``timeout`` is one line."""
    try:
        return subprocess.run(
            [str(a) for a in argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
            preexec_fn=enter,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Aarch64Error(f"{what} did not finish in {timeout:.0f} s") from None


def _check(argv: Sequence[object], what: str, env: dict[str, str] | None = None) -> None:
    """Run a host program; its failure is one line with the last line it printed."""
    result = run(argv, what, BUILD_TIMEOUT_S, env=env)
    if result.returncode != 0:
        raise Aarch64Error(f"{what} failed: {last_line(result)}")


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The last non-empty line a program printed (stderr first), or its exit status."""
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1].strip() if lines else f"exit status {result.returncode}"


def remove_tree(path: Path) -> None:
    """Delete ``path``, refusing when anything is mounted under it (a bound /dev, say)."""
    inside = [m for m in _mount_points() if m == path or path in m.parents]
    if inside:
        raise Aarch64Error(f"{inside[0]} is still mounted; unmount it, then remove {path}")
    shutil.rmtree(path, ignore_errors=True)


def _mount_points() -> list[Path]:
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        return [Path(line.split()[1].replace("\\040", " ")) for line in mounts if line.strip()]


@contextlib.contextmanager
def mounted(root: Path) -> Iterator[None]:
    """/proc and /dev bound into ``root`` for as long as the block runs; unmounted after."""
    bound: list[Path] = []
    try:
        for name in BIND:
            target = root / name
            target.mkdir(exist_ok=True)
            _check(["mount", "--bind", f"/{name}", target], f"mount --bind /{name}")
            bound.append(target)
        yield
    finally:
        for target in reversed(bound):
            result = subprocess.run(["umount", target], capture_output=True, check=False)
            if result.returncode != 0:  # busy: detach now, the kernel frees it when idle
                subprocess.run(["umount", "--lazy", target], capture_output=True, check=False)


def run_inside(
    root: Path, argv: Sequence[str], timeout: float, cwd: str = "/"
) -> subprocess.CompletedProcess[str]:
    """``argv`` (paths inside ``root``) as ``chroot ROOT qemu-aarch64-static -cpu …`` does, in
    ``cwd``; needs :func:`mounted`. A timeout is an Aarch64Error."""

    def enter() -> None:  # in the child, before exec: chroot(1) would always start in /
        os.chroot(root)
        os.chdir(cwd)

    command = [QEMU, "-cpu", QEMU_CPU, *argv]
    return run(command, f"{argv[0]} under qemu", timeout, env=ENV, enter=enter)


def runtime_python(root: Path, requirements: Path) -> str:
    """The path inside ``root`` of a python whose environment holds ``requirements``, from
    aarch64 wheels downloaded on the host and installed with ``--no-index`` (cached)."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    wheels = f"/opt/edgesub/wheels/{digest}"
    venv = f"/opt/edgesub/venvs/{digest}"
    _download_wheels(root / wheels.lstrip("/"), requirements)
    if not (root / venv.lstrip("/") / COMPLETE).is_file():
        note(f"installing {requirements.name} into an aarch64 environment (once per pin set)")
        _install(root, venv, wheels)
    return f"{venv}/bin/python3"


def _download_wheels(folder: Path, requirements: Path) -> None:
    """The aarch64 wheels of ``requirements`` and their dependencies, fetched on the host."""
    if (folder / COMPLETE).is_file():
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(requirements, folder / "requirements.txt")
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    command = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", *platforms]
    command += ["--python-version", PYTHON_VERSION, "--implementation", "cp"]
    _check([*command, "-d", folder, "-r", folder / "requirements.txt"], "pip download (aarch64)")
    (folder / COMPLETE).write_text("")


def _install(root: Path, venv: str, wheels: str) -> None:
    """A venv without pip (ensurepip would start a second program), filled by the system's pip
    wheel run from its zip."""
    shutil.rmtree(root / venv.lstrip("/"), ignore_errors=True)
    pip_wheel = next(iter(sorted((root / "usr/share/python-wheels").glob("pip-*.whl"))), None)
    if pip_wheel is None:
        raise Aarch64Error(f"{root} has no pip wheel (python3-venv); remove it to rebuild")
    pip = [f"{venv}/bin/python3", f"/usr/share/python-wheels/{pip_wheel.name}/pip", "install"]
    steps = [
        ["/usr/bin/python3", "-m", "venv", "--without-pip", venv],
        [*pip, "-q", "--no-index", "--find-links", wheels, "-r", f"{wheels}/requirements.txt"],
    ]
    for argv in steps:
        result = run_inside(root, argv, INSTALL_TIMEOUT_S)
        if result.returncode != 0:
            raise Aarch64Error(f"installing the aarch64 wheels failed: {last_line(result)}")
    (root / venv.lstrip("/") / COMPLETE).write_text("")
