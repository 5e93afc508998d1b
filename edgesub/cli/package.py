"""``edgesub package``: a bundle for a phone app or a Raspberry Pi, from a run or an artifact."""

from __future__ import annotations

import math
from pathlib import Path

import click

from edgesub.cli.app import THREADS, cli, hold_lock, print_json
from edgesub.console import out
from edgesub.errors import ConfigError


def parse_normalize(text: str | None) -> tuple[float, ...] | None:
    """``--normalize 127.5,127.5`` (or per-channel means then stds) as floats."""
    if text is None:
        return None
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"expected numbers like 127.5,127.5, got {text!r}", param_hint="--normalize"
        ) from None
    if not all(math.isfinite(v) for v in values):  # an inf std would zero every input
        raise click.BadParameter(f"expected finite numbers, got {text!r}", param_hint="--normalize")
    return values


@cli.command("package")
@click.argument("source", type=click.Path())
@click.option("--target", required=True, help="android or raspberry-pi (required).")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="New folder for the bundle (must not exist).",
)
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    help="Artifact file name to bundle (repeatable; default: the recommended ones).",
)
@click.option(
    "--labels",
    type=click.Path(dir_okay=False),
    help="Class names, one per line, for a model file without manifest.json "
    "(default: the manifest's).",
)
@click.option(
    "--normalize",
    metavar="MEAN,STD",
    help="Normalisation of 0..255 pixel values, (pixel - MEAN) / STD (or C means, then C stds), "
    "for a model file without manifest.json (default: the manifest's).",
)
@click.option(
    "--device",
    help="Device profile id to choose the files for, by its measured or estimated latency "
    "(default: the files recommended on the converting host; ids: `edgesub devices`).",
)
@click.option(
    "--threads",
    type=THREADS,
    default=1,
    show_default=True,
    help="CPU threads the device runs the model at, for --device's estimates.",
)
@click.option(
    "--profiles",
    "profiles_dir",
    type=click.Path(file_okay=False),
    help="Folder of extra device profiles, *.toml (default: $EDGESUB_PROFILES if set).",
)
@click.option("--model-version", help="Version in the android metadata (default: sha256 prefix).")
@click.option(
    "--verify-aarch64",
    is_flag=True,
    help="raspberry-pi: run the bundle's run.py on an emulated aarch64 Debian too (qemu, as "
    "root; built once into ~/.cache/edgesub or $EDGESUB_AARCH64_CACHE) and record its agreement "
    "with this host in manifest.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def package_command(
    source: str,
    target: str,
    out_dir: str,
    artifacts: tuple[str, ...],
    labels: str | None,
    normalize: str | None,
    device: str | None,
    threads: int,
    profiles_dir: str | None,
    model_version: str | None,
    verify_aarch64: bool,
    as_json: bool,
) -> None:
    """Bundle SOURCE (a run directory, an artifacts folder or a .tflite/.onnx file) for a device.

    android: the .tflite with TFLite Model Metadata for MediaPipe Tasks, labels.txt and an assets/
    folder to copy into an app. raspberry-pi: a folder and .tar.gz with the artifacts, manifest,
    labels, requirements.txt (no torch), run.py and SHA256SUMS. Nothing is left at --out on error.

    \b
    Examples:
      edgesub package runs/default --target android --out bundles/android
      edgesub package runs/default --target raspberry-pi --out bundles/pi
      edgesub package runs/default --target raspberry-pi --device raspberry-pi-4b --out pi4
      sudo edgesub package runs/default --target raspberry-pi --verify-aarch64 --out pi
    """
    from edgesub.package import PackageRequest, package
    from edgesub.rundir import RunDir

    if verify_aarch64 and target != "raspberry-pi":
        raise ConfigError("--verify-aarch64 checks raspberry-pi bundles; drop it or the --target")
    run = RunDir(Path(source))
    if run.config.is_file():
        hold_lock(run, shared=True)  # no convert may swap the artifacts while they are copied
    request = PackageRequest(
        out=Path(out_dir),
        artifacts=artifacts,
        labels=Path(labels) if labels else None,
        normalize=parse_normalize(normalize),
        model_version=model_version,
        device=device,
        threads=threads,
        profiles_dir=profiles_dir,
        verify_aarch64=verify_aarch64,
    )
    summary = package(Path(source), target, request)
    if as_json:
        print_json(summary)
        return
    out.print(f"{summary['target']} bundle in {summary['out']}:")
    for name in summary["files"]:
        size = (Path(out_dir) / name).stat().st_size
        out.print(f"  {name}  ({size:,} bytes)")
    parity = summary.get("parity")
    if parity:
        out.print(
            f"checked against {summary['artifact']}: max |Δprobability| "
            f"{parity['max_abs_diff']:.1e}, top-1 agreement {parity['top1_agreement']:.0f} % "
            f"on {parity['samples']} inputs"
        )
    for name, check in summary.get("aarch64_check", {}).items():
        out.print(
            f"{name} on aarch64 ({check['qemu_cpu']}, emulated: no timings): top-1 agreement "
            f"{check['top1_agreement']:.0f} %, max |Δscore| {check['max_abs_diff']:.1e} against "
            f"this host on {check['samples']} inputs"
        )
