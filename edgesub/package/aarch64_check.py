"""``--verify-aarch64``: a Raspberry Pi bundle run on the Pi's instruction set, against x86-64.

The tarball is unpacked inside an emulated aarch64 Debian (:mod:`edgesub.package.aarch64_root`),
its SHA256SUMS checked there, and its own run.py run on seeded inputs with the bundle's pinned
aarch64 wheels; the same run.py runs here on the same inputs. The runtimes' aarch64 kernels
(NEON, other int8 rounding paths) are what can differ; emulated time is never measured.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgesub.converters.manifest_record import Aarch64Check, ArtifactEntry, Manifest, ModelInfo
from edgesub.errors import ConfigError
from edgesub.package import aarch64_root as arm
from edgesub.package.pi_layout import REQUIREMENTS, RUNNER
from edgesub.profile.requirements import RUNTIME_PACKAGES

SAMPLES, SEED = 20, 0
ALL_CLASSES = 1 << 30  # run.py's --top: it keeps at most a row's length
RUN_TIMEOUT_S = 1800  # one run.py under emulation: mostly importing numpy and the runtime
VERSIONS = (
    "import importlib.metadata as m, json, platform, sys; "
    "print(json.dumps({'python': platform.python_version(), "
    "**{n: m.version(n) for n in sys.argv[1:]}}))"
)


def verify(folder: Path, tarball: Path, manifest: Manifest) -> dict[str, Aarch64Check]:
    """Each artifact's check, by file name, for the bundle ``folder`` packed as ``tarball``."""
    cache = arm.cache_dir()
    arm.check_host(build=not (cache / "root").is_dir())
    with arm.locked(cache):
        root = arm.userland(cache)
        with arm.mounted(root):
            python = arm.runtime_python(root, folder / REQUIREMENTS)
            scratch = Path(tempfile.mkdtemp(prefix="edgesub-check.", dir=root / "tmp"))
            try:
                return _compare_all(root, python, scratch, folder, tarball, manifest)
            finally:
                arm.remove_tree(scratch)


def _compare_all(
    root: Path, python: str, scratch: Path, folder: Path, tarball: Path, manifest: Manifest
) -> dict[str, Aarch64Check]:
    """Both runs of every artifact on the same inputs, run from ``scratch`` (inside ``root``)."""
    inside = "/" + scratch.relative_to(root).as_posix()
    inputs, described = write_inputs(manifest.model, folder, scratch / "inputs")
    bundle = _unpack_inside(root, python, scratch, tarball, folder.name)
    checks, userland = {}, arm.describe(root)
    for entry in manifest.artifacts:
        args = _run_args(entry, [f"inputs/{p.name}" for p in inputs])
        host = _json(_host([sys.executable, str(folder / RUNNER), *args], scratch), RUNNER)
        runner = [python, f"{bundle}/{RUNNER}", *args]
        emulated = arm.run_inside(root, runner, RUN_TIMEOUT_S, inside)
        names = ["numpy", RUNTIME_PACKAGES[entry.format]]
        versions = arm.run_inside(root, [python, "-c", VERSIONS, *names], RUN_TIMEOUT_S, inside)
        host_versions = _host([sys.executable, "-c", VERSIONS, *names], scratch)
        checks[entry.file] = Aarch64Check(
            **compare(host, _json(emulated, f"{RUNNER} on aarch64")),
            inputs=described,
            qemu_cpu=arm.QEMU_CPU,
            userland=userland,
            runtimes=_json(versions, "reading the runtime versions on aarch64"),
            host_runtimes=_json(host_versions, "reading the runtime versions"),
        )
    return checks


def write_inputs(model: ModelInfo, folder: Path, out: Path) -> tuple[list[Path], str]:
    """Seeded inputs of the model's shape as .npy files, and what they are in words: token ids
    over the vocabulary for a text model, standard-normal values otherwise."""
    shape = tuple(int(d) for d in model.input_shape)
    if any(d < 0 for d in shape):
        raise ConfigError(
            f"--verify-aarch64 needs a fixed input shape; {model.name} takes "
            f"{'x'.join(map(str, shape))} (-1: open)"
        )
    rng = np.random.default_rng(SEED)
    tokenizer = model.preprocessing.get("tokenizer")
    if tokenizer:
        vocab = len((folder / tokenizer["vocab"]).read_text(encoding="utf-8").splitlines())
        batch = rng.integers(0, vocab, (SAMPLES, *shape))
        described = f"{SAMPLES} seeded rows of token ids uniform over the vocabulary"
    else:
        batch = rng.standard_normal((SAMPLES, *shape)).astype(np.float32)
        described = f"{SAMPLES} seeded standard-normal arrays of the model's input shape"
    out.mkdir(parents=True)
    paths = [out / f"{i:03d}.npy" for i in range(SAMPLES)]
    for path, sample in zip(paths, batch, strict=True):
        np.save(path, sample)
    return paths, described


def _unpack_inside(root: Path, python: str, scratch: Path, tarball: Path, name: str) -> str:
    """The tarball unpacked by the aarch64 python and its SHA256SUMS checked by the aarch64
    sha256sum; the bundle's folder inside ``root``."""
    shutil.copyfile(tarball, scratch / tarball.name)
    inside = "/" + scratch.relative_to(root).as_posix()
    steps = [
        ([python, "-m", "tarfile", "-e", f"{inside}/{tarball.name}", f"{inside}/unpacked"], "/"),
        (["/usr/bin/sha256sum", "--quiet", "-c", "SHA256SUMS"], f"{inside}/unpacked/{name}"),
    ]
    for argv, cwd in steps:
        result = arm.run_inside(root, argv, RUN_TIMEOUT_S, cwd)
        if result.returncode != 0:
            raise arm.Aarch64Error(f"{' '.join(argv[-2:])} on aarch64: {arm.last_line(result)}")
    return f"{inside}/unpacked/{name}"


def _run_args(entry: ArtifactEntry, inputs: list[str]) -> list[str]:
    return ["--model", entry.file, "--top", str(ALL_CLASSES), "--json", *inputs]


def _host(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return arm.run(argv, f"{RUNNER} here", RUN_TIMEOUT_S, cwd=cwd)


def _json(result: subprocess.CompletedProcess[str], what: str) -> Any:
    """A program's JSON output, or its failure as one line."""
    if result.returncode == 0:
        try:
            return json.loads(result.stdout)
        except ValueError:
            pass
    raise arm.Aarch64Error(f"{what} failed: {arm.last_line(result)}")


def compare(host: list[dict[str, Any]], emulated: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1 agreement (%), max |Δscore| (to run.py's 1e-6) and sample count of two run.py
    --json outputs of the same inputs: the top-1 is the label run.py ranks first."""
    ours, theirs = _rows(host), _rows(emulated)
    if len(ours) != len(theirs):
        raise arm.Aarch64Error(f"{RUNNER} gave {len(theirs)} results on aarch64, {len(ours)} here")
    same = [a[0]["index"] == b[0]["index"] for a, b in zip(ours, theirs, strict=True)]
    width = 1 + max(item["index"] for ranked in ours + theirs for item in ranked)
    gap = np.abs(_scores(ours, width) - _scores(theirs, width)).max()
    return {
        "top1_agreement": 100.0 * sum(same) / len(same),
        "max_abs_diff": round(float(gap), 6),
        "samples": len(same),
    }


def _rows(results: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Every input's ranked predictions, in input order."""
    return [ranked for result in results for ranked in result["predictions"]]


def _scores(rows: list[list[dict[str, Any]]], width: int) -> np.ndarray:
    """Samples × classes, each score at its class index."""
    scores = np.zeros((len(rows), width))
    for i, ranked in enumerate(rows):
        for item in ranked:
            scores[i, item["index"]] = item["score"]
    return scores
