"""The convert stage: every configured format × precision, exported, verified, then published.

Each file is written to a temp name, verified there, and renamed into place only when it passes
(or when ``keep_failed`` asks to keep it), so a failed artifact never sits on disk looking valid.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesub.atomic import atomic_path
from edgesub.converters.calibration import calibration_set, checked_inputs
from edgesub.converters.formats import CONVERTERS, ArtifactFormat, Exporter, ExportJob
from edgesub.converters.manifest import (
    MANIFEST_NAME,
    model_section,
    sha256,
    tool_versions,
    write_manifest,
)
from edgesub.converters.verify import Reference, failure_message, parity, torch_reference
from edgesub.errors import ConfigError, EdgesubError, ParityError

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
) -> list[dict[str, Any]]:
    """Export, verify and publish every ``cfg.formats`` × ``cfg.precisions``; return the entries.

    ``data`` is any object with ``train``/``test`` splits (``x``, ``y``), ``num_classes``,
    ``input_shape``, ``labels`` and ``preprocessing`` (an ``edgesub.data.Dataset``).
    """
    cfg.validate()
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"artifact name must be a plain file stem, got {name!r}")
    plan = _plan(cfg)
    out_dir = Path(out_dir)
    _check_writable(out_dir)
    # A manifest must only ever describe the files beside it; an old one goes stale as soon as
    # the first artifact is replaced, and a new one is written when all have passed.
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    input_shape = tuple(int(d) for d in data.input_shape)
    calibration = calibration_set(data.train.x, input_shape, cfg.calibration_samples)
    test_x = checked_inputs("test split", data.test.x, input_shape)
    job = ExportJob(sample=test_x[:1].copy(), calibration=calibration, cfg=cfg)

    was_training = model.training
    model.eval()
    try:
        reference = torch_reference(model, test_x, data.test.y)
        entries = []
        for fmt, precision, exporter in _tracked(plan, progress):
            target = out_dir / f"{name}_{precision}{fmt.extension}"
            entries.append(_artifact(fmt, precision, exporter, model, job, reference, target))
    finally:
        model.train(was_training)
    write_manifest(out_dir, model_section(name, data), entries)
    return entries


def _plan(cfg: ConvertConfig) -> list[tuple[ArtifactFormat, str, Exporter]]:
    """Resolve every (format, precision) before any work, so a typo fails in a second, not later."""
    plan = []
    for format_name in cfg.formats:
        fmt = CONVERTERS.get(format_name)
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


def _artifact(
    fmt: ArtifactFormat,
    precision: str,
    exporter: Exporter,
    model: torch.nn.Module,
    job: ExportJob,
    reference: Reference,
    target: Path,
) -> dict[str, Any]:
    """Export to a temp file, verify it, and rename it into place unless it fails parity."""
    with atomic_path(target) as tmp:
        start = time.perf_counter()
        exporter(model, job, tmp)
        convert_seconds = time.perf_counter() - start
        start = time.perf_counter()
        outputs = fmt.run(tmp, reference.x, VERIFY_THREADS)
        result = parity(reference, outputs, precision, job.cfg)
        verify_seconds = time.perf_counter() - start
        if not result["passed"] and not job.cfg.keep_failed:
            raise ParityError(failure_message(target.name, result), numbers=result)
        io = fmt.describe(tmp)
        return {
            "file": target.name,
            "format": fmt.name,
            "precision": precision,
            "size_bytes": tmp.stat().st_size,
            "sha256": sha256(tmp),
            "input_layout": fmt.input_layout,
            "inputs": io["inputs"],
            "outputs": io["outputs"],
            "accuracy": result.pop("accuracy"),
            "parity": result,
            "convert_seconds": round(convert_seconds, 3),
            "verify_seconds": round(verify_seconds, 3),
            "tools": tool_versions(fmt.tools),
        }


def _tracked(
    plan: list[tuple[ArtifactFormat, str, Exporter]], enabled: bool
) -> Iterator[tuple[ArtifactFormat, str, Exporter]]:
    """Yield the plan's items under a rich progress bar naming the artifact being made."""
    if not enabled:
        yield from plan
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("converting", total=len(plan))
        for fmt, precision, exporter in plan:
            bar.update(task, description=f"converting {fmt.name} {precision}")
            yield fmt, precision, exporter
            bar.advance(task)
