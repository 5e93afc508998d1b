"""Which files a bundle takes, and what the choice rests on.

Without ``--device`` a bundle takes the files the manifest recommends: the fastest per format
as measured on the machine that converted them, which may not be the fastest on the device.
With ``--device ID`` it takes the files recommended for that device profile
(:mod:`edgesub.profile.recommend`): by latency measured on it when the run's profile.json holds
a measured entry there for every file, else by the estimator's latency for it. Either way the
bundle's manifest (``recommended``: ``device``, ``latency_kind``, ``basis``) and README say
which it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgesub.converters.manifest_record import ArtifactEntry, Recommendation
from edgesub.errors import ConfigError, ModelFileError
from edgesub.package.source import PackageSource
from edgesub.profile.compare_record import DeviceChoice, DeviceRecommendation
from edgesub.profile.profile_record import HOST, ProfileEntry, load_profile


@dataclass(frozen=True)
class Selection:
    """The files a bundle takes, the ``recommended`` its manifest gets, and a README sentence
    saying what the choice rests on."""

    entries: list[ArtifactEntry]
    recommended: Recommendation | None
    basis: str


def select(
    source: PackageSource,
    names: Sequence[str],
    formats: Sequence[str] | None = None,
    *,
    device: str | None = None,
    threads: int = 1,
    profiles_dir: str | None = None,
) -> Selection:
    """The files named, else those recommended for ``device`` (a device profile id; an unknown
    one is an error listing the known ids), else those recommended on the converting host."""
    if device is not None:
        return _for_device(source, names, formats, device, threads, profiles_dir)
    entries = source.choose(names, formats)
    files = {e.file for e in entries}
    kept = {fmt: f for fmt, f in source.recommended.items() if f in files}
    host = source.recommendation
    recommended = None
    if kept and host is not None:
        recommended = Recommendation(
            by_format=kept, basis=host.basis, host=host.host, device=HOST, latency_kind="measured"
        )
    if names:
        basis = _named(names)
    elif recommended is None:
        basis = "No latency was measured to choose by: all files are here."
    else:
        basis = host_sentence(host)
    return Selection(entries, recommended, basis)


def _for_device(
    source: PackageSource,
    names: Sequence[str],
    formats: Sequence[str] | None,
    device_id: str,
    threads: int,
    profiles_dir: str | None,
) -> Selection:
    from edgesub.converters.recommend import candidate
    from edgesub.profile.devices import load_devices
    from edgesub.profile.recommend import recommend_on_device

    device = load_devices(profiles_dir).get(device_id)  # unknown: lists the known ids
    pool = [
        candidate(e, source.folder) for e in source.entries if not formats or e.format in formats
    ]
    advice = recommend_on_device(pool, device, threads=threads, records=_records(source))
    if not advice.by_format:
        raise ConfigError(
            f"no artifact here can be chosen for {device_id}: none passed verification or "
            "could be estimated; name one with --artifact"
        )
    by_format = {fmt: choice.file for fmt, choice in advice.by_format.items()}
    named = [source.entry(name) for name in dict.fromkeys(names)]
    entries = named or [source.entry(file) for file in dict.fromkeys(by_format.values())]
    files = {e.file for e in entries}
    kinds = {choice.basis for choice in advice.by_format.values()}
    recommended = Recommendation(
        by_format={fmt: file for fmt, file in by_format.items() if file in files},
        basis=device_rule(advice),
        device=device_id,
        latency_kind=kinds.pop() if len(kinds) == 1 else "mixed",
    )
    sentence = device_sentence(advice)
    return Selection(
        entries, recommended if recommended.by_format else None, _named(names) or sentence
    )


def _named(names: Sequence[str]) -> str:
    return "The files were named with `--artifact`." if names else ""


def _records(source: PackageSource) -> tuple[ProfileEntry, ...]:
    """The run's profile entries (a measured entry on the device counts), none without a run."""
    if source.run is None or not source.run.profile.is_file():
        return ()
    return load_profile(source.run.profile, ModelFileError).records


def host_sentence(host: Recommendation) -> str:
    """The README sentence for files chosen by the converting host's measurements."""
    facts = host.host or {}
    where = ", ".join(str(v) for v in (facts.get("machine"), facts.get("cpu")) if v)
    return (
        "The files were chosen by latency measured on the machine that converted them"
        f"{f' ({where})' if where else ''}, not on the device, where another file may be "
        "faster: `--device ID` (ids: `edgesub devices`) chooses by the device's own latency."
    )


def device_rule(advice: DeviceRecommendation) -> str:
    """The manifest's ``basis`` for a device's choice: the rule, in words."""
    choices = list(advice.by_format.values())
    measured = all(c.basis == "measured" for c in choices)
    evidence = "measured" if measured else "estimated"
    band = f"{max(c.band_pct for c in choices):g} %"
    return (
        f"lowest {evidence} latency on {advice.device} at {advice.threads} thread(s) among "
        f"artifacts that passed verification; within ±{band} "
        f"({'measurement noise' if measured else 'the estimate error'}) the more accurate, "
        "then the smaller file"
    )


def device_sentence(advice: DeviceRecommendation) -> str:
    """The README sentence for files chosen for one device: on what, and each choice."""
    choices = list(advice.by_format.values())
    if all(c.basis == "measured" for c in choices):
        how = "latency measured on it (the run's profile.json)"
    else:
        band = max(c.band_pct for c in choices)
        how = (
            f"latency estimated for it by edgesub's estimator (±{band:g} %: files within that "
            "band of the fastest are a tie, won by the more accurate, then the smaller file)"
        )
    parts = "; ".join(_choice(fmt, c) for fmt, c in advice.by_format.items())
    return (
        f"The files were chosen for the {advice.device_name} (`{advice.device}`, "
        f"{advice.threads} thread(s)) by {how}: {parts}."
    )


def _choice(fmt: str, choice: DeviceChoice) -> str:
    tie = f", a tie with {', '.join(f'`{t}`' for t in choice.ties)}" if choice.tie else ""
    won = f" won by {choice.reason}" if choice.tie and choice.reason != "fastest" else ""
    return f"{fmt} `{choice.file}` ({choice.latency_ms:.3g} ms {choice.basis}{tie}{won})"
