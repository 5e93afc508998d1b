"""Measure artifacts on the user's own device over SSH (``edgesub profile --remote``).

The system ``ssh``/``scp`` do the transport, not a Python SSH library: they already honour
the user's ``~/.ssh/config`` (aliases, ports, identity files, jump hosts), agent and
known_hosts exactly as ``ssh HOST`` does, and need nothing installed. They run as argument
lists (never a local shell) in BatchMode, so nothing prompts and an unknown host key is refused;
each remote command is one ``shlex.join``-quoted string, since ssh hands it to a shell there.

On the device, edgesub's own modules travel as one zip (``PYTHONPATH=edgesub.zip``) rather
than a wheel built and installed there: it needs no build step on either side, it works from a
checkout and from an installed wheel alike, and it is exactly the code that measures on this
machine (warm-up, runs, p50/p90, peak RSS, power sensors). The measurement path imports only
numpy and the runtimes, which come from ``--remote-python`` or a venv built in the temporary
folder from the pins the Raspberry Pi bundle uses. That folder is removed when the session ends,
however it ends (an error, Ctrl-C), unless ``keep`` asks otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import edgesub
from edgesub.config import ProfileConfig, RemoteTarget, parse_remote
from edgesub.console import note
from edgesub.errors import EdgesubError
from edgesub.interrupts import deferred
from edgesub.profile.graph import shape_flags
from edgesub.profile.measure import DEFAULT_TIMEOUT_S, child_error
from edgesub.profile.requirements import runtime_requirements

MIN_PYTHON = (3, 11)
CONNECT_TIMEOUT_S = 20
SETUP_TIMEOUT_S = 1800.0  # creating the venv downloads the runtimes on the device
SSH_FAILED = 255  # ssh's own exit status; any other is the remote command's
ZIP_NAME = "edgesub.zip"
MB = 1024.0 * 1024.0
PACKAGE_MB = 1.0  # edgesub's modules zipped: ~0.3 MB
VENV_MB = 400.0  # the venv of the runtime pins, and pip's unpacking on the way
# Makes the folder under the device's own TMPDIR; a fixed script, no user data in it.
MAKE_FOLDER = 'mktemp -d "${TMPDIR:-/tmp}/edgesub-profile.XXXXXXXX"'
PGID_FILE = "pgid"  # the device-side program's process group while it measures
# Ends a measurement still running there (its process group), then removes the folder ($1);
# `kill -s KILL -- -PGID` is the spelling dash, bash and busybox all take.
REMOVE_FOLDER = (
    f'if [ -f "$1/{PGID_FILE}" ]; then kill -s KILL -- "-$(cat "$1/{PGID_FILE}")" 2>/dev/null; '
    'fi; rm -rf -- "$1"'
)
# Runs under any Python the device has, even one too old for edgesub.
PYTHON_FACTS = "import sys, platform; print(*sys.version_info[:2], platform.machine())"


class RemoteError(EdgesubError):
    """The device cannot be reached or used: every file's measurement fails with it."""


class RemoteCommandError(RemoteError):
    """A command on the device ran and failed (ssh itself got through); ``stderr`` is all it
    said, for a caller that knows what to look for."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


@dataclass(frozen=True)
class RemoteOptions:
    """Where and how to measure: the target and what ``edgesub profile --remote`` was given."""

    target: RemoteTarget
    python: str | None = None  # the device's Python with the runtimes; None: build a venv
    ssh_options: tuple[str, ...] = ()  # `ssh -o` options, before edgesub's own
    ssh_config: str | None = None  # `ssh -F` file
    keep: bool = False

    @classmethod
    def parse(cls, target: str, **options: Any) -> RemoteOptions:
        return cls(parse_remote(target), **options)

    @classmethod
    def from_config(cls, cfg: ProfileConfig) -> RemoteOptions | None:
        """``[profile] remote`` and its companions, or None (measure here) without it."""
        if not cfg.remote:
            return None
        return cls.parse(
            cfg.remote,
            python=cfg.remote_python or None,
            ssh_options=cfg.ssh_options,
            ssh_config=cfg.ssh_config or None,
            keep=cfg.keep_remote,
        )

    @property
    def device_id(self) -> str:
        """The ``device`` of the records measured there."""
        return f"ssh:{self.target.text}"


# What ssh or the device said, as the one line a user can act on: (pattern, message, whether
# only ssh's own failures mean it). First match wins; the changed-key warning also says
# "verification failed", so it comes first.
_FAILURES: tuple[tuple[re.Pattern[str], str, bool], ...] = (
    (
        re.compile(r"No space left on device|Disk quota exceeded"),
        "{host} has no disk space left ({line}); free some, or point TMPDIR on the device "
        "at a larger disk",
        False,
    ),
    (
        re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "the host key of {host} has changed since known_hosts recorded it: make sure it is the "
        "same device, then remove the old key with `ssh-keygen -R {host}`",
        True,
    ),
    (
        re.compile(r"Host key verification failed|host key .*not known|No \S+ host key is known"),
        "the host key of {host} is not known here: connect once with `{ssh}` and "
        "check its fingerprint (edgesub never accepts an unknown host key)",
        True,
    ),
    (
        re.compile(r"Permission denied|Too many authentication failures"),
        "{destination} refused the SSH login ({line}); edgesub cannot answer password prompts: "
        "use a key (ssh-add it, or IdentityFile in ~/.ssh/config or --ssh-option)",
        True,
    ),
    (
        re.compile(
            r"Connection refused|Connection timed out|timed out|No route to host|"
            r"Could not resolve hostname|Name or service not known|Network is unreachable|"
            r"Connection closed|Connection reset"
        ),
        "cannot reach {host} over SSH: {line}",
        True,
    ),
)
_NO_WHEEL = re.compile(r"(?:No matching distribution found for|satisfies the requirement) (\S+)")


class Ssh:
    """Runs commands on, and copies files to, one target with the system OpenSSH client."""

    def __init__(self, options: RemoteOptions) -> None:
        self.options = options
        self.target = options.target

    def _common(self) -> list[str]:
        """Options shared by ssh and scp: the user's first (the first value given wins)."""
        argv = ["-F", self.options.ssh_config] if self.options.ssh_config else []
        for option in self.options.ssh_options:
            argv += ["-o", option]
        return [*argv, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}"]

    def run(self, argv: list[str], what: str, timeout_s: float = 120.0) -> str:
        """The stdout of ``argv`` run on the device (quoted for its shell); a failure raises
        one line saying what went wrong, ``what`` naming the step."""
        port = ["-p", str(self.target.port)] if self.target.port else []
        ssh = ["ssh", *self._common(), *port, "--", self.target.destination, shlex.join(argv)]
        return self._call(ssh, what, timeout_s)

    def upload(self, files: list[Path], folder: str) -> None:
        """Copy ``files`` into the device's ``folder`` (their names kept)."""
        port = ["-P", str(self.target.port)] if self.target.port else []
        host = f"[{self.target.host}]" if ":" in self.target.host else self.target.host
        user = f"{self.target.user}@" if self.target.user else ""
        destination = f"{user}{host}:{folder}/"
        scp = ["scp", "-q", *self._common(), *port, "--", *map(str, files), destination]
        self._call(scp, "copying the files", SETUP_TIMEOUT_S, ssh_status=1)

    def _call(
        self, argv: list[str], what: str, timeout_s: float, ssh_status: int = SSH_FAILED
    ) -> str:
        """Run ``argv`` with its stdin held open until it ends: the device-side program ends
        its process group when ssh's connection, and so that stdin, goes away."""
        read_end, write_end = os.pipe()
        try:
            proc = subprocess.Popen(
                argv, stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        except FileNotFoundError:
            raise RemoteError(f"{argv[0]} is not installed here (the OpenSSH client)") from None
        finally:
            os.close(read_end)
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RemoteError(
                f"{what} on {self.target.text} timed out after {timeout_s:g} s"
            ) from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(write_end)
        if proc.returncode != 0:
            raise self.failure(stderr, what, ssh_failed=proc.returncode == ssh_status)
        return stdout

    def failure(self, stderr: str, what: str, *, ssh_failed: bool = True) -> RemoteError:
        """The one-line error for ``stderr``: a known cause, else its last line."""
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        port = f"-p {self.target.port} " if self.target.port else ""
        names = {
            "host": self.target.host,
            "destination": self.target.destination,
            "ssh": f"ssh {port}{self.target.destination}",
        }
        for pattern, message, ssh_only in _FAILURES:
            line = next((line for line in lines if pattern.search(line)), None)
            if line is not None and (ssh_failed or not ssh_only):
                return RemoteError(message.format(line=_short(line), **names))
        if not lines:
            lines = ["no message"]
        # ssh and scp say first what went wrong; a program on the device (a traceback) last
        message = f"{what} on {self.target.text} failed: "
        if ssh_failed:
            return RemoteError(message + _short(lines[0]))
        return RemoteCommandError(message + _short(lines[-1]), stderr)


def _short(line: str) -> str:
    """A tool's message without the program-name prefix ssh and scp put before it."""
    return re.sub(r"^(?:ssh|scp|ERROR|error):\s*", "", line)


@dataclass(frozen=True)
class DevicePython:
    """The interpreter that measures on the device, and what it runs on."""

    path: str
    version: tuple[int, int]
    machine: str


class RemoteSession:
    """One temporary folder on the device, with edgesub's modules, the files and a Python."""

    def __init__(self, options: RemoteOptions, notify: Callable[[str], None]) -> None:
        self.ssh = Ssh(options)
        self.options = options
        self.notify = notify
        self.folder = ""

    @contextlib.contextmanager
    def opened(self) -> Iterator[RemoteSession]:
        """The session with its folder made; the folder goes when it ends, however it ends."""
        self.folder = self.ssh.run(["sh", "-c", MAKE_FOLDER], "making a temporary folder").strip()
        if not self.folder.startswith("/"):
            raise RemoteError(f"mktemp on {self.options.target.text} gave {self.folder!r}")
        try:
            yield self
        except BaseException:
            self._close(failing=True)
            raise
        self._close(failing=False)

    def _close(self, *, failing: bool) -> None:
        """Remove the folder; while another error is on its way out, a failure to remove it
        is only told, so that error stays the one the user sees. What stays on the device is
        always told, --json or not."""
        where = f"{self.options.target.text}:{self.folder}"
        if self.options.keep:
            note(f"kept {where} (--keep-remote)")
            return
        try:
            with deferred("removing the temporary folder on the device"):
                argv = ["sh", "-c", REMOVE_FOLDER, "sh", self.folder]
                self.ssh.run(argv, "removing the temporary folder")
        except RemoteError as exc:
            if not failing:
                raise
            note(f"could not remove {where}: {exc}")

    def check_space(self, files: list[Path]) -> None:
        """Refuse before copying when the folder's disk cannot take the files (and the venv):
        a copy that fails half-way reports only a generic SFTP "Failure"."""
        needed_mb = sum(Path(p).stat().st_size for p in files) / MB + PACKAGE_MB
        needed_mb += 0 if self.options.python else VENV_MB
        text = self.ssh.run(["df", "-Pk", "--", self.folder], "checking disk space")
        fields = text.strip().splitlines()[-1].split()
        free_mb = int(fields[3]) / 1024.0 if len(fields) > 3 and fields[3].isdigit() else None
        if free_mb is not None and free_mb < needed_mb:
            raise RemoteError(
                f"{self.options.target.text} has {free_mb:.1f} MB free in {self.folder}, "
                f"{needed_mb:.0f} MB needed (files, edgesub's modules"
                f"{'' if self.options.python else ', the runtimes venv'}); free some space "
                f"there, or point the device's TMPDIR at a larger disk"
            )

    def python(self) -> DevicePython:
        """The device's Python, checked to be new enough for edgesub."""
        path = self.options.python or "python3"
        try:
            facts = self.ssh.run([path, "-c", PYTHON_FACTS], "checking Python").split()
        except RemoteCommandError as exc:
            raise RemoteError(
                f"no usable Python at {path!r} on {self.options.target.text} ({exc}); install "
                f"Python >= {_dotted(MIN_PYTHON)} there, or name one with --remote-python"
            ) from None
        version = (int(facts[0]), int(facts[1]))
        if version < MIN_PYTHON:
            raise RemoteError(
                f"{path} on {self.options.target.text} is Python {_dotted(version)}; edgesub "
                f"needs >= {_dotted(MIN_PYTHON)} (name another with --remote-python)"
            )
        return DevicePython(path, version, facts[2])

    def upload(self, files: list[Path]) -> list[str]:
        """edgesub's zip and ``files`` (under safe numbered names) into the folder; the
        device-side path of each file, in order."""
        with tempfile.TemporaryDirectory(prefix="edgesub-remote-") as tmp:
            staging = Path(tmp)
            sources = [write_package_zip(staging / ZIP_NAME)]
            for index, path in enumerate(files):
                link = staging / f"{index}-{re.sub(r'[^A-Za-z0-9._-]', '_', path.name)}"
                link.symlink_to(Path(path).resolve())
                sources.append(link)
            self.notify(f"copying {len(files)} file(s) to {self.options.target.text}")
            self.ssh.upload(sources, self.folder)
        return [f"{self.folder}/{source.name}" for source in sources[1:]]

    def runtime_python(self, device: DevicePython, formats: set[str]) -> str:
        """``--remote-python`` as given, else a venv in the folder with the pinned runtimes."""
        if self.options.python:
            return device.path
        venv = f"{self.folder}/venv"
        requirements = runtime_requirements(formats, images=False)
        self.notify(f"creating a venv on {self.options.target.text}: {' '.join(requirements)}")
        try:
            self.ssh.run([device.path, "-m", "venv", venv], "creating a venv", SETUP_TIMEOUT_S)
        except RemoteCommandError as exc:
            raise RemoteError(
                f"{exc} (Debian and Raspberry Pi OS: `sudo apt install python3-venv`; or name a "
                f"Python that has the runtimes with --remote-python)"
            ) from None
        pip = [f"{venv}/bin/python", "-m", "pip", "install", "--quiet"]
        pip += ["--disable-pip-version-check", "--only-binary=:all:"]
        try:
            self.ssh.run([*pip, *requirements], "installing the runtimes", SETUP_TIMEOUT_S)
        except RemoteCommandError as exc:
            raise _no_wheel(exc, device, self.options.target.text) from None
        return f"{venv}/bin/python"

    def measure(self, python: str, paths: list[str], settings: dict[str, Any]) -> dict[str, Any]:
        """The device-side program's report on ``paths`` (``settings``: measure_artifact's)."""
        # TMPDIR in the folder: the measuring processes' own temporary files go with it
        env = [f"PYTHONPATH={self.folder}/{ZIP_NAME}", f"TMPDIR={self.folder}"]
        argv = ["env", *env, python, "-m", "edgesub.profile._device", "--watch-stdin"]
        argv += [f"--pgid-file={self.folder}/{PGID_FILE}", *_device_flags(settings), *paths]
        timeout = 2 * DEFAULT_TIMEOUT_S * len(paths) + 60  # each file: its baseline, its run
        self.notify(f"measuring {len(paths)} file(s) on {self.options.target.text}")
        text = self.ssh.run(argv, "measuring", timeout)
        try:
            return json.loads(text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RemoteError(
                f"measuring on {self.options.target.text} gave no report: {text[-200:]!r}"
            ) from None


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def _no_wheel(exc: RemoteCommandError, device: DevicePython, where: str) -> RemoteError:
    """pip's "no matching distribution" as what it means: no wheel for this platform."""
    match = _NO_WHEEL.search(exc.stderr)
    if match is None:
        return exc
    return RemoteError(
        f"no wheel of {match.group(1)} for {device.machine} / Python {_dotted(device.version)} "
        f"on {where} (32-bit Arm OSes such as armv7l Pi OS have none: install a 64-bit OS, or "
        f"name a Python that has the runtimes with --remote-python)"
    )


def _device_flags(settings: dict[str, Any]) -> list[str]:
    flags = [f"--{name}={settings[name]}" for name in ("threads", "warmup", "runs")]
    return flags + shape_flags(settings.get("input_shape"))


def write_package_zip(target: Path) -> Path:
    """edgesub's modules (``*.py`` only: the measurement reads no data files) as one zip that
    Python imports from with ``PYTHONPATH``."""
    package = Path(edgesub.__file__).resolve().parent
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*.py")):
            archive.write(path, Path("edgesub") / path.relative_to(package))
    return target


@dataclass(frozen=True)
class RemoteMeasurement:
    """One file's result from the device: the measurement, or the error that stopped it."""

    measurement: dict[str, Any] | None
    error: EdgesubError | None
    identity: dict[str, Any]


def measure_remote(
    files: list[Path],
    options: RemoteOptions,
    settings: Sequence[dict[str, Any]],
    notify: Callable[[str], None],
) -> list[dict[Path, RemoteMeasurement]]:
    """Measure ``files`` on the device once per entry of ``settings`` (measure_artifact's: at
    1 and 4 threads, say), all in one session; a file that fails there gets its error, a
    device that cannot be used raises :class:`RemoteError`."""
    session = RemoteSession(options, notify)
    with session.opened():
        session.check_space(files)
        device = session.python()
        remote_paths = session.upload(files)
        python = session.runtime_python(device, {p.suffix.lstrip(".").lower() for p in files})
        reports = [session.measure(python, remote_paths, each) for each in settings]
    return [_results(files, remote_paths, report) for report in reports]


def _results(
    files: list[Path], remote_paths: list[str], report: dict[str, Any]
) -> dict[Path, RemoteMeasurement]:
    """The device's report per local file, its errors naming the file as the user does."""
    results = {}
    for path, remote_path in zip(files, remote_paths, strict=True):
        outcome = report["files"][remote_path]
        name = remote_path.rsplit("/", 1)[-1]
        error = None
        if "error" in outcome:
            error = child_error(outcome["error_type"], outcome["error"].replace(name, path.name))
        identity = {
            **report["identity"],
            "temperature_before_c": outcome["temperature_before_c"],
            "temperature_after_c": outcome["temperature_after_c"],
        }
        results[path] = RemoteMeasurement(outcome.get("measurement"), error, identity)
    return results
