"""Virtual environments apart from the test environment, for checks with other installs.

A runtime-only install of this checkout (no torch) and third-party clients with their own pins
(mediapipe needs numpy<2) cannot live in the main environment; these helpers build them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

# Cached environments of pinned third-party clients; they do not depend on this checkout.
CACHE = Path(os.environ.get("EDGESUB_TEST_VENVS", Path(tempfile.gettempdir()) / "edgesub-venvs"))
COMPLETE = ".complete"


@dataclass(frozen=True)
class Venv:
    root: Path

    @property
    def env(self) -> dict[str, str]:
        """The caller's environment without what would leak the test environment in."""
        return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def run(self, program: str, *args: object, cwd: Path, timeout: int = 600):
        """Run ``program`` from this environment's bin folder (no shell)."""
        return subprocess.run(
            [str(self.root / "bin" / program), *map(str, args)],
            capture_output=True, text=True, env=self.env, cwd=cwd, timeout=timeout,
        )  # fmt: skip

    def pip_install(self, *args: object, cwd: Path) -> None:
        """``pip install`` into this environment; skip the test if the registry is unreachable."""
        result = self.run("python", "-m", "pip", "install", "-q", *args, cwd=cwd, timeout=1800)
        if result.returncode != 0 and "No matching distribution" in result.stderr:
            pytest.skip(f"package registry unreachable: {result.stderr.strip().splitlines()[-1]}")
        assert result.returncode == 0, result.stderr


def fresh_venv(path: Path) -> Venv:
    venv.create(path, with_pip=True)
    return Venv(Path(path))


def cached_venv(name: str, *requirements: str) -> Venv:
    """An environment with ``requirements`` under CACHE/name, built once and then reused.

    The marker file is written last, so an interrupted build is rebuilt, never reused.
    """
    target = CACHE / name
    marker = "\n".join(requirements) + "\n"
    if (target / COMPLETE).is_file() and (target / COMPLETE).read_text() == marker:
        return Venv(target)
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    env = fresh_venv(target)
    env.pip_install(*requirements, cwd=target)
    (target / COMPLETE).write_text(marker)
    return env
