"""``edgesub predict``: run one artifact on an image, a .npy array, a .npz of one array per input
name (a model with several inputs: token ids and a mask) or text, using its manifest.

A sanity check on the device itself, so it needs only numpy and a runtime (onnxruntime or a
TFLite interpreter); Pillow only to read image files. For a text model (manifest preprocessing
``input: text``) INPUT is the text itself, tokenized with the vocab.txt beside the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgesub.converters import feeds as feeds_mod
from edgesub.converters.calibration import load_array
from edgesub.converters.formats import format_for_file
from edgesub.converters.manifest import MANIFEST_NAME, manifest_entry
from edgesub.converters.manifest_record import ArtifactEntry, ModelInfo
from edgesub.converters.outputs import scores
from edgesub.converters.preprocessing import image_input
from edgesub.data.tokenizer import text_input
from edgesub.errors import DataError, ModelFileError
from edgesub.limits import check_model_file, regular_file_size
from edgesub.registry import Registry

# Input file readers by extension: (path, the manifest's model or None, invert) → float32 batch.
INPUT_READERS: Registry[Any] = Registry("input file type")


@INPUT_READERS.register(".npy")
def _read_npy(path: Path, model: ModelInfo | None, invert: bool) -> np.ndarray:
    """A preprocessed model input, one sample or a batch (N × input shape)."""
    x = load_array(path, "input")
    if x.dtype.kind not in "fiu":
        raise DataError(f"{path} holds {x.dtype} values; the model takes numbers")
    return x.astype(np.float32)


def _read_image(path: Path, model: ModelInfo | None, invert: bool) -> np.ndarray:
    if model is None:
        raise ModelFileError(
            "an image input needs the artifact's manifest.json (for its preprocessing); "
            "pass --manifest or give a preprocessed .npy array"
        )
    return image_input(path, model.preprocessing, invert=invert)


for _suffix in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"):
    INPUT_READERS.add(_suffix, _read_image)


def predict(
    artifact: Path,
    source: str,
    *,
    manifest: Path | None = None,
    top: int = 5,
    invert: bool = False,
) -> dict[str, Any]:
    """Top-``top`` labels for each input sample, scored as the manifest's ``output_kind`` says
    (softmax of logits; a model's own probabilities as they are)."""
    artifact = Path(artifact)
    check_model_file(artifact)
    fmt = format_for_file(artifact)
    manifest_path = Path(manifest) if manifest else artifact.parent / MANIFEST_NAME
    model, entry = _manifest(artifact, manifest)
    if Path(source).suffix.lower() == ".npz":
        x: Any = _read_feeds(Path(source), fmt, artifact)
        n = feeds_mod.count(x)
    else:
        x = _read_input(source, model, invert, manifest_path.parent)
        x = _batched(x, _input_shape(model, fmt, artifact), source)
        if not np.isfinite(x).all():
            raise DataError(f"input {source} contains NaN or inf values")
        n = len(x)
    outputs = fmt.run(artifact, x, 1).reshape(n, -1)
    if not np.isfinite(outputs).all():
        raise ModelFileError(
            f"{artifact.name} outputs NaN or infinity for {source} (NaN weights or an "
            "overflow?); its scores would mean nothing"
        )
    labels = list(model.labels) if model is not None and model.labels else None
    kind = model.output_kind if model is not None else None
    return {
        "artifact": str(artifact),
        "input": source,
        "format": fmt.name,
        "precision": entry.precision if entry else None,
        "manifest": model is not None,
        "predictions": [_ranked(scores(row, kind), labels, top) for row in outputs],
    }


def _manifest(
    artifact: Path, manifest: Path | None
) -> tuple[ModelInfo | None, ArtifactEntry | None]:
    """The manifest given, else the one beside the artifact, else none (raw arrays only)."""
    path = Path(manifest) if manifest else artifact.parent / MANIFEST_NAME
    if manifest is None and not path.is_file():
        return None, None
    return manifest_entry(path, artifact)


def _read_input(source: str, model: ModelInfo | None, invert: bool, folder: Path) -> np.ndarray:
    """An input file by its type, or ``source`` itself as text for a text model."""
    pre = model.preprocessing if model is not None else {}
    path = Path(source)
    suffix = path.suffix.lower()
    if pre.get("input") == "text" and not (suffix in INPUT_READERS and path.is_file()):
        return text_input(source, pre.get("tokenizer") or {}, folder)
    if suffix in INPUT_READERS:
        regular_file_size(path, "input file", DataError)  # a FIFO would block the reader
        return INPUT_READERS.get(suffix)(path, model, invert)
    if path.is_file():
        known = ", ".join(INPUT_READERS.names())
        raise DataError(f"cannot read {source}: unsupported input file type (known: {known})")
    kind = pre.get("input", "array")
    raise DataError(
        f"{source!r} is not an input file; text input needs a text model whose manifest names "
        f"a tokenizer (this artifact takes {kind} input) — give an image or a .npy file"
    )


def _read_feeds(path: Path, fmt: Any, artifact: Path) -> Any:
    """A .npz with one array per input name (N × each input; for a .tflite, the names of its
    signature, which are the ONNX file's), checked like calibration data; a file of one input
    gets its array."""
    inputs = feeds_mod.model_inputs(fmt.describe(artifact))
    feeds = feeds_mod.load_feeds(path, inputs, "input")
    return feeds[inputs[0].name] if len(inputs) == 1 else feeds


def _input_shape(model: ModelInfo | None, fmt: Any, artifact: Path) -> tuple[int, ...]:
    if model is not None:
        return tuple(int(d) for d in model.input_shape)
    inputs = fmt.describe(artifact)["inputs"]
    return tuple(int(d) for d in inputs[0]["shape"][1:])


def _batched(x: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
    """Add the batch axis to one sample; check the per-sample shape (-1 dims match anything)."""
    if x.ndim == len(shape):
        x = x[None]
    fits = x.ndim == len(shape) + 1 and all(
        d < 0 or d == s for d, s in zip(shape, x.shape[1:], strict=True)
    )
    if not fits or len(x) == 0:
        wanted = "×".join("?" if d < 0 else str(d) for d in shape)
        raise DataError(f"input {source} has shape {tuple(x.shape)}; the model takes {wanted}")
    return np.ascontiguousarray(x)


def _ranked(row: np.ndarray, labels: list[str] | None, top: int) -> list[dict[str, Any]]:
    """The ``top`` classes by score, best first."""
    order = np.argsort(-row, kind="stable")[: max(1, top)]
    return [
        {
            "index": int(i),
            "label": labels[i] if labels and i < len(labels) else str(int(i)),
            "score": round(float(row[i]), 6),
        }
        for i in order
    ]
