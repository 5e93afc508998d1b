"""One line per stage result, as the console prints it under the stage's name (``edgesub run``,
``subspace``, ``distill``, ``convert``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgesub.converters.manifest_record import ArtifactEntry


def teacher_line(summary: dict[str, Any]) -> str:
    """teacher.json as one line: what the teacher is and its own test accuracy."""
    accuracy = summary.get("test_accuracy")
    measured = (
        f"{accuracy:.2f} % test accuracy"
        if isinstance(accuracy, float)
        else "no classifier of its own (feature extractor)"
    )
    if summary.get("trained_by_edgesub", True):
        return f"teacher {summary['arch']}: {measured}{_skipped(summary)}"
    return (
        f"teacher {summary['source']} ({summary['kind']}, used as given): {measured}"
        f"{_skipped(summary)}"
    )


def _skipped(summary: dict[str, Any]) -> str:
    """ "; N undecodable images skipped (a.png, …)" when the data left files out."""
    skipped = summary.get("skipped_images")
    if not skipped:
        return ""
    more = ", …" if skipped["count"] > len(skipped["first"]) else ""
    return (
        f"; {skipped['count']:,} undecodable image(s) skipped "
        f"({', '.join(Path(name).name for name in skipped['first'])}{more})"
    )


def subspace_line(summary: dict[str, Any]) -> str:
    """subspace.json as one line: d → k, and the full and compressed heads' accuracy."""
    return (
        f"{summary['method']} d={summary['d']} → k={summary['k']} "
        f"({summary['compression']:g}× smaller head): full head "
        f"{summary['full_head_accuracy']:.2f} %, compressed head "
        f"{summary['compressed_head_accuracy']:.2f} % test accuracy"
    )


def student_line(summary: dict[str, Any]) -> str:
    """student.json as one line: architecture, accuracy, deployed parameters."""
    unlabeled = summary.get("unlabeled_samples")
    return (
        f"student {summary['arch']}: {summary['test_accuracy']:.2f} % test accuracy, "
        f"{summary['deployed_params']:,} deployed parameters"
        + (f", transfer set + {unlabeled:,} unlabeled inputs" if unlabeled else "")
    )


def artifact_line(entry: ArtifactEntry) -> str:
    """Size, accuracy (or agreement, without labels), parity and host latency of one artifact."""
    parity = entry.parity
    if entry.accuracy is not None:
        quality = f"{entry.accuracy:.2f} % test accuracy"
    elif parity is not None:
        quality = f"top-1 agreement {parity.top1_agreement:.1f} %"
    else:
        quality = "accuracy unknown"
    from edgesub.converters.recommend import slower_than_fp32  # numpy: only when converting

    latency = ""
    if entry.host_latency_ms is not None:
        latency = f", host {entry.host_latency_ms:.3f} ms measured"
        if slower_than_fp32(entry):
            latency += f" ({entry.host_latency_vs_fp32:.2f}× fp32: slower here)"
        latency += " (recommended)" if entry.recommended else ""
    if parity is None:
        return f"{entry.file}: {entry.size_bytes:,} bytes, {quality}{latency}, not verified"
    status = "verified" if parity.passed else "FAILED verification"
    return (
        f"{entry.file}: {entry.size_bytes:,} bytes, {quality}, "
        f"max |Δ| {parity.max_abs_diff:.1e}{latency}, {status}"
    )
