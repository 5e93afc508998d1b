"""Which artifact to use: measured host latency per file, and the recommended one per format.

int8 is not always faster: on the x86 hosts we measured, ONNX Runtime's int8 kernels run the
tiny default student slower than fp32 (its per-op and quantise/dequantise costs outweigh the
integer arithmetic) while LiteRT's XNNPACK int8 runs it faster. Rather than drop a slower file,
the manifest records each file's measured latency and marks, per format, the one to use here.
The rule (fastest, ties to the more accurate, then smaller) is :mod:`edgesub.profile.recommend`'s,
which also chooses per target device from its estimates (:func:`candidates` feeds it a manifest).
"""

from __future__ import annotations

import math
import platform
from pathlib import Path
from typing import Any

import numpy as np

from edgesub.converters.manifest_record import ArtifactEntry, Manifest, Recommendation
from edgesub.profile import recommend as rule
from edgesub.profile.recommend import TIE_FRACTION, Candidate, Timing

# Timed runs are split into rounds that visit every file in turn, so a burst of load on this
# shared machine hits all files alike and the int8/fp32 ratio stays fair.
ROUNDS = 3
# Each round times a file for at least this long: 60 runs of a 12 µs model are under a
# millisecond, where one scheduler hiccup would move the median.
MIN_ROUND_S = 0.1


def measure_host_latency(
    paths: list[Path],
    *,
    threads: int = 1,
    runs: int = 60,
    warmup: int = 5,
    input_shape: tuple[int, ...] | None = None,
    feeds: dict[str, np.ndarray] | None = None,
) -> dict[Path, dict[str, Any]]:
    """Median / p90 latency (ms) of each file at batch 1, measured in this process, interleaved.

    At least ``runs`` timed runs per file (more for fast files, see MIN_ROUND_S);
    ``input_shape`` fixes dynamic dims other than the batch axis; ``feeds`` (one real sample
    per input name) is what a multi-input model is timed on instead of synthesised inputs.
    """
    from edgesub.profile.runtimes import runtime_for, synthesise_inputs
    from edgesub.profile.timing import latency_stats, time_runs

    sessions = {}
    for path in paths:
        session = runtime_for(path).load(path, threads)
        if feeds is not None:
            wanted = {spec.name: np.dtype(spec.dtype) for spec in session.inputs}
            session.prepare({k: v.astype(wanted[k]) for k, v in feeds.items() if k in wanted})
        else:
            session.prepare(synthesise_inputs(session.inputs, input_shape))
        sessions[path] = session
    per_round = math.ceil(runs / ROUNDS)
    durations: dict[Path, list[np.ndarray]] = {path: [] for path in paths}
    for _ in range(ROUNDS):
        for path, session in sessions.items():
            durations[path].append(time_runs(session.run, warmup, per_round, MIN_ROUND_S))
    return {path: latency_stats(np.concatenate(parts)) for path, parts in durations.items()}


def recommend(
    out_dir: Path,
    entries: list[ArtifactEntry],
    *,
    threads: int = 1,
    input_shape: tuple[int, ...] | None = None,
    feeds: dict[str, np.ndarray] | None = None,
) -> tuple[list[ArtifactEntry], Recommendation]:
    """``entries`` with measured host latency and ``recommended``, and the manifest summary."""
    paths = [Path(out_dir) / entry.file for entry in entries]
    stats = measure_host_latency(paths, threads=threads, input_shape=input_shape, feeds=feeds)
    timed = [
        entry.replace(
            host_latency_ms=stats[path]["latency_ms"],
            host_latency_p90_ms=stats[path]["latency_p90_ms"],
            host_latency_kind="measured",
            host_threads=threads,
            recommended=False,
        )
        for entry, path in zip(entries, paths, strict=True)
    ]
    timed = _add_ratios(timed)
    chosen = {}
    for fmt in dict.fromkeys(entry.format for entry in timed):
        best = choose([e for e in timed if e.format == fmt])
        if best is not None:
            chosen[fmt] = best.file
    marked = [e.replace(recommended=e.file in chosen.values()) for e in timed]
    summary = Recommendation(
        by_format=chosen,
        basis=(
            f"lowest measured host latency at {threads} thread(s) among artifacts that passed "
            f"verification; within {TIE_FRACTION:.0%} the more accurate, then the smaller file"
        ),
        host={"machine": platform.machine(), "cpu": platform.processor() or None},
    )
    return marked, summary


def _add_ratios(entries: list[ArtifactEntry]) -> list[ArtifactEntry]:
    """``host_latency_vs_fp32``: each file's latency over its format's fp32 file's, when there is
    one; above 1 + TIE_FRACTION the quantised file is slower here, and reports say so."""
    fp32 = {e.format: e.host_latency_ms for e in entries if e.precision == "fp32"}
    ratios = []
    for entry in entries:
        base = fp32.get(entry.format)
        latency = entry.host_latency_ms
        ratio = round(latency / base, 3) if base and latency is not None else None
        ratios.append(entry.replace(host_latency_vs_fp32=ratio))
    return ratios


def slower_than_fp32(entry: ArtifactEntry) -> bool:
    """Measured slower than the fp32 file of its format on this host, beyond timing noise."""
    ratio = entry.host_latency_vs_fp32
    return ratio is not None and ratio > 1 + TIE_FRACTION


def candidate(entry: ArtifactEntry, folder: Path | None = None) -> Candidate:
    """A manifest entry as a candidate of the recommendation rule (``folder`` holds its file)."""
    path = Path(folder) / entry.file if folder is not None else None
    return Candidate(entry.file, entry.format, entry.size_bytes, entry.score, entry.passed, path)


def candidates(manifest: Manifest, folder: Path | None = None) -> list[Candidate]:
    """Every artifact of ``manifest`` as a candidate, in manifest order."""
    return [candidate(entry, folder) for entry in manifest.artifacts]


def choose(entries: list[ArtifactEntry]) -> ArtifactEntry | None:
    """The entry to use among ``entries`` (which carry ``host_latency_ms``), or None if all fail."""
    timings = [
        Timing(candidate(e), e.host_latency_ms, "measured", TIE_FRACTION)
        for e in entries
        if e.host_latency_ms is not None
    ]
    choice = rule.choose(timings)
    return next(e for e in entries if e.file == choice.file) if choice else None
