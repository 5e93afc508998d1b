"""Packaging targets (android, raspberry-pi, …) and the one entry point that runs any of them.

A target turns a resolved source into files in an empty staging folder; :func:`package`
resolves the source, stages, and renames the folder to ``--out`` only when the target finished,
so a failed or interrupted run leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesub.package.bundle import bundle_files, staged_folder, write_checksums
from edgesub.package.source import PackageSource, resolve_source
from edgesub.registry import Registry


@dataclass(frozen=True)
class PackageRequest:
    """What ``edgesub package`` was asked, besides the source and the target."""

    out: Path
    artifacts: tuple[str, ...] = ()  # file names; empty: the recommended ones
    labels: Path | None = None  # only for a model file without a manifest
    normalize: tuple[float, ...] | None = None  # ditto: MEAN,STD on 0..255 pixels
    model_version: str | None = None  # android metadata; default: the artifact's sha256 prefix
    device: str | None = None  # device profile id to choose the files for; None: the host's
    threads: int = 1  # CPU threads the device runs at, for its estimates
    profiles_dir: str | None = None  # extra device profiles (--profiles)
    verify_aarch64: bool = False  # raspberry-pi: run the bundle on emulated aarch64 (as root)


# A target writes its files into the (empty) staging folder and returns a JSON-able summary.
Target = Callable[[PackageSource, PackageRequest, Path], dict[str, Any]]
TARGETS: Registry[Target] = Registry("package target")


def package(source: Path, target: str, request: PackageRequest) -> dict[str, Any]:
    """Package ``source`` for ``target`` into ``request.out``; return what was written."""
    build = TARGETS.get(target)
    resolved = resolve_source(source, request.labels, request.normalize)
    with staged_folder(request.out) as staging:
        summary = build(resolved, request, staging)
        write_checksums(staging)
        files = [p.as_posix() for p in bundle_files(staging)]
    return {"target": target, "out": str(request.out), **summary, "files": files}
