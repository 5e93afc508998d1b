"""A Hugging Face sequence classifier (``hf:DIR`` of a ``*ForSequenceClassification``): token ids
and an attention mask in, class scores out, as ONNX and TFLite files at each precision; or a
bare text encoder (a ``*Model`` such as ``BertModel``): the same inputs, its sentence embedding
out (mean of the last hidden states over the real tokens), a ``raw`` output verified by cosine
similarity.

The files take two named inputs, ``input_ids`` and ``attention_mask``, at one sequence length
(the model's, at most 128 tokens, or ``--input-shape``): int64 in ONNX, int32 in TFLite
(litert-torch narrows 64-bit I/O). Each is verified against the torch model on the user's
``--calibration DATA.npz`` (one array per input name, ``--labels-npy`` for accuracy) or on
generated inputs (token ids uniform over the vocabulary, masks of ones), as an ONNX file is.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub.converters import feeds as feeds_mod
from edgesub.converters.artifact_set import export_jobs, export_plan, finish, prepare_output
from edgesub.converters.calibration import read_labels
from edgesub.converters.formats import ExportJob
from edgesub.converters.manifest import source_model_section
from edgesub.converters.manifest_record import TensorSpec
from edgesub.converters.onnx_export import OUTPUT_NAME
from edgesub.converters.outputs import output_kind
from edgesub.converters.sources import SourceRequest, model_feeds, verified_specs
from edgesub.converters.staging import staged_output
from edgesub.converters.verify import RAW_KIND, REFERENCE_BATCH, Reference
from edgesub.digest import folder_sha256
from edgesub.errors import ConfigError, ConversionError, DataError
from edgesub.teachers.hf_teacher import ENCODER, class_names, load_model, text_max_length

if TYPE_CHECKING:
    from torch import nn

    from edgesub.config import ConvertConfig
    from edgesub.teachers.hf_teacher import Folder

TEXT_INPUTS = ("input_ids", "attention_mask")  # TokenScores' forward, in this order
DEFAULT_PRECISIONS = ("fp32", "int8_dynamic")  # dynamic int8 needs no calibration data


def convert_hf_text(found: Folder, request: SourceRequest, out: Path) -> list[dict[str, Any]]:
    """Export, verify and publish every format × precision of a text classifier or encoder."""
    from edgesub.converters.scores_module import MeanPooled, TokenScores

    if request.dataset is not None:
        raise ConfigError(
            "--dataset does not apply to a Hugging Face text classifier (no registered dataset "
            "is tokenized by its tokenizer); pass --calibration tokens.npz, an array per input "
            "name (input_ids, attention_mask)"
        )
    cfg = _text_cfg(request)
    encoder = found.task == ENCODER
    if encoder and (request.labels or request.labels_npy):
        raise ConfigError(
            f"{found.folder.name} is an encoder (sentence embeddings, no classes): --labels and "
            "--labels-npy do not apply"
        )
    num_classes = None if encoder else int(found.config.num_labels)
    width = int(found.config.hidden_size) if encoder else num_classes
    labels = None if encoder else read_labels(request.labels) or class_names(found.config)
    if labels and len(labels) != num_classes:
        raise DataError(f"{len(labels)} labels given, the model outputs {num_classes} classes")
    inputs = _inputs(found, request.input_shapes)
    vocabulary = {TEXT_INPUTS[0]: int(found.config.vocab_size)}
    label = found.folder.name
    data = model_feeds(label, vocabulary, request, inputs, cfg.precisions, num_classes)
    model = (MeanPooled if encoder else TokenScores)(load_model(found)).eval()
    name = request.name or label
    out = prepare_output(out, name)
    logits = _logits(model, data.verify)
    kind = RAW_KIND if encoder and cfg.outputs == "auto" else output_kind(cfg.outputs, logits)
    reference = Reference(data.verify, data.y, logits, kind, synthetic=data.synthetic)
    record = source_model_section(
        name,
        num_classes,
        labels,
        [int(d) for d in inputs[0].dims[1:]],
        {},
        {"kind": "hf", "file": label, "sha256": folder_sha256(found.folder)},
        data.verified_on,
        kind,
    ).replace(
        inputs=verified_specs(inputs, data.verify),
        outputs=(TensorSpec(name=OUTPUT_NAME, shape=(-1, width), dtype="float32"),),
        calibration=data.calibration_kind if "int8" in cfg.precisions else None,
    )
    sample = feeds_mod.first_sample(data.verify)
    job = ExportJob(sample=sample, calibration=data.calibration or data.verify, cfg=cfg)
    with staged_output(out) as stage:
        plan = export_jobs(cfg)
        entries = export_plan(plan, model, job, reference, stage, name, progress=request.progress)
        manifest = finish(
            stage, record, entries, measure_latency=request.measure_latency, feeds=sample
        )
    return [entry.to_dict() for entry in manifest.artifacts]


def _text_cfg(request: SourceRequest) -> ConvertConfig:
    """The formats asked (else the config's) at the precisions asked (else fp32 and dynamic
    int8); static int8 calibrates through ONNX Runtime only."""
    formats = tuple(request.formats or request.cfg.formats)
    precisions = tuple(request.precisions or DEFAULT_PRECISIONS)
    if "int8" in precisions and "tflite" in formats:
        raise ConversionError(
            "static int8 TFLite of a text classifier is not supported (its calibration takes "
            "one float input); use --precision int8_dynamic, or --format onnx for static int8"
        )
    cfg = dataclasses.replace(request.cfg, formats=formats, precisions=precisions)
    cfg.validate()
    export_jobs(cfg)  # an unknown format or precision fails now, before the model loads
    return cfg


def _inputs(
    found: Folder, given: dict[str | None, tuple[int, ...]] | None
) -> list[feeds_mod.InputSpec]:
    """input_ids and attention_mask, batch × sequence: the length from ``--input-shape`` (one
    bare shape sets both), else the model's own (at most 128 tokens)."""
    open_length = [feeds_mod.InputSpec(n, "int64", (None, None)) for n in TEXT_INPUTS]
    shapes = dict(given or {})
    if None in shapes:
        shapes = {n: shapes[None] for n in TEXT_INPUTS}
    resolved = feeds_mod.resolve_shapes(open_length, shapes)
    lengths = {spec.dims[1] for spec in resolved if spec.dims[1] is not None}
    if len(lengths) > 1:
        raise ConfigError(
            "--input-shape gives input_ids and attention_mask different sequence lengths "
            f"({', '.join(map(str, sorted(lengths)))}); they take one"
        )
    length = lengths.pop() if lengths else text_max_length(None, found.config)
    return [feeds_mod.InputSpec(n, "int64", (None, length)) for n in TEXT_INPUTS]


def _logits(model: nn.Module, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The torch model's float32 scores on ``feeds``, in batches."""
    import torch

    n = feeds_mod.count(feeds)
    parts = []
    with torch.no_grad():
        for start in range(0, n, REFERENCE_BATCH):
            rows = slice(start, start + REFERENCE_BATCH)
            parts.append(model(*(torch.from_numpy(feeds[k][rows]) for k in TEXT_INPUTS)).numpy())
    return np.concatenate(parts)
