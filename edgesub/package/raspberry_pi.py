"""``--target raspberry-pi``: a folder and its .tar.gz that run on a Pi with a small install.

The bundle holds the chosen artifact(s), a manifest.json listing only them, labels.txt (and a
text model's vocabulary), a requirements.txt pinned to edgesub's own runtime extra (no torch),
``run.py`` (numpy + runtime + Pillow, no edgesub needed) and SHA256SUMS of every file. With
``--verify-aarch64`` each manifest entry also records how run.py agrees on an emulated aarch64.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from edgesub.converters.manifest import MANIFEST_NAME, read_manifest, write_manifest
from edgesub.converters.manifest_record import Aarch64Check, Manifest, Recommendation
from edgesub.errors import ConfigError
from edgesub.labels import labels_text
from edgesub.package.bundle import CHECKSUMS, write_checksums, write_tarball
from edgesub.package.pi_layout import REQUIREMENTS, RUNNER
from edgesub.package.readme import render
from edgesub.package.selection import select
from edgesub.package.source import LABELS_FILE, PackageSource, check_read_back, class_names
from edgesub.package.targets import TARGETS, PackageRequest
from edgesub.profile.profile_record import HOST
from edgesub.profile.requirements import runtime_requirements


@TARGETS.register("raspberry-pi")
def build_raspberry_pi(
    source: PackageSource, request: PackageRequest, staging: Path
) -> dict[str, Any]:
    """The bundle folder and its .tar.gz, side by side in ``staging``."""
    selection = select(
        source,
        request.artifacts,
        device=request.device,
        threads=request.threads,
        profiles_dir=request.profiles_dir,
    )
    entries = selection.entries
    if not entries:
        raise ConfigError("the source lists no artifacts to package")
    model = source.model
    pre = model.preprocessing
    name = f"{model.name}-raspberry-pi"
    folder = staging / name
    folder.mkdir()
    extra = [pre["tokenizer"]["vocab"]] if pre.get("tokenizer") else []
    for file_name in [e.file for e in entries] + extra:
        shutil.copyfile(source.folder / file_name, folder / file_name)
    if model.labels or model.num_classes:
        (folder / LABELS_FILE).write_text(labels_text(class_names(model)), encoding="utf-8")
    requirements = runtime_requirements({e.format for e in entries}, pre.get("input") == "image")
    (folder / REQUIREMENTS).write_text("\n".join(requirements) + "\n", encoding="utf-8")
    runner = resources.files("edgesub.package").joinpath("standalone_runner.py").read_text("utf-8")
    (folder / RUNNER).write_text(runner, encoding="utf-8")
    (folder / RUNNER).chmod(0o755)
    files = [e.file for e in entries]
    unchecked = tuple(e.replace(aarch64_check=None) for e in entries)  # checks are per bundle
    bundled = Manifest(model=model, artifacts=unchecked, recommended=selection.recommended)
    example = _example_input(pre)
    values = {
        "name": model.name,
        "bundle": name,
        "files": ", ".join(f"`{f}`" for f in files),
        "requirements": ", ".join(requirements),
        "example": example,
        "default_model": _default_model(selection.recommended, files),
        "choice": selection.basis,
    }
    (folder / "README.md").write_text(render("raspberry_pi.md", values), encoding="utf-8")
    tarball = _seal(folder, staging / f"{name}.tar.gz", bundled)
    checks = _verify_aarch64(folder, tarball, bundled) if request.verify_aarch64 else {}
    if checks:  # recorded in the manifest, so checksums and tarball are written again
        artifacts = tuple(e.replace(aarch64_check=checks[e.file]) for e in bundled.artifacts)
        _seal(folder, tarball, bundled.replace(artifacts=artifacts))
    return {
        "bundle": name,
        "artifacts": files,
        "tarball": tarball.name,
        "tarball_bytes": tarball.stat().st_size,
        "requirements": requirements,
        "checksums": f"{name}/{CHECKSUMS}",
        "chosen_for": request.device or HOST,
        **({"aarch64_check": {f: c.to_dict() for f, c in checks.items()}} if checks else {}),
    }


def _seal(folder: Path, tarball: Path, manifest: Manifest) -> Path:
    """manifest.json (read back), SHA256SUMS of the folder, and the folder as ``tarball``."""
    write_manifest(folder, manifest)
    _read_back(folder)
    write_checksums(folder)
    return write_tarball(folder, tarball, frozenset({RUNNER}))


def _verify_aarch64(folder: Path, tarball: Path, manifest: Manifest) -> dict[str, Aarch64Check]:
    """Imported here: the check loads numpy and is rarely asked for."""
    from edgesub.package.aarch64_check import verify

    return verify(folder, tarball, manifest)


def _read_back(folder: Path) -> None:
    """Every file the written manifest lists is there with its sha256, and labels.txt gives
    the manifest's label names, in order."""
    manifest = read_manifest(folder / MANIFEST_NAME)
    if (folder / LABELS_FILE).is_file():
        text = (folder / LABELS_FILE).read_text(encoding="utf-8")
        check_read_back(text, class_names(manifest.model), f"{folder.name}/{LABELS_FILE}")


def _default_model(recommended: Recommendation | None, files: list[str]) -> str:
    """What run.py uses without --model (the same rule as its ``choose``)."""
    by_format = recommended.by_format if recommended else {}
    return by_format.get("tflite") or next(iter(by_format.values()), files[0])


def _example_input(pre: dict[str, Any]) -> str:
    if pre.get("input") == "text":
        return "'a wonderful, moving film'"
    if pre.get("input") == "image":
        return "picture.png"
    return "input.npy"
