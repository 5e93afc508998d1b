"""PyTorch and Hugging Face models a user brings: their own code (``file.py:factory`` with
``--weights W.safetensors``), a ``torch.export`` program (``.pt2``) and a local transformers
image classifier (``hf:DIR``).

Each is loaded as a teacher of that kind is (:mod:`edgesub.teachers`: nothing is unpickled) and
converted like a run's student by :func:`edgesub.converters.convert`: ONNX and TFLite at each
precision, every file verified against the torch module on ``--calibration`` data, a
``--dataset``, or seeded random inputs of the model's input shape. The manifest records the
preprocessing the source declares (a Hugging Face image processor) and its class names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.converters.artifact_set import convert
from edgesub.converters.calibration import is_token_ids, load_array
from edgesub.converters.sources import (
    FACTORY_KEY,
    HF_KEY,
    PT2_KEY,
    SOURCES,
    SPEC_KINDS,
    SourceRequest,
    SpecKind,
    module_data,
)
from edgesub.digest import file_sha256, folder_sha256
from edgesub.errors import ConfigError, ConversionError, EdgesubError, ModelFileError, first_line
from edgesub.teachers.hf_teacher import (
    IMAGE,
    class_names,
    image_input_shape,
    image_preprocess,
    load_model,
    open_folder,
)
from edgesub.teachers.source import is_factory_spec
from edgesub.teachers.source_io import dims, files_sha256, preprocess_from_shape
from edgesub.teachers.torch_teacher import (
    Role,
    exported_module,
    factory_label,
    load_factory_module,
    load_program,
    program_input_shape,
)

if TYPE_CHECKING:
    from torch import nn

    from edgesub.config import ConvertConfig

HF_PREFIX = "hf:"
MODEL = Role("model", "pass --weights FILE.safetensors with its trained weights")
PROBE_BATCH = 2
_NORMALISATION = ("scale", "mean", "std")
_CHANNELS = {1: "L", 3: "RGB"}


@dataclass(frozen=True)
class Loaded:
    """A loaded model and what its source says about it."""

    module: nn.Module
    input_shape: tuple[int, ...]  # without the batch axis
    label: str  # how messages name it
    source: dict[str, Any]  # the manifest's model.source
    preprocess: dict[str, Any] | None = None  # as the source declares it (teachers' fields)
    classes: list[str] | None = None
    keyword: str = ""  # the forward argument the batch is passed as, when not positional
    fixed_batch: int | None = None  # a program exported for batch 1


def _factory_file(spec: str) -> Path:
    return Path(spec.rpartition(":")[0])


def _hf_folder(spec: str) -> Path:
    return Path(spec.removeprefix(HF_PREFIX))


SPEC_KINDS.add(FACTORY_KEY, SpecKind(is_factory_spec, _factory_file, "file.py:factory"))
SPEC_KINDS.add(HF_KEY, SpecKind(lambda spec: spec.startswith(HF_PREFIX), _hf_folder, "hf:DIR"))


@SOURCES.register(FACTORY_KEY)
def convert_factory(src: Path, request: SourceRequest, out: Path) -> list[dict[str, Any]]:
    """The module ``file.py:factory`` builds, with ``--weights`` loaded into it."""
    spec, label = str(src), factory_label(str(src))
    if request.weights is None:
        raise ConfigError(f"{label} builds an untrained model: {MODEL.weights_hint}")
    if request.input_shape is None:
        raise ConfigError(
            f"{label}: pass --input-shape C,H,W (the model's input without the batch axis, "
            "e.g. 3,224,224); a factory does not say what it takes"
        )
    module, files = load_factory_module(spec, str(request.weights), MODEL)
    shape = tuple(request.input_shape)
    loaded = Loaded(
        module=module,
        input_shape=shape,
        label=label,
        source={
            "kind": "factory",
            "file": label,
            "weights": files[1].name,
            "sha256": files_sha256(list(files)),
        },
        preprocess=preprocess_from_shape((1, *shape)),
    )
    return _convert(loaded, request, out, _factory_file(spec).stem)


@SOURCES.register(PT2_KEY)
def convert_program(src: Path, request: SourceRequest, out: Path) -> list[dict[str, Any]]:
    """A ``torch.export`` program, loaded without unpickling code."""
    gm = exported_module(load_program(src, MODEL))
    example = program_input_shape(gm, src, MODEL)
    if len(example) < 2:
        raise ModelFileError(f"{src.name} takes a {dims(example)} input, not a batch of samples")
    batch, shape = example[0], _filled(example[1:], request.input_shape, src)
    if batch not in (None, 1):
        raise ModelFileError(
            f"{src.name} was exported for a fixed batch of {batch}; export it with a batch of 1 "
            "or a dynamic batch (torch.export.Dim)"
        )
    loaded = Loaded(
        module=gm,
        input_shape=shape,
        label=src.name,
        source={"kind": "pt2", "file": src.name, "sha256": file_sha256(src)},
        preprocess=preprocess_from_shape(example),
        fixed_batch=batch,
    )
    return _convert(loaded, request, out, src.stem)


def _filled(example: list[int | None], given: tuple[int, ...] | None, src: Path) -> tuple[int, ...]:
    """The program's input dims, its dynamic ones from ``--input-shape``."""
    if given is None:
        if None in example:
            raise ConfigError(
                f"{src.name} takes inputs of {_shown(example)} (? = dynamic); pass "
                "--input-shape to fix the size to convert at"
            )
        return tuple(int(d) for d in example)
    if len(given) != len(example) or any(
        d not in (None, g) for d, g in zip(example, given, strict=False)
    ):
        raise ConfigError(
            f"--input-shape {dims(given)} does not fit {src.name}, which takes {_shown(example)}"
        )
    return tuple(given)


def _shown(example: list[int | None]) -> str:
    return "N×" + "×".join("?" if d is None else str(d) for d in example)


@SOURCES.register(HF_KEY)
def convert_hf(src: Path, request: SourceRequest, out: Path) -> list[dict[str, Any]]:
    """A local transformers image classifier, with its processor's preprocessing and its
    id2label class names in the manifest; a sequence classifier goes to
    :func:`~edgesub.converters.hf_text_source.convert_hf_text`."""
    found = open_folder(str(src))
    if found.task != IMAGE:
        from edgesub.converters.hf_text_source import convert_hf_text

        return convert_hf_text(found, request, out)
    text_only = {"--input-shape": request.input_shapes, "--labels-npy": request.labels_npy}
    for flag, given in text_only.items():
        if given is not None:
            raise ConfigError(
                f"{flag} applies to a Hugging Face text classifier; {found.folder.name} is an "
                "image classifier, which takes its processor's size"
            )
    preprocess = image_preprocess(found.folder, found.config)
    loaded = Loaded(
        module=load_model(found),
        input_shape=image_input_shape(found.config, preprocess),
        label=found.folder.name,
        source={"kind": "hf", "file": found.folder.name, "sha256": folder_sha256(found.folder)},
        preprocess=preprocess,
        classes=class_names(found.config),
        keyword="pixel_values",
    )
    return _convert(loaded, request, out, found.folder.name)


def _convert(loaded: Loaded, request: SourceRequest, out: Path, stem: str) -> list[dict[str, Any]]:
    from edgesub.converters.scores_module import Scores

    model = Scores(loaded.module, loaded.keyword, loaded.fixed_batch).eval()
    num_classes = _probe(model, loaded, _takes_token_ids(request))
    cfg = _cfg(request, has_data=request.calibration is not None or request.dataset is not None)
    if loaded.fixed_batch:  # the graph's reshapes hold the batch of 1
        cfg = dataclasses.replace(cfg, dynamic_batch=False)
    data, verified_on = module_data(
        loaded.input_shape,
        num_classes,
        request,
        request.dataset,
        labels=loaded.classes,
        preprocessing=_preprocessing(loaded.preprocess, loaded.input_shape),
    )
    return convert(
        model,
        data,
        out,
        cfg,
        name=request.name or stem,
        progress=request.progress,
        measure_latency=request.measure_latency,
        provenance={"source": loaded.source, "verified_on": verified_on},
    )


def _takes_token_ids(request: SourceRequest) -> bool:
    """Whether the ``--calibration`` data is token ids (an integer array), so the model is
    probed with ids rather than floats."""
    if request.calibration is None:
        return False
    return is_token_ids(load_array(request.calibration, "calibration data", mmap=True))


def _probe(model: nn.Module, loaded: Loaded, token_ids: bool) -> int:
    """The class count, from one forward pass on seeded inputs (token id 0 for a model that
    takes ids); a module that fails on the input shape, or gives no N×C scores, is one line
    here rather than mid-export."""
    torch = require("torch")
    shape = (PROBE_BATCH, *loaded.input_shape)
    if token_ids:
        x = torch.zeros(shape, dtype=torch.int64)
    else:
        x = torch.from_numpy(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    try:
        with torch.no_grad():
            y = model(x)
    except EdgesubError:
        raise
    except Exception as exc:  # whatever the user's forward raises
        raise ModelFileError(
            f"{loaded.label} fails on a {dims(shape)} input: {type(exc).__name__}: "
            f"{first_line(exc)}"
        ) from None
    if not isinstance(y, torch.Tensor) or y.dim() != 2 or len(y) != PROBE_BATCH:
        got = dims(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ModelFileError(
            f"{loaded.label} returns {got} for a {dims(shape)} input, not N×C class scores"
        )
    return int(y.shape[1])


def _cfg(request: SourceRequest, *, has_data: bool) -> ConvertConfig:
    """The formats and precisions asked, else the config's; without data static int8 becomes
    dynamic int8 (which needs none), unless it was asked for by name."""
    precisions = tuple(request.precisions or request.cfg.precisions)
    if not has_data and "int8" in precisions:
        if request.precisions:
            raise ConversionError(
                "static int8 needs calibration inputs: pass --calibration DATA.npy or "
                "--dataset NAME, or use --precision int8_dynamic"
            )
        precisions = tuple(dict.fromkeys("int8_dynamic" if p == "int8" else p for p in precisions))
    formats = tuple(request.formats or request.cfg.formats)
    return dataclasses.replace(request.cfg, formats=formats, precisions=precisions)


def _preprocessing(declared: dict[str, Any] | None, shape: tuple[int, ...]) -> dict[str, Any]:
    """The manifest's preprocessing: the full image record when the source declares its
    normalisation (scale, mean, std), else only the layout (the rest follows from the shape,
    and a device is then not told how to turn a picture into the input)."""
    declared = declared or {}
    if len(shape) != 3:
        return {}
    layout = declared.get("layout", "NCHW")
    channels, height, width = shape if layout == "NCHW" else (shape[2], shape[0], shape[1])
    if channels not in _CHANNELS or not all(key in declared for key in _NORMALISATION):
        return {"layout": layout}
    from edgesub.config import PreprocessConfig
    from edgesub.data.preprocess import resolve

    return resolve(PreprocessConfig(), declared, (height, width), _CHANNELS[channels]).record()
