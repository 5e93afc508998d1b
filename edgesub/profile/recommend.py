"""Which artifact to use on a device: per format and overall, and on what evidence.

A device's choice rests on latencies measured on it when every candidate has a measured record
for it (``profile.json`` entries measured there; ``host`` is the machine that ran edgesub),
else on the estimator's figures for that device (:func:`edgesub.profile.estimate.estimate`).
Latencies within the evidence's error band of the fastest are a tie: the estimator's own band
(``latency_error_pct``) for estimates, :data:`TIE_FRACTION` (run-to-run noise) for
measurements. A tie goes to the more accurate file, then the smaller one, and the choice says it
was a tie, with which files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgesub.errors import EdgesubError
from edgesub.profile.compare_record import Basis, CompareRow, DeviceChoice, DeviceRecommendation
from edgesub.profile.devices import DeviceProfile
from edgesub.profile.graph import ShapeOverride
from edgesub.profile.profile_record import HOST, ProfileEntry

# A record with a device's latency: a profile entry, or the row compare.json keeps of it.
Evidence = ProfileEntry | CompareRow

# Measured latencies within this fraction of the fastest count as a tie (run-to-run noise at
# 1 thread); the tie goes to the more accurate, then the smaller file.
TIE_FRACTION = 0.05


@dataclass(frozen=True)
class Candidate:
    """An artifact that may be chosen: ``score`` is its accuracy (else its agreement with the
    source model), ``passed`` whether it passed verification, ``path`` where to estimate it."""

    file: str
    format: str
    size_bytes: int
    score: float | None = None
    passed: bool = True
    path: Path | None = None


@dataclass(frozen=True)
class Timing:
    """One candidate's latency on one device: measured or estimated, with its tie band."""

    candidate: Candidate
    latency_ms: float
    kind: str  # "measured" or "estimated"
    band: float  # fraction of the latency within which another counts as a tie


def relative_band(latency_kind: str, latency_error_pct: float | None) -> float:
    """The fraction a latency (and what scales with it) may be off: the estimate's band, or
    measurement noise."""
    if latency_kind == "measured":
        return TIE_FRACTION
    return (latency_error_pct or 0.0) / 100.0


def record_timing(candidate: Candidate, record: Evidence) -> Timing:
    """The timing a profile entry gives: measured noise, or the estimate's error band."""
    band = relative_band(record.latency_kind, record.latency_error_pct)
    return Timing(candidate, record.latency_ms, record.latency_kind, band)


def choose(timings: Sequence[Timing]) -> DeviceChoice | None:
    """The fastest verified candidate; within the band of the fastest, the more accurate, then
    the smaller. None when no candidate passed verification."""
    usable = [t for t in timings if t.candidate.passed]
    if not usable:
        return None
    fastest = min(usable, key=lambda t: t.latency_ms)
    tied = [
        t for t in usable if t.latency_ms <= fastest.latency_ms * (1 + max(fastest.band, t.band))
    ]
    best = min(tied, key=_preference)
    band = max(t.band for t in tied)
    if best is fastest:  # in a tie, also the most accurate (or as accurate and smallest)
        reason = "fastest"
    elif _score(best) > _score(fastest):
        reason = "more accurate"
    else:
        reason = "as accurate, smaller"
    kinds = {t.kind for t in usable}
    return DeviceChoice(
        file=best.candidate.file,
        latency_ms=best.latency_ms,
        basis=_basis(kinds),
        band_pct=round(100 * band, 3),
        tie=len(tied) > 1,
        ties=tuple(t.candidate.file for t in tied if t is not best),
        reason=reason,
    )


def _score(timing: Timing) -> float:
    score = timing.candidate.score
    return float("-inf") if score is None else float(score)


def _preference(timing: Timing) -> tuple[float, int, float]:
    return (-_score(timing), timing.candidate.size_bytes, timing.latency_ms)


def _basis(kinds: set[str]) -> Basis:
    if kinds == {"measured"}:
        return "measured"
    return "estimated" if kinds == {"estimated"} else "mixed"


def recommendation(
    device: str, device_name: str, threads: int, timings: Sequence[Timing]
) -> DeviceRecommendation:
    """The choice per format and overall among ``timings`` (one per candidate) on ``device``."""
    by_format = {}
    for fmt in dict.fromkeys(t.candidate.format for t in timings):
        choice = choose([t for t in timings if t.candidate.format == fmt])
        if choice is not None:
            by_format[fmt] = choice
    return DeviceRecommendation(
        device=device,
        device_name=device_name,
        threads=threads,
        overall=choose(timings),
        by_format=by_format,
    )


def evidence(
    candidates: Sequence[Candidate], records: Iterable[Evidence], device: str
) -> list[Timing]:
    """Each candidate's timing on ``device`` from ``records``: all measured when every candidate
    has a measured record there, else the estimated records (a measurement where a candidate
    has no estimate), so the choice compares like with like."""
    measured: dict[str, Evidence] = {}
    estimated: dict[str, Evidence] = {}
    for record in records:
        if record.device == device:
            kind = measured if record.latency_kind == "measured" else estimated
            kind[record.artifact] = record
    if candidates and all(c.file in measured for c in candidates):
        return [record_timing(c, measured[c.file]) for c in candidates]
    found = [(c, estimated.get(c.file) or measured.get(c.file)) for c in candidates]
    return [record_timing(c, r) for c, r in found if r is not None]


def candidates_of(records: Iterable[Evidence]) -> list[Candidate]:
    """The artifacts profile entries describe, once each, in order (no manifest: each counts as
    verified, its accuracy is the entry's)."""
    found: dict[str, Candidate] = {}
    for r in records:
        found.setdefault(
            r.artifact,
            Candidate(r.artifact, r.format, r.size_bytes, r.accuracy, True, Path(r.path)),
        )
    return list(found.values())


def recommend_from_records(
    records: Sequence[Evidence], candidates: Sequence[Candidate] | None = None
) -> tuple[DeviceRecommendation, ...]:
    """A recommendation for every device the records cover (host first when measured), from
    the records alone: what ``edgesub compare`` and the report show beside the same figures."""
    candidates = list(candidates) if candidates is not None else candidates_of(records)
    devices: dict[str, Evidence] = {}
    for record in records:
        devices.setdefault(record.device, record)
    ordered = sorted(devices.values(), key=lambda r: r.device != HOST)
    return tuple(
        recommendation(r.device, r.device_name, r.threads, evidence(candidates, records, r.device))
        for r in ordered
    )


def recommend_on_device(
    candidates: Sequence[Candidate],
    device: DeviceProfile,
    *,
    threads: int = 1,
    records: Iterable[ProfileEntry] = (),
    input_shape: ShapeOverride = None,
) -> DeviceRecommendation:
    """The choice for ``device``: measured when ``records`` hold a measured entry on it for every
    candidate, else estimated now from each file's graph at ``threads`` threads. A file that
    cannot be estimated (a custom op) is left out of the choice."""
    measured = [r for r in records if r.device == device.id and r.measured]
    if candidates and {c.file for c in candidates} <= {r.artifact for r in measured}:
        timings = evidence(candidates, measured, device.id)
        return recommendation(device.id, device.display_name, threads, timings)
    return recommendation(
        device.id,
        device.display_name,
        min(threads, device.cores),
        [t for c in candidates if (t := estimate_timing(c, device, threads, input_shape))],
    )


def estimate_timing(
    candidate: Candidate,
    device: DeviceProfile,
    threads: int,
    input_shape: ShapeOverride = None,
) -> Timing | None:
    """The estimator's latency of ``candidate``'s file on ``device`` (None if it cannot say)."""
    from edgesub.profile.estimate import estimate
    from edgesub.profile.formats import load_graph

    if candidate.path is None:
        return None
    try:
        est = estimate(load_graph(candidate.path, input_shape), device, threads)
    except EdgesubError:
        return None
    return Timing(candidate, est.latency_ms, "estimated", est.latency_error_pct / 100.0)
