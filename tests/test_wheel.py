"""converters/ and device_profiles/ must ship inside the wheel under the edgesub namespace."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return next(out.glob("edgesub-*.whl"))


def test_wheel_contains_mapped_packages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "edgesub/converters/__init__.py" in names
    assert any(n.startswith("edgesub/device_profiles/") and n.endswith(".toml") for n in names)
    assert not any(n.startswith(("converters/", "device_profiles/")) for n in names)
    # edgesub package writes bundles from these (READMEs, the Pi runner)
    for name in ("templates/android.md", "templates/raspberry_pi.md", "standalone_runner.py"):
        assert f"edgesub/package/{name}" in names


def test_installed_wheel_finds_converters_and_device_profiles(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import edgesub, edgesub.converters\n"
        "from edgesub.profile.devices import load_devices\n"
        "print(edgesub.__file__); print(edgesub.converters.__file__); print(len(load_devices()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    edgesub_file, converters_file, n_devices = result.stdout.split()
    assert edgesub_file.startswith(str(target)) and converters_file.startswith(str(target))
    assert int(n_devices) >= 8
