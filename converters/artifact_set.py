"""The convert stage: every configured format × precision, exported, verified, then published.

Each file is written to a temp name, verified there, and renamed into the staging folder only
when it passes (or when ``keep_failed`` asks to keep it), so a failed artifact never sits on disk
looking valid; the set replaces the previous one only when complete (:mod:`staging`).
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub.atomic import atomic_path
from edgesub.console import err
from edgesub.converters.calibration import calibration_set, checked_inputs
from edgesub.converters.export_worker import ExportWorker, export_worker, in_process
from edgesub.converters.formats import ArtifactFormat, Exporter, ExportJob, artifact_format
from edgesub.converters.manifest import model_section, tool_versions, write_manifest
from edgesub.converters.manifest_record import (
    ArtifactEntry,
    Manifest,
    ModelInfo,
    Parity,
    TensorSpec,
)
from edgesub.converters.outputs import output_kind
from edgesub.converters.recommend import recommend
from edgesub.converters.staging import staged_output
from edgesub.converters.verify import Reference, failure_message, parity, torch_reference
from edgesub.digest import file_sha256
from edgesub.errors import ConfigError, EdgesubError, ParityError
from edgesub.native_logs import native_noise_filtered

if TYPE_CHECKING:
    import torch

    from edgesub.config import ConvertConfig

VERIFY_THREADS = 1


def convert(
    model: torch.nn.Module,
    data: Any,
    out_dir: Path,
    cfg: ConvertConfig,
    *,
    name: str = "student",
    progress: bool = True,
    measure_latency: bool = True,
    provenance: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Export, verify and publish every ``cfg.formats`` × ``cfg.precisions``; return the entries.

    ``data`` is any object with ``train``/``test`` splits (``x``, ``y``; ``test.y`` may be None),
    ``num_classes``, ``input_shape``, ``labels`` and ``preprocessing`` (an
    ``edgesub.data.Dataset``); a text model's data (:func:`calibration.text_data`) also has
    ``input_dtype`` "int64" and the ``tokenizer`` whose vocab.txt is written beside the files.
    ``measure_latency`` times each file on this host to mark the
    recommended one per format. ``provenance`` (a model file's ``source`` and ``verified_on``)
    joins the manifest's model section.
    """
    cfg.validate()
    plan = export_jobs(cfg)
    input_shape = tuple(int(d) for d in data.input_shape)
    dtype = np.dtype(getattr(data, "input_dtype", "float32"))
    calibration = calibration_set(data.train.x, input_shape, cfg.calibration_samples, dtype)
    test_x = checked_inputs("test split", data.test.x, input_shape, dtype)
    out_dir = prepare_output(out_dir, name)
    tokenizer = getattr(data, "tokenizer", None)
    job = ExportJob(sample=test_x[:1].copy(), calibration=calibration, cfg=cfg)

    was_training = model.training
    model.eval()
    try:
        reference = torch_reference(model, test_x, data.test.y)
        reference = dataclasses.replace(
            reference,
            kind=output_kind(cfg.outputs, reference.logits),
            synthetic=getattr(data, "synthetic", False),
        )
        with staged_output(out_dir) as stage:
            if tokenizer is not None:
                tokenizer.save(stage)
            entries = export_plan(plan, model, job, reference, stage, name, progress=progress)
            model_record = model_section(name, data, reference.kind)
            model_record = model_record.replace(**(provenance or {}))
            manifest = finish(stage, model_record, entries, measure_latency=measure_latency)
    finally:
        model.train(was_training)
    return [entry.to_dict() for entry in manifest.artifacts]


def export_plan(
    plan: list[tuple[ArtifactFormat, str, Exporter]],
    model: torch.nn.Module,
    job: ExportJob,
    reference: Reference,
    stage: Path,
    name: str,
    *,
    progress: bool,
) -> list[ArtifactEntry]:
    """Export, verify and publish each (format, precision) of ``plan`` (:func:`export_jobs`) into
    ``stage`` as ``{name}_{precision}{extension}``; isolated formats in the export worker."""
    cfg = job.cfg
    with export_worker() as worker:
        isolated = [fmt for fmt, _, _ in plan if fmt.isolated and cfg.export_worker]
        if isolated:
            worker.start(tuple(dict.fromkeys(f.warm_up for f in isolated if f.warm_up)))
        entries = []
        for fmt, precision, exporter in _tracked(plan, progress):
            target = stage / f"{name}_{precision}{fmt.extension}"
            make = functools.partial(_exporter(fmt, exporter, worker, cfg), model, job)
            entries.append(publish_artifact(fmt, precision, make, reference, target, cfg))
    return entries


def _exporter(
    fmt: ArtifactFormat, exporter: Exporter, worker: ExportWorker, cfg: ConvertConfig
) -> Exporter:
    """How an exporter runs: in the worker when its format is isolated (unless
    ``convert.export_worker`` is off: then here, Ctrl-C deferred), else directly."""
    if not fmt.isolated:
        return exporter
    return functools.partial(worker.run, exporter) if cfg.export_worker else in_process(exporter)


def prepare_output(out_dir: Path, name: str) -> Path:
    """Check the artifact name and that ``out_dir`` is writable (before any slow export).

    The files are then made in :func:`staged_output`, so the folder's previous manifest and
    artifacts stay valid until the whole new set has passed."""
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"artifact name must be a plain file stem, got {name!r}")
    out_dir = Path(out_dir)
    _check_writable(out_dir)
    return out_dir


def finish(
    out_dir: Path,
    model: ModelInfo,
    entries: list[ArtifactEntry],
    *,
    measure_latency: bool,
    input_shape: tuple[int, ...] | None = None,
    feeds: dict[str, np.ndarray] | None = None,
) -> Manifest:
    """Mark the recommended artifacts (when measuring), write the manifest and return it.

    ``input_shape`` (batch 1) is what latency is measured at when the model has dynamic dims;
    ``feeds`` (one sample per input name) instead, for a model file with several inputs.
    """
    recommended = None
    if measure_latency and entries:
        entries, recommended = recommend(out_dir, entries, input_shape=input_shape, feeds=feeds)
    manifest = Manifest(model=model, artifacts=tuple(entries), recommended=recommended)
    write_manifest(out_dir, manifest)
    return manifest


def export_jobs(cfg: ConvertConfig) -> list[tuple[ArtifactFormat, str, Exporter]]:
    """Resolve every (format, precision) before any work, so a typo fails in a second, not later."""
    plan = []
    for format_name in cfg.formats:
        fmt = artifact_format(format_name)
        for precision in cfg.precisions:
            if precision not in fmt.exporters:
                known = ", ".join(fmt.exporters)
                raise ConfigError(
                    f"convert.precisions: {fmt.name} has no precision '{precision}'; known: {known}"
                )
            plan.append((fmt, precision, fmt.exporters[precision]))
    return plan


def _check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".edgesub-probe-"):
            pass
    except OSError as exc:
        raise EdgesubError(f"cannot write artifacts to {out_dir}: {exc.strerror or exc}") from None


def publish_artifact(
    fmt: ArtifactFormat,
    precision: str,
    make: Callable[[Path], None],
    reference: Reference,
    target: Path,
    cfg: ConvertConfig,
) -> ArtifactEntry:
    """Write the file with ``make(tmp)``, verify it, and rename it into place unless it fails."""
    with atomic_path(target) as tmp:
        start = time.perf_counter()
        with native_noise_filtered():  # exporters' and runtimes' C++ INFO lines
            make(tmp)
            convert_seconds = time.perf_counter() - start
            start = time.perf_counter()
            outputs = fmt.run(tmp, reference.x, VERIFY_THREADS)
        try:
            result = parity(reference, outputs, precision, cfg)
        except ParityError as exc:  # name the file the outputs came from
            raise ParityError(f"{target.name}: {exc}") from None
        verify_seconds = time.perf_counter() - start
        if not result["passed"] and not cfg.keep_failed:
            raise ParityError(failure_message(target.name, result), numbers=result)
        io = fmt.describe(tmp)
        accuracy = result.pop("accuracy")
        return ArtifactEntry(
            file=target.name,
            format=fmt.name,
            precision=precision,
            size_bytes=tmp.stat().st_size,
            sha256=file_sha256(tmp),
            input_layout=fmt.input_layout,
            inputs=tuple(TensorSpec.from_dict(spec, target.name) for spec in io["inputs"]),
            outputs=tuple(TensorSpec.from_dict(spec, target.name) for spec in io["outputs"]),
            accuracy=accuracy,
            parity=Parity.from_dict(result, target.name),
            convert_seconds=round(convert_seconds, 3),
            verify_seconds=round(verify_seconds, 3),
            weight_bits=fmt.weight_bits(precision),
            tools=tool_versions(fmt.tools),
        )


def _tracked(
    plan: list[tuple[ArtifactFormat, str, Exporter]], enabled: bool
) -> Iterator[tuple[ArtifactFormat, str, Exporter]]:
    """Yield the plan's items under a rich progress bar naming the artifact being made."""
    if not enabled or not err.is_terminal:  # nothing to erase in a log: no empty line either
        yield from plan
        return
    from rich.progress import Progress

    with Progress(transient=True, console=err) as bar:
        task = bar.add_task("converting", total=len(plan))
        for fmt, precision, exporter in plan:
            bar.update(task, description=f"converting {fmt.name} {precision}")
            yield fmt, precision, exporter
            bar.advance(task)
