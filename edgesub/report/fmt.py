"""Number and label formatting shared by the terminal tables and the HTML page.

One place decides how a figure and its measured/estimated label read, so the terminal and the
HTML report never disagree about the same record.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgesub.converters.manifest_record import Parity
    from edgesub.profile.compare_record import CompareRow, DeviceChoice, DeviceRecommendation
    from edgesub.profile.profile_record import ProfileEntry

    Row = ProfileEntry | CompareRow

DASH = "—"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any, sig: int = 3) -> str:
    """``sig`` significant digits without exponent notation (latencies span 0.01–1000 ms)."""
    if value is None:
        return DASH
    if not is_number(value):
        return str(value)
    if value == 0:
        return "0"
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{min(decimals, 6)}f}"


def percent(value: Any) -> str:
    """Accuracy in percent with two decimals (test splits are a few hundred samples)."""
    return f"{value:.2f}" if is_number(value) else number(value)


def kib(size_bytes: Any) -> str:
    return f"{size_bytes / 1024:,.1f}" if is_number(size_bytes) else number(size_bytes)


def count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else number(value)


def seconds(value: Any) -> str:
    return f"{value:,.1f}" if is_number(value) else number(value)


def latency_label(record: Row) -> str:
    """``measured`` or ``estimated ±x %`` — the expected error travels with every estimate,
    and so does a partial cost (``--allow-partial``): the figure then leaves ops out."""
    kind = str(record.latency_kind or "unknown")
    error = record.latency_error_pct
    if kind == "estimated" and is_number(error):
        return f"estimated ±{number(error, 2)} %{partial_note(record)}"
    return kind


def partial_note(record: Row) -> str:
    """``, partial: 83 % of ops costed (no cost: If, Loop)`` when some ops have no known cost."""
    fraction = record.costed_fraction
    if fraction is None or not is_number(fraction) or fraction >= 1:
        return ""
    missing = ", ".join(record.uncosted_ops or []) or "?"
    return f", partial: {fraction * 100:.0f} % of ops costed (no cost: {missing})"


def latency_band(record: Row) -> tuple[float, float] | None:
    """Expected range of an estimated latency, from its ± error; None when measured."""
    latency, error = record.latency_ms, record.latency_error_pct
    if record.latency_kind != "estimated" or error is None or not is_number(latency):
        return None
    return max(latency * (1 - error / 100), 0.0), latency * (1 + error / 100)


def choice_label(choice: DeviceChoice | None) -> str:
    """The file to use, and when it won a tie, how (the tied files are in compare.json)."""
    if choice is None:
        return DASH
    if not choice.tie:
        return choice.file
    return f"{choice.file} (tie: {choice.reason})"


def basis_label(advice: DeviceRecommendation) -> str:
    """What a device's choice rests on and its tie band: ``estimated ±45 %, 1 thread``."""
    choices = [c for c in (advice.overall, *advice.by_format.values()) if c is not None]
    kinds = list(dict.fromkeys(_basis(c) for c in choices)) or ["no choice"]
    threads = f"{advice.threads} thread{'' if advice.threads == 1 else 's'}"
    return f"{' and '.join(kinds)}, {threads}"


def _basis(choice: DeviceChoice) -> str:
    band = number(choice.band_pct, 2)
    return "measured" if choice.basis == "measured" else f"{choice.basis} ±{band} %"


def fits_label(record: Row) -> str:
    fits = record.fits_in_memory
    if fits is None:
        return "RAM fit unknown"
    return "fits" if fits else "exceeds RAM"


def energy_kind(record: Row) -> str:
    if not is_number(record.energy_mj):
        return "unavailable"
    return str(record.energy_kind or "unknown")


def sha_prefix(sha: Any) -> str:
    return str(sha)[:12] if sha else DASH


def parity_verdict(parity: Parity | None) -> str:
    """``passed``/``FAILED`` from the converter's check against the source model."""
    if parity is None:
        return DASH
    return "passed" if parity.passed else "FAILED"


def parity_details(parity: Parity | None) -> str:
    """The two numbers behind the verdict: max |Δ| of logits and top-1 agreement."""
    if parity is None:
        return ""
    details = []
    if is_number(parity.max_abs_diff):
        details.append(f"max |Δ| {parity.max_abs_diff:.1e}")
    if is_number(parity.top1_agreement):
        details.append(f"top-1 agree {_agreement_pct(parity.top1_agreement)} %")
    return ", ".join(details)


def _agreement_pct(value: float) -> str:
    """Top-1 agreement may be stored as a fraction (0–1) or a percent; show a percent."""
    return f"{value * 100:.1f}" if value <= 1 else f"{value:.1f}"
