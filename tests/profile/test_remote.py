"""`edgesub profile --remote` against a real OpenSSH server started here on 127.0.0.1.

The server has a throwaway host key and user key in a temp folder and accepts TMPDIR from the
client, so each test gives the "device" a folder of its own and can check that nothing is left
in it. ssh reads ~/.ssh/config from the passwd home, not $HOME, so every run names its options
(``--ssh-config`` / ``--ssh-option``). The fast tests measure with the test environment's Python
as ``--remote-python``; the slow one lets edgesub build the runtime-only venv on the "device".
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_graph_onnx import tiny_cnn

from edgesub.profile import remote as remote_mod

SSHD = Path("/usr/sbin/sshd")
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@dataclass
class Server:
    folder: Path
    port: int
    user_key: Path
    known_hosts: Path

    def ssh_options(self, tmpdir: Path, **overrides: str) -> tuple[str, ...]:
        """The ssh options that reach this server as a "device" whose TMPDIR is ``tmpdir``."""
        settings = {
            "UserKnownHostsFile": str(self.known_hosts),
            "GlobalKnownHostsFile": "/dev/null",
            "IdentityFile": str(self.user_key),
            "IdentitiesOnly": "yes",
            "SetEnv": f"TMPDIR={tmpdir}",
            **overrides,
        }
        return tuple(f"{name}={value}" for name, value in settings.items())

    def options(self, tmpdir: Path, **overrides: str) -> list[str]:
        """The same as CLI flags, with no ssh_config file of the user's read."""
        flags = ["--ssh-config", "/dev/null"]
        for option in self.ssh_options(tmpdir, **overrides):
            flags += ["--ssh-option", option]
        return flags

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


def _wait_for(port: int, proc: subprocess.Popen, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    if not SSHD.is_file() or shutil.which("ssh") is None or shutil.which("scp") is None:
        pytest.skip("OpenSSH server or client missing (apt-get install openssh-server)")
    folder = tmp_path_factory.mktemp("sshd")
    host_key = _keygen(folder / "host_key")
    user_key = _keygen(folder / "user_key")
    shutil.copy(folder / "user_key.pub", folder / "authorized_keys")
    known_hosts = folder / "known_hosts"
    port = _free_port()
    host_pub = (folder / "host_key.pub").read_text().split()[:2]
    known_hosts.write_text(f"[127.0.0.1]:{port} {' '.join(host_pub)}\n")
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\n"
        f"PidFile {folder / 'sshd.pid'}\nAcceptEnv TMPDIR\n"
        "Subsystem sftp internal-sftp\n"
    )
    if os.geteuid() == 0:  # sshd run by root insists on its privilege-separation folder
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    log = (folder / "sshd.log").open("w")
    proc = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config), "-p", str(port)], stdout=log, stderr=log
    )
    try:
        if not _wait_for(port, proc):
            pytest.skip(f"sshd did not start: {(folder / 'sshd.log').read_text()[-300:]}")
        yield Server(folder, port, user_key, known_hosts)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_cnn(tmp_path_factory.mktemp("remote-model") / "tiny model.onnx")


def edgesub(*args: object, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgesub", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )  # fmt: skip


MEASURE = ("--device", "raspberry-pi-4b", "--runs", "3", "--warmup", "1", "--json")


def left_behind(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.iterdir() if p.name.startswith("edgesub"))


def test_records_come_back_measured_with_the_devices_identity(server, model, tmp_path):
    """An alias of an ssh_config file (host, port, key) reaches the device, as with ssh."""
    tmpdir = tmp_path / "device-tmp"
    tmpdir.mkdir()
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        f"Host board\n  HostName 127.0.0.1\n  Port {server.port}\n"
        f"  IdentityFile {server.user_key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {server.known_hosts}\n  SetEnv TMPDIR={tmpdir}\n"
    )
    result = edgesub(
        "profile", model, *MEASURE, "--remote", "board", "--ssh-config", ssh_config,
        "--remote-python", sys.executable,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["device"] for r in records] == ["raspberry-pi-4b", "ssh:board"]
    measured = records[1]
    assert measured["latency_kind"] == measured["memory_kind"] == "measured"
    assert measured["latency_ms"] > 0 and measured["latency_p90_ms"] >= measured["latency_ms"]
    assert measured["artifact"] == model.name and measured["runtime"] == "onnxruntime"
    identity = measured["device_identity"]
    assert identity["machine"] == platform.machine()
    assert identity["model"] == measured["device_name"] and identity["model"]
    assert identity["core_types"] and identity["cores"] == os.cpu_count()
    assert identity["python"] == platform.python_version()
    assert {"governor", "clock_mhz", "temperature_before_c", "throttled"} <= identity.keys()
    assert left_behind(tmpdir) == []


def test_keep_remote_keeps_the_folder_with_the_files(server, model, tmp_path):
    result = edgesub(
        "profile", model, *MEASURE, "--remote", f"root@{server.target}", "--keep-remote",
        "--remote-python", sys.executable, *server.options(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (kept,) = left_behind(tmp_path)
    assert f"kept root@{server.target}:{tmp_path / kept}" in result.stderr
    names = {p.name for p in (tmp_path / kept).iterdir()}
    assert {"0-tiny_model.onnx", "edgesub.zip"} <= names and "pgid" not in names


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def fake_python(folder: Path, version: str) -> Path:
    """An interpreter that answers edgesub's version probe as an old Python would."""
    path = folder / "python3.9"
    path.write_text(f"#!/bin/sh\necho {version} {platform.machine()}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unreachable", "cannot reach 127.0.0.1 over SSH: connect to host 127.0.0.1 port"),
        ("wrong key", "127.0.0.1 refused the SSH login (root@127.0.0.1: Permission denied"),
        ("unknown host key", "the host key of 127.0.0.1 is not known here"),
        ("changed host key", "the host key of 127.0.0.1 has changed"),
        ("old python", "is Python 3.9; edgesub needs >= 3.11"),
        ("no python", "no usable Python at '/nonexistent/python3'"),
    ],
)
def test_each_failure_is_one_line_and_leaves_nothing(server, model, tmp_path, case, expected):
    target, python, overrides = server.target, sys.executable, {}
    if case == "unreachable":
        target = f"127.0.0.1:{_free_port()}"
    elif case == "wrong key":
        overrides["IdentityFile"] = str(_keygen(tmp_path / "other_key"))
    elif case == "unknown host key":
        (tmp_path / "empty").write_text("")
        overrides["UserKnownHostsFile"] = str(tmp_path / "empty")
    elif case == "changed host key":
        other = (_keygen(tmp_path / "other_host").with_suffix(".pub")).read_text().split()[:2]
        (tmp_path / "changed").write_text(f"[127.0.0.1]:{server.port} {' '.join(other)}\n")
        overrides["UserKnownHostsFile"] = str(tmp_path / "changed")
    elif case == "old python":
        python = str(fake_python(tmp_path, "3 9"))
    elif case == "no python":
        python = "/nonexistent/python3"
    result = edgesub(
        "profile", model, *MEASURE, "--remote", target, "--remote-python", python,
        *server.options(tmp_path, **overrides),
    )  # fmt: skip
    assert expected in one_line_error(result)
    assert left_behind(tmp_path) == []


def test_a_full_disk_is_refused_before_copying(server, model, tmp_path):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tiny)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        result = edgesub(
            "profile", model, *MEASURE, "--remote", server.target,
            "--remote-python", sys.executable, *server.options(tiny),
        )  # fmt: skip
        assert "MB free in" in one_line_error(result)
        assert left_behind(tiny) == []
    finally:
        subprocess.run(["umount", str(tiny)], check=True)


def test_no_wheel_for_the_platform_names_the_package(server, model, tmp_path, monkeypatch):
    """pip on the device finding no wheel (as on 32-bit Pi OS) says which, for which platform."""
    from edgesub.config import parse_remote
    from edgesub.profile.remote import RemoteError, RemoteOptions, measure_remote

    monkeypatch.setattr(remote_mod, "runtime_requirements", lambda *a, **k: ["onnxruntime==0.0.1"])
    monkeypatch.setattr(remote_mod, "VENV_MB", 0.0)
    options = RemoteOptions(
        parse_remote(server.target),
        ssh_config="/dev/null",
        ssh_options=server.ssh_options(tmp_path),
    )
    with pytest.raises(RemoteError, match=r"no wheel of onnxruntime==0\.0\.1 for "
                       + platform.machine()):  # fmt: skip
        measure_remote([model], options, [{"threads": 1, "warmup": 1, "runs": 3}], print)
    assert left_behind(tmp_path) == []


def test_ctrl_c_ends_the_measurement_and_removes_the_folder(server, tmp_path):
    slow = tiny_cnn(tmp_path / "slow.onnx", width=512)  # ~17 M MACs: 10,000 runs take a while
    argv = [
        sys.executable, "-m", "edgesub", "profile", slow, "--no-progress", "--runs", "10000",
        "--remote", server.target, "--remote-python", sys.executable, *server.options(tmp_path),
    ]  # fmt: skip
    proc = subprocess.Popen(list(map(str, argv)), stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _measuring(tmp_path):
        time.sleep(0.2)
    assert _measuring(tmp_path), "the measurement never started on the device"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert left_behind(tmp_path) == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _device_processes(tmp_path):
        time.sleep(0.2)
    assert _device_processes(tmp_path) == []


def _device_processes(tmpdir: Path, marker: bytes = b"") -> list[int]:
    """Processes whose command line names the device's folder under ``tmpdir`` (and
    ``marker``): the ssh here, the shell and Python there."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if str(tmpdir).encode() + b"/edgesub-profile" in cmdline and marker in cmdline:
            found.append(int(proc.name))
    return found


def _measuring(tmpdir: Path) -> bool:
    """Whether the device runs a measuring child (only the device side starts one)."""
    return bool(_device_processes(tmpdir, b"edgesub.profile._child"))


@pytest.mark.slow
def test_a_runtime_only_venv_is_built_on_the_device(server, model, tmp_path):
    """Without --remote-python the device gets a venv of the bundle's pins: no torch in it."""
    result = edgesub(
        "profile", model, *MEASURE, "--remote", server.target, "--keep-remote",
        *server.options(tmp_path), timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[1]["latency_kind"] == "measured"
    (kept,) = left_behind(tmp_path)
    venv_python = tmp_path / kept / "venv" / "bin" / "python"
    no_torch = subprocess.run([venv_python, "-c", "import torch"], capture_output=True)
    assert no_torch.returncode != 0
    size_mb = sum(p.stat().st_size for p in (tmp_path / kept).rglob("*") if p.is_file()) / 2**20
    assert size_mb < remote_mod.VENV_MB, size_mb


PI5_CPUINFO = (
    "".join(
        f"processor\t: {n}\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n\n"
        for n in range(4)
    )
    + "Revision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
)


def test_the_identity_of_a_raspberry_pi_5(tmp_path, monkeypatch):
    """What the device-side program reports from a Pi 5's kernel files and firmware tool."""
    from edgesub.profile import _device

    proc, cpu, thermal = tmp_path / "proc", tmp_path / "cpu", tmp_path / "thermal"
    for folder in (proc / "device-tree", cpu / "cpu0" / "cpufreq", thermal / "thermal_zone0"):
        folder.mkdir(parents=True)
    (proc / "device-tree" / "model").write_text("Raspberry Pi 5 Model B Rev 1.0\x00")
    (proc / "cpuinfo").write_text(PI5_CPUINFO)
    (proc / "meminfo").write_text("MemTotal:        8245348 kB\n")
    (cpu / "cpu0" / "cpufreq" / "scaling_governor").write_text("ondemand\n")
    (cpu / "cpu0" / "cpufreq" / "scaling_cur_freq").write_text("2400000\n")
    (thermal / "thermal_zone0" / "temp").write_text("48250\n")
    monkeypatch.setattr(_device, "PROC", proc)
    monkeypatch.setattr(_device, "CPU", cpu)
    monkeypatch.setattr(_device, "THERMAL", thermal)
    monkeypatch.setattr(_device, "run_command", lambda argv: "throttled=0x50000\n")
    identity = _device.identity()
    assert identity["model"] == "Raspberry Pi 5 Model B Rev 1.0"
    assert identity["core_types"] == ["Cortex-A76"]
    assert (identity["governor"], identity["clock_mhz"]) == ("ondemand", 2400.0)
    assert identity["throttled"] == "0x50000" and identity["ram_mb"] == 8052.1
    assert _device.temperature_c() == 48.25


def test_remote_settings_are_checked_before_anything_runs(tmp_path):
    from edgesub.config import from_dict
    from edgesub.errors import ConfigError
    from edgesub.profile.remote import RemoteOptions

    cfg = from_dict({"profile": {"remote": "pi@board:2222", "ssh_options": ["Port=2222"]}})
    options = RemoteOptions.from_config(cfg.profile)
    assert options is not None and options.device_id == "ssh:pi@board:2222"
    assert (options.target.user, options.target.host, options.target.port) == ("pi", "board", 2222)
    assert RemoteOptions.from_config(from_dict({}).profile) is None
    for bad in ({"remote": "-oProxyCommand=touch /tmp/x"}, {"ssh_options": ["-F/dev/null"]}):
        with pytest.raises(ConfigError):
            from_dict({"profile": bad})
    model = tiny_cnn(tmp_path / "m.onnx")
    for flags, message in [
        (["--ssh-option", "Port=22"], "--ssh-option needs --remote"),
        (["--remote", "board", "--no-measure"], "cannot go with --no-measure"),
        (["--remote", "-oProxyCommand=x"], "--remote must be [user@]host[:port]"),
        (["--remote", "board", "--ssh-option", "-oProxyCommand=x"], "Name=value"),
    ]:
        assert message in one_line_error(edgesub("profile", model, *flags))


@pytest.mark.slow
def test_calibrate_measures_the_reference_suite_on_the_device(server, tmp_path):
    """`devices calibrate --remote`: the suite measured there, a profile written here (slow:
    fourteen measurements of at least a second each, about 35 s here)."""
    out = tmp_path / "profiles"
    result = edgesub(
        "devices", "--json", "calibrate", "raspberry-pi-4b", "--remote", server.target,
        "--threads", "1", "--out", out, "--remote-python", sys.executable,
        *server.options(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["measurements"] == 14 and summary["source"].startswith(f"ssh:{server.target}")
    text = (out / "raspberry-pi-4b.toml").read_text()
    assert "[calibration]" in text and text.count("[[calibration.measurements]]") == 14
    assert left_behind(tmp_path) == []
