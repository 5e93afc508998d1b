"""Conversions from files rather than a run directory: any ONNX model, or weights + architecture.

An ONNX file is quantised with ONNX Runtime and verified against itself in ONNX Runtime; weights
(.safetensors) plus a student.json-style architecture config are rebuilt into the deployable
torch model and go through :func:`edgesub.converters.convert` like a run's student. Keras files
and SavedModel directories register here from :mod:`edgesub.converters.keras_source`, PyTorch
and Hugging Face models (``file.py:factory``, ``.pt2``, ``hf:DIR``) from
:mod:`edgesub.converters.torch_sources`.

``SOURCES`` is keyed by file suffix; a source a SOURCE names by its form instead (a SavedModel
directory, ``file.py:factory``, ``hf:DIR``) is also in ``SPEC_KINDS``, which recognises it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.console import err
from edgesub.converters import feeds as feeds_mod
from edgesub.converters.artifact_set import convert, finish, prepare_output, publish_artifact
from edgesub.converters.calibration import (
    ArrayData,
    ArraySplit,
    checked_batch,
    held_out,
    is_token_ids,
    load_array,
    read_labels,
)
from edgesub.converters.formats import artifact_format
from edgesub.converters.manifest import source_model_section
from edgesub.converters.manifest_record import TensorSpec
from edgesub.converters.onnx_export import quantize_onnx
from edgesub.converters.outputs import onnx_ends_in_softmax, output_kind
from edgesub.converters.staging import staged_output
from edgesub.converters.verify import Reference
from edgesub.digest import file_sha256
from edgesub.errors import ConfigError, ConversionError, DataError, ModelFileError, first_line
from edgesub.jsonfile import loads_finite
from edgesub.limits import (
    check_model_file,
    parse_named_shapes,
    read_text_limited,
    regular_file_size,
)
from edgesub.registry import Registry
from edgesub.teachers.source import PICKLE_SUFFIXES, SAFE_FORMATS

if TYPE_CHECKING:
    import torch

    from edgesub.config import ConvertConfig

# A TensorFlow SavedModel is a directory with this file; SOURCES knows it by SAVED_MODEL_KEY.
SAVED_MODEL_FILE = "saved_model.pb"
SAVED_MODEL_KEY = "saved_model"
FACTORY_KEY = "factory"  # file.py:factory with --weights
HF_KEY = "hf"  # hf:DIR
PT2_KEY = ".pt2"
ARCH_KEYS = ("arch", "width", "k", "input_shape", "num_classes")
DEFAULT_WEIGHTS_DATASET = "digits"  # what .safetensors weights are verified on by default
# options only some sources read: the request field → (its flag, the SOURCES keys that read it)
SOURCE_OPTIONS = {
    "weights": ("--weights", (FACTORY_KEY,)),
    "input_shape": ("--input-shape", (FACTORY_KEY, PT2_KEY)),
    "arch_config": ("--arch-config", (".safetensors",)),
    "input_shapes": ("--input-shape NAME=...", (".onnx", HF_KEY)),
    "labels_npy": ("--labels-npy", (".onnx", HF_KEY)),
}


@dataclass(frozen=True)
class SourceRequest:
    """What ``edgesub convert FILE`` was asked; None means "the source's default"."""

    cfg: ConvertConfig
    out: Path | None = None
    formats: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    calibration: Path | None = None
    labels: Path | None = None
    arch_config: Path | None = None
    weights: Path | None = None  # the .safetensors of a file.py:factory model
    input_shape: tuple[int, ...] | None = None  # without the batch axis
    # an ONNX file's --input-shape: input name (None: its only input) → shape
    input_shapes: dict[str | None, tuple[int, ...]] | None = None
    labels_npy: Path | None = None  # class indices of the --calibration samples
    dataset: str | None = None
    name: str | None = None
    progress: bool = True
    measure_latency: bool = True


Source = Callable[[Path, SourceRequest, Path], list[dict[str, Any]]]
SOURCES: Registry[Source] = Registry("model file type")


@dataclass(frozen=True)
class SpecKind:
    """A SOURCE recognised by its form rather than its file suffix."""

    matches: Callable[[str], bool]
    path: Callable[[str], Path]  # the file or folder it names (artifacts go beside it)
    shown: str  # how the "cannot convert" message names it


SPEC_KINDS: Registry[SpecKind] = Registry("model source form")


def convert_source(spec: str | Path, request: SourceRequest) -> tuple[Path, list[dict[str, Any]]]:
    """Convert a model SOURCE (a file by its extension, or a form in SPEC_KINDS); return the
    output folder and manifest entries."""
    key, path = source_key(str(spec)) or ("", Path(spec))
    if path.suffix.lower() in PICKLE_SUFFIXES and key not in SPEC_KINDS:
        raise ModelFileError(
            f"{path.name} is a pickle ({path.suffix}), which edgesub never loads (unpickling "
            f"runs code); save the model as {SAFE_FORMATS}"
        )
    if key not in SOURCES:
        files = ", ".join(name for name in SOURCES.names() if name not in SPEC_KINDS)
        forms = "".join(f" {SPEC_KINDS.get(k).shown}," for k in SPEC_KINDS if k in SOURCES)
        raise ModelFileError(
            f"cannot convert {path.name}: expected a run directory,{forms} or a {files} file"
        )
    _check_options(key, request)
    if key not in SPEC_KINDS:  # a FIFO or device is never read as a model
        regular_file_size(path, "model file", ModelFileError)
    out = Path(request.out) if request.out else path.with_name(f"{path.stem}_artifacts")
    return out, SOURCES.get(key)(Path(spec), request, out)


def source_key(spec: str) -> tuple[str, Path] | None:
    """(the SOURCES key, the file or folder named) of a model SOURCE; None for what is not
    one (a run directory)."""
    for key in SPEC_KINDS:
        kind = SPEC_KINDS.get(key)
        if kind.matches(spec):
            return key, kind.path(spec)
    path = Path(spec)
    if path.is_dir() or not path.suffix:
        return None
    return path.suffix.lower(), path


def _check_options(key: str, request: SourceRequest) -> None:
    """An option the source does not read is a mistake, not something to ignore."""
    for field, (flag, keys) in SOURCE_OPTIONS.items():
        if getattr(request, field) is not None and key not in keys:
            users = " and ".join(SPEC_KINDS.get(k).shown if k in SPEC_KINDS else k for k in keys)
            raise ConfigError(f"{flag} applies to a {users} SOURCE only")


def is_saved_model(path: Path) -> bool:
    """A TensorFlow SavedModel: a directory holding ``saved_model.pb``."""
    return (Path(path) / SAVED_MODEL_FILE).is_file()


def input_shape_fields(spec: str, values: tuple[str, ...]) -> dict[str, Any]:
    """The SourceRequest fields of repeated ``--input-shape`` values (one parser with
    profile's, :func:`edgesub.limits.parse_dims`): an ONNX file takes ``NAME=1,128`` per input,
    or one shape for its only input, with or without the batch axis; a torch SOURCE takes one
    shape without the batch axis (3,224,224)."""
    if not values:
        return {}
    shapes = parse_named_shapes(values)
    key = (source_key(spec) or ("", None))[0]
    if key in (".onnx", HF_KEY):
        return {"input_shapes": shapes}
    if set(shapes) != {None}:
        raise ConfigError(
            "--input-shape NAME=... applies to an .onnx SOURCE; a torch SOURCE takes one shape "
            "without the batch axis, e.g. --input-shape 3,224,224"
        )
    return {"input_shape": shapes[None]}


SPEC_KINDS.add(SAVED_MODEL_KEY, SpecKind(is_saved_model, Path, "a SavedModel directory"))


@SOURCES.register(".onnx")
def convert_onnx_file(src: Path, request: SourceRequest, out: Path) -> list[dict[str, Any]]:
    """Quantise an fp32 ONNX file to each precision and verify it against the source in ORT.

    Any input signature: several inputs, token ids, masks (:mod:`feeds`). Defaults: fp32 (the
    pre-processed graph, as a baseline) plus static int8 when calibration data is given, else
    dynamic int8, which needs none.
    """
    check_model_file(src)  # protobuf's 2 GiB cap, before the file is parsed
    cfg = _onnx_cfg(request)
    fmt = artifact_format("onnx")
    io = fmt.describe(src)  # a corrupt file fails here as ModelFileError
    inputs = feeds_mod.resolve_shapes(feeds_mod.model_inputs(io), request.input_shapes)
    out_shape = io["outputs"][0]["shape"]
    num_classes = out_shape[-1] if len(out_shape) == 2 and out_shape[-1] > 0 else None
    labels = read_labels(request.labels)
    if labels and num_classes and len(labels) != num_classes:
        raise DataError(f"{len(labels)} labels given, the model outputs {num_classes} classes")
    vocabulary = feeds_mod.vocabulary_sizes(src)
    data = model_feeds(src.name, vocabulary, request, inputs, cfg.precisions, num_classes)
    name = request.name or src.stem
    out = prepare_output(out, name)
    logits = fmt.run(src, data.verify, 1)
    kind = output_kind(cfg.outputs, logits, ends_in_softmax=onnx_ends_in_softmax(src))
    reference = Reference(data.verify, data.y, logits, kind, synthetic=data.synthetic)
    source = {"kind": "onnx", "file": src.name, "sha256": file_sha256(src)}
    first = data.verify[inputs[0].name]
    dims = [None if d is None else int(d) for d in inputs[0].dims[1:]]
    model = source_model_section(
        name, num_classes, labels, dims, {}, source, data.verified_on, kind
    ).replace(
        inputs=verified_specs(inputs, data.verify),
        outputs=tuple(TensorSpec.from_dict(o, src.name) for o in io["outputs"]),
        calibration=data.calibration_kind if "int8" in cfg.precisions else None,
    )
    with staged_output(out) as stage:
        entries = []
        for precision in cfg.precisions:
            make = functools.partial(
                quantize_onnx,
                src,
                precision=precision,
                calibration=data.calibration,
                fixed_batch=not cfg.dynamic_batch,
                activations=cfg.onnx_int8_activations,
            )
            target = stage / f"{name}_{precision}{fmt.extension}"
            entries.append(publish_artifact(fmt, precision, make, reference, target, cfg))
        manifest = finish(
            stage,
            model,
            entries,
            measure_latency=request.measure_latency,
            input_shape=(1, *first.shape[1:]),  # the data's own size fixes dynamic dims
            feeds=feeds_mod.first_sample(data.verify),
        )
    return [entry.to_dict() for entry in manifest.artifacts]


@dataclass(frozen=True)
class FeedData:
    """What a model with named inputs (an ONNX file, a Hugging Face text classifier) is
    calibrated and verified on, by input name."""

    calibration: feeds_mod.Feeds | None
    verify: feeds_mod.Feeds
    y: np.ndarray | None  # the verification samples' labels (--labels-npy)
    verified_on: str
    calibration_kind: str | None  # "data" or "synthetic"
    synthetic: bool = False  # ``verify`` was generated (no data given)


def model_feeds(
    label: str,
    vocabulary: dict[str, int],
    request: SourceRequest,
    inputs: list[feeds_mod.InputSpec],
    precisions: tuple[str, ...],
    num_classes: int | None,
) -> FeedData:
    """The user's data (checked by name, split into calibration and held-out verification,
    labels alongside), else generated inputs where that is sound (:mod:`feeds`; token ids
    within ``vocabulary``, input name → its size); ``label`` names the model in warnings."""
    if request.calibration is not None:
        path = Path(request.calibration)
        given = feeds_mod.load_feeds(path, inputs)
        n = feeds_mod.count(given)
        y = None
        if request.labels_npy is not None:
            y = feeds_mod.load_label_array(request.labels_npy, n, num_classes, path.name)
        calibration, verify, y_verify = feeds_mod.held_out_feeds(given, y)
        shown = f"{feeds_mod.count(verify)} held-out samples of {path.name}"
        return FeedData(calibration, verify, y_verify, shown, "data")
    if request.labels_npy is not None:
        raise ConfigError(
            "--labels-npy labels the samples of --calibration DATA.npz; pass that file too"
        )
    static = "int8" in precisions
    verify = feeds_mod.synthetic_feeds(
        inputs, vocabulary, feeds_mod.SYNTHETIC_VERIFY, feeds_mod.SEED, floats=True
    )
    calibration = None
    if static:  # only where generated inputs are sound: never float inputs
        calibration = feeds_mod.synthetic_feeds(
            inputs, vocabulary, feeds_mod.SYNTHETIC_CALIBRATION, feeds_mod.SEED + 1, floats=False
        )
        err.print(
            f"[yellow]warning:[/] {label}: static int8 is calibrated on SYNTHETIC inputs "
            "(token ids over the vocabulary, masks of ones), recorded as "
            '"calibration": "synthetic"; pass --calibration DATA.npz for real ones'
        )
    n = feeds_mod.SYNTHETIC_VERIFY
    if all(np.dtype(s.dtype).kind == "f" for s in inputs):
        shown = f"{n} seeded standard-normal inputs (no data given)"
    else:
        how = ", ".join(f"{s.name}: {_generated(s, vocabulary)}" for s in inputs)
        shown = f"{n} generated inputs, no data given ({how})"
    return FeedData(calibration, verify, None, shown, "synthetic" if static else None, True)


def _generated(spec: feeds_mod.InputSpec, vocabulary: dict[str, int]) -> str:
    if np.dtype(spec.dtype).kind == "f":
        return "standard normal"
    lowered = spec.name.lower()
    if any(word in lowered for word in feeds_mod.MASK_WORDS):
        return "ones"
    if any(word in lowered for word in feeds_mod.ZERO_WORDS):
        return "zeros"
    return f"uniform ids 0..{vocabulary[spec.name] - 1}"


def verified_specs(
    inputs: list[feeds_mod.InputSpec], verify: feeds_mod.Feeds
) -> tuple[TensorSpec, ...]:
    """Each input as the model section records it: the source's dims, open ones (other than the
    batch axis) at the size verification ran at."""
    specs = []
    for spec in inputs:
        array = verify[spec.name]
        shape = [-1 if spec.dims[0] is None else int(spec.dims[0])]
        shape += [int(d) for d in array.shape[1:]]
        specs.append(TensorSpec(name=spec.name, shape=tuple(shape), dtype=spec.dtype))
    return tuple(specs)


def _onnx_cfg(request: SourceRequest) -> ConvertConfig:
    return single_format_cfg(
        request,
        "onnx",
        artifact_format("onnx").exporters,
        "an ONNX file converts to ONNX artifacts only (ONNX → TFLite would need onnx2tf, "
        "which edgesub does not use); convert the PyTorch weights to get TFLite files",
    )


def single_format_cfg(
    request: SourceRequest, fmt: str, known: Iterable[str], refusal: str
) -> ConvertConfig:
    """Settings for a source that converts to ``fmt`` only.

    Precisions default to fp32 plus static int8 when calibration data is given, else dynamic
    int8 (which needs none); ``refusal`` explains why another format is impossible.
    """
    if tuple(request.formats or (fmt,)) != (fmt,):
        raise ConversionError(refusal)
    default = ("fp32", "int8") if request.calibration else ("fp32", "int8_dynamic")
    cfg = dataclasses.replace(
        request.cfg, formats=(fmt,), precisions=tuple(request.precisions or default)
    )
    cfg.validate()
    known = list(known)
    for precision in cfg.precisions:
        if precision not in known:
            raise ConfigError(f"{fmt} has no precision '{precision}'; known: {', '.join(known)}")
    return cfg


def input_data(
    path: Path | None, dims: tuple[int | None, ...], precisions: tuple[str, ...]
) -> tuple[np.ndarray | None, np.ndarray, str]:
    """(calibration, verification inputs, how verification data was chosen).

    Integer data is token ids, fed as int64 (what a torch Embedding takes); else float32."""
    if path is not None:
        x = load_array(path, "calibration data")
        dtype = np.int64 if is_token_ids(x) else np.float32
        x = checked_batch("calibration", x.astype(dtype) if dtype is np.int64 else x, dims, dtype)
        calibration, verify = held_out(x)
        return calibration, verify, f"{len(verify)} held-out samples of {Path(path).name}"
    if "int8" in precisions:
        raise ConversionError(
            "static int8 needs calibration inputs: pass --calibration DATA.npy (float32, "
            "N × the model's input shape, preprocessed as the model expects), "
            "or use --precision int8_dynamic"
        )
    if any(d is None for d in dims):
        raise DataError(
            "the model's input has dynamic dimensions; pass --calibration DATA.npy so "
            "verification has real inputs"
        )
    rng = np.random.default_rng(0)
    n = feeds_mod.SYNTHETIC_VERIFY
    verify = rng.standard_normal((n, *dims)).astype(np.float32)
    return None, verify, f"{n} seeded standard-normal inputs (no data given)"


@SOURCES.register(".safetensors")
def convert_weights(weights: Path, request: SourceRequest, out: Path) -> list[dict[str, Any]]:
    """Rebuild head ∘ student from weights + architecture config, then convert it as usual."""
    arch_config = request.arch_config or weights.with_suffix(".json")
    model, meta = load_weights_model(weights, arch_config)
    cfg = dataclasses.replace(
        request.cfg,
        formats=tuple(request.formats or request.cfg.formats),
        precisions=tuple(request.precisions or request.cfg.precisions),
    )
    shape = tuple(int(d) for d in meta["input_shape"])
    dataset = request.dataset or DEFAULT_WEIGHTS_DATASET
    data, _ = module_data(shape, int(meta["num_classes"]), request, dataset)
    return convert(
        model,
        data,
        out,
        cfg,
        name=request.name or weights.stem,
        progress=request.progress,
        measure_latency=request.measure_latency,
    )


def read_arch_config(path: Path) -> dict[str, Any]:
    """A student.json-style architecture: arch, width, k, input_shape, num_classes."""
    if not Path(path).exists():
        raise ConfigError(f"architecture config not found: {path} (pass --arch-config FILE.json)")
    try:
        meta = loads_finite(read_text_limited(path, "architecture config", ConfigError))
    except ValueError as exc:  # not JSON, or NaN/Infinity in it
        raise ConfigError(f"cannot read architecture config {path}: {exc}") from None
    missing = [key for key in ARCH_KEYS if not isinstance(meta, dict) or key not in meta]
    if missing:
        raise ConfigError(f"architecture config {path} lacks {', '.join(missing)}")
    return meta


def load_weights_model(weights: Path, arch_config: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The deployable model (eval mode) from ``weights`` and its architecture config."""
    require("torch")
    safetensors_torch = require("safetensors.torch")
    from edgesub.distill.deployable import build_deployable

    meta = read_arch_config(arch_config)
    model = build_deployable(meta)
    try:
        tensors = safetensors_torch.load_file(str(weights))
    except Exception as exc:  # safetensors raises its own SafetensorError, not an OSError
        raise ModelFileError(f"cannot read weights {weights}: {first_line(exc)}") from None
    state = {n: t for n, t in tensors.items() if not n.startswith("target_")}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(
            f"{weights.name} does not fit the architecture in {Path(arch_config).name}: "
            f"{first_line(exc)}"
        ) from None
    return model.eval(), meta


def module_data(
    input_shape: tuple[int, ...],
    num_classes: int,
    request: SourceRequest,
    dataset: str | None,
    *,
    labels: list[str] | None = None,
    preprocessing: dict[str, Any] | None = None,
) -> tuple[Any, str]:
    """Calibration and verification data of a torch model, and what verification ran on.

    The user's ``--calibration`` array (its held-out part verifies), else the registered
    ``dataset``, else seeded standard-normal inputs (which verify only: static int8 needs
    data). ``--labels`` win over ``labels`` (the source's class names), which win over the
    dataset's; ``preprocessing`` is the source's, recorded unless the dataset's is used.
    """
    labels = read_labels(request.labels) or labels
    if labels and len(labels) != num_classes:
        raise DataError(f"{len(labels)} labels given, the model outputs {num_classes} classes")
    if request.calibration is not None or dataset is None:
        calibration, verify, verified_on = input_data(request.calibration, input_shape, ())
        data = ArrayData(
            train=ArraySplit(verify if calibration is None else calibration, None),
            test=ArraySplit(verify, None),
            input_shape=input_shape,
            num_classes=num_classes,
            labels=labels,
            preprocessing=dict(preprocessing or {}),
            input_dtype=verify.dtype.name,
            synthetic=request.calibration is None,
        )
        return data, verified_on
    from edgesub.config import DataConfig
    from edgesub.data import load_dataset

    data = load_dataset(DataConfig(name=dataset))
    if tuple(data.input_shape) != input_shape or data.num_classes != num_classes:
        raise DataError(
            f"dataset '{dataset}' has inputs {tuple(data.input_shape)} and "
            f"{data.num_classes} classes, the model takes {input_shape} and gives "
            f"{num_classes}; pass --dataset or --calibration DATA.npy"
        )
    data = dataclasses.replace(data, labels=labels) if labels else data
    return data, f"the test split of dataset '{dataset}' ({len(data.test.x)} samples)"
