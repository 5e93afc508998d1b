#!/usr/bin/env python3
"""Run this bundle's model: ``python3 run.py INPUT... [--model FILE] [--top K] [--json]``.

Written into Raspberry Pi bundles by ``edgesub package`` as ``run.py``; it imports nothing from
edgesub, only numpy, the model's runtime (ai-edge-litert or tflite-runtime for .tflite,
onnxruntime for .onnx) and Pillow for image files. Everything about the model (preprocessing,
labels, tokenizer) is read from the manifest.json beside it, the way ``edgesub predict`` reads
it, and each model file is checked against the manifest's sha256 before it runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
PIL_MODES = {"grey": "L", "rgb": "RGB"}
IMAGE_KEYS = ("color", "size", "value_range", "scale", "mean", "std")
# the manifest's resize filters (edgesub.data.preprocess.RESIZE_FILTERS: this file runs alone)
RESIZE_FILTERS = {"area": "BOX", "bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST"}
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", re.IGNORECASE)


class BundleError(Exception):
    """A problem with the bundle or an input, shown as one line."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="image files, .npy arrays, or text (text model)")
    parser.add_argument("--model", help="model file in this bundle (default: the recommended one)")
    parser.add_argument("--top", type=int, default=5, help="labels to show per input")
    parser.add_argument("--invert", action="store_true", help="invert images (dark ink on white)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    try:
        results = predict(args.inputs, args.model, args.top, args.invert, args.threads)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for result in results:
        for n, ranked in enumerate(result["predictions"]):
            print(f"{result['input']}" + (f" [{n}]" if len(result["predictions"]) > 1 else ""))
            for rank, item in enumerate(ranked, 1):
                print(f"  {rank}. {item['label']}  {item['score']:.4f}")
    return 0


def predict(
    inputs: list[str], model_file: str | None, top: int, invert: bool, threads: int
) -> list[dict[str, Any]]:
    manifest = read_manifest()
    entry = choose(manifest, model_file)
    model = manifest["model"]
    score = SCORERS.get(model.get("output_kind", "logits"))
    if score is None:
        raise BundleError(f"manifest.json: unknown output_kind {model['output_kind']!r}")
    single_input(entry, model)
    batches = [read_input(source, model, invert) for source in inputs]  # bad input: fail first
    run = runtime_call(entry["file"], "load", lambda: load(HERE / entry["file"], threads))
    results = []
    for source, batch in zip(inputs, batches, strict=True):
        outputs = runtime_call(entry["file"], "run", lambda b=batch: run(b))
        if not np.isfinite(outputs).all():
            raise BundleError(f"{entry['file']} outputs NaN or infinity for {source}")
        rows = outputs.reshape(len(outputs), -1)
        ranked = [top_labels(score(row), model.get("labels"), top) for row in rows]
        results.append({"artifact": entry["file"], "input": source, "predictions": ranked})
    return results


def single_input(entry: dict[str, Any], model: dict[str, Any]) -> None:
    """run.py feeds one input; a model of several (token ids and an attention mask) is refused
    in one line that says what runs it."""
    inputs = entry.get("inputs") or model.get("inputs") or []
    if len(inputs) > 1:
        names = ", ".join(str(spec.get("name")) for spec in inputs)
        raise BundleError(
            f"{entry['file']} takes {len(inputs)} inputs ({names}); run.py feeds single-input "
            f"models only: run it with `edgesub predict {entry['file']} INPUTS.npz` (one array "
            "per input name)"
        )


def read_manifest() -> dict[str, Any]:
    """manifest.json beside run.py, with the tables run.py reads."""
    try:
        manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # missing, unreadable, not JSON
        raise BundleError(f"cannot read this bundle's manifest.json: {headline(exc)}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("model"), dict):
        raise BundleError("manifest.json is not an edgesub manifest (no 'model' table)")
    if not isinstance(manifest.get("artifacts"), list) or not manifest["artifacts"]:
        raise BundleError("manifest.json lists no model files")
    return manifest


def runtime_call(file: str, action: str, call: Any) -> Any:
    """``call()``, its failure one line: runtimes raise their own exception types."""
    try:
        return call()
    except ImportError as exc:
        raise BundleError(
            f"cannot {action} {file}: {headline(exc)} (pip install -r requirements.txt)"
        ) from None
    except Exception as exc:  # onnxruntime's errors derive from Exception alone
        raise BundleError(f"cannot {action} {file}: {headline(exc)}") from None


def choose(manifest: dict[str, Any], name: str | None) -> dict[str, Any]:
    """The named artifact, else the recommended .tflite, else the first one; sha256 checked."""
    entries = {entry["file"]: entry for entry in manifest["artifacts"]}
    recommended = (manifest.get("recommended") or {}).get("by_format") or {}
    name = name or recommended.get("tflite") or next(iter(recommended.values()), None)
    entry = entries.get(name or next(iter(entries)))
    if entry is None:
        raise BundleError(f"no model {name} in this bundle; it has {', '.join(entries)}")
    file = HERE / entry["file"]
    if not file.is_file():
        raise BundleError(f"{entry['file']} is missing from this bundle (manifest.json lists it)")
    if hashlib.sha256(file.read_bytes()).hexdigest() != entry["sha256"]:
        raise BundleError(f"{entry['file']} does not match its sha256 in manifest.json")
    return entry


def load(path: Path, threads: int) -> Any:
    """A function from a float (or token id) batch to float logits, for .tflite or .onnx."""
    if path.suffix == ".onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(str(path), options, ["CPUExecutionProvider"])
        spec = session.get_inputs()[0]
        dtype = np.int64 if "int64" in spec.type else np.float32
        return lambda x: session.run(None, {spec.name: x.astype(dtype)})[0].astype(np.float32)
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    spec, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(x: np.ndarray) -> np.ndarray:
        rows = []
        for sample in x:  # the exported files take a batch of one
            interpreter.set_tensor(spec["index"], to_input(sample[None], spec))
            interpreter.invoke()
            rows.append(from_output(interpreter.get_tensor(out["index"]), out)[0])
        return np.stack(rows)

    return run


def to_input(x: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    scale, zero_point = spec["quantization"]
    dtype = np.dtype(spec["dtype"])
    if dtype.kind in "iu" and scale:
        info = np.iinfo(dtype)
        return np.clip(np.round(x / np.float32(scale)) + zero_point, info.min, info.max).astype(
            dtype
        )
    return x.astype(dtype)


def from_output(y: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    scale, zero_point = spec["quantization"]
    if y.dtype.kind in "iu" and scale:
        return (y.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
    return y.astype(np.float32)


def read_input(source: str, model: dict[str, Any], invert: bool) -> np.ndarray:
    """A batch for the model: an image file, a .npy array, or the text itself."""
    pre = model.get("preprocessing") or {}
    path = Path(source)
    shape = [int(d) for d in model["input_shape"]]
    if path.suffix.lower() == ".npy" and path.is_file():
        return fitting(load_npy(path), shape, path)
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return fitting(image(path, pre, invert), shape, path)
    if pre.get("input") == "text" and isinstance(pre.get("tokenizer"), dict):
        return tokens(source, pre["tokenizer"])
    if path.suffix.lower() in {".npy", *IMAGE_SUFFIXES}:
        raise BundleError(f"{source}: no such file")
    raise BundleError(f"{source} is not an image or .npy file (and this is not a text model)")


def fitting(x: np.ndarray, shape: list[int], path: Path) -> np.ndarray:
    """A batch of finite values: one sample of ``shape`` or N of them (-1: any)."""
    sample = x.shape[1:] if x.ndim == len(shape) + 1 else x.shape
    fits = len(sample) == len(shape) and all(
        d in (-1, s) for d, s in zip(shape, sample, strict=True)
    )
    if not fits or x.size == 0:
        wanted = "x".join("?" if d == -1 else str(d) for d in shape)
        raise BundleError(
            f"{path} holds an array of shape {'x'.join(map(str, x.shape))}; the model takes "
            f"one {wanted} sample or a batch of them (N x {wanted})"
        )
    if not np.isfinite(x).all():
        raise BundleError(f"{path} contains NaN or inf values")
    return x[None] if x.ndim == len(shape) else x


def load_npy(path: Path) -> np.ndarray:
    """A numeric array from ``path``, never unpickling it."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # pickled, object dtype, truncated, junk
        pickled = "pickle" in str(exc)
        why = "it holds pickled data, which run.py never loads" if pickled else headline(exc)
        raise BundleError(
            f"{path} is not a plain .npy array ({why}); save a numeric array with numpy.save"
        ) from None
    if x.dtype.kind not in "biuf":
        raise BundleError(f"{path} holds {x.dtype} values; the model takes numbers")
    return x


def image(path: Path, pre: dict[str, Any], invert: bool) -> np.ndarray:
    """The manifest's image preprocessing: 8-bit pixels onto value_range, then normalised."""
    missing = [key for key in IMAGE_KEYS if key not in pre]
    if pre.get("input") != "image" or missing:
        lacks = f" (lacks {', '.join(missing)})" if missing else ""
        raise BundleError(
            f"cannot read {path}: the manifest does not describe image preprocessing{lacks}; "
            "give the model input as a .npy array instead"
        )
    if pre["color"] not in PIL_MODES:
        raise BundleError(f"the manifest's colour mode {pre['color']!r} cannot be read")
    height, width = pre["size"]
    pixels = decoded(path, PIL_MODES[pre["color"]], (width, height), pre.get("resize") or "area")
    if invert:
        pixels = 1.0 - pixels
    low, high = pre["value_range"]
    raw = low + pixels * (high - low)
    raw = raw[:, :, None] if raw.ndim == 2 else raw
    nchw = pre.get("layout", "NCHW") == "NCHW"
    batch = raw.transpose(2, 0, 1)[None] if nchw else raw[None]
    shape = (1, -1, 1, 1) if nchw else (1, 1, 1, -1)
    mean = np.asarray(pre["mean"], dtype=np.float64).reshape(shape)
    std = np.asarray(pre["std"], dtype=np.float64).reshape(shape)
    return ((batch * float(pre["scale"]) - mean) / std).astype(np.float32)


def decoded(path: Path, mode: str, size: tuple[int, int], resize: str = "area") -> np.ndarray:
    """The picture in ``mode`` at ``size`` (resized with the manifest's filter), 0..1; what
    Pillow refuses (not an image, truncated, a decompression bomb, including the sizes Pillow
    only warns about) is a BundleError."""
    from PIL import Image

    if resize not in RESIZE_FILTERS:
        raise BundleError(f"the manifest's resize filter {resize!r} is not one run.py knows")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                resample = getattr(Image.Resampling, RESIZE_FILTERS[resize])
                picture = picture.convert(mode).resize(size, resample)
                return np.asarray(picture, dtype=np.float32) / 255.0
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BundleError(
            f"{path} is too large to decode safely ({headline(exc)}); shrink it first"
        ) from None
    except Image.UnidentifiedImageError:
        raise BundleError(f"{path} is not an image run.py can read (not a known format)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's errors for bad files
        raise BundleError(f"{path} is not an image run.py can read: {headline(exc)}") from None


def headline(exc: BaseException) -> str:
    """An exception's first line, else its type: one line for the user."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def tokens(text: str, tokenizer: dict[str, Any]) -> np.ndarray:
    """Word ids as the tokenizer record says: lowercase, split, look up, pad with id 0."""
    try:
        vocab = (HERE / tokenizer["vocab"]).read_text(encoding="utf-8").splitlines()
    except (OSError, KeyError) as exc:
        raise BundleError(f"cannot read this bundle's vocabulary: {headline(exc)}") from None
    ids = {word: i for i, word in enumerate(vocab)}
    words = WORD.findall(text.lower() if tokenizer.get("lowercase", True) else text)
    row = [ids.get(word, ids["[UNK]"]) for word in words][: tokenizer["max_length"]]
    return np.asarray([row + [0] * (tokenizer["max_length"] - len(row))], dtype=np.int64)


def softmax(row: np.ndarray) -> np.ndarray:
    shifted = np.exp(row.astype(np.float64) - row.max())
    return shifted / shifted.sum()


# The manifest's model.output_kind → scores of one output row: only logits need a softmax.
SCORERS = {"logits": softmax, "probabilities": np.asarray, "raw": np.asarray}


def top_labels(scores: np.ndarray, labels: list[str] | None, top: int) -> list[dict[str, Any]]:
    """The ``top`` classes by score, best first."""
    order = np.argsort(-scores, kind="stable")[: max(1, top)]
    return [
        {
            "index": int(i),
            "label": labels[i] if labels and i < len(labels) else str(int(i)),
            "score": round(float(scores[i]), 6),
        }
        for i in order
    ]


if __name__ == "__main__":
    sys.exit(main())
