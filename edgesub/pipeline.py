"""The whole pipeline and its stages, over one run directory.

Each ``stage_*`` function is what the matching CLI command runs; ``run_pipeline`` chains them,
times each stage and skips, on ``--resume``, the stages whose outputs already exist.
"""

from __future__ import annotations

import enum
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesub import config as config_mod
from edgesub.atomic import atomic_write_json, atomic_write_text
from edgesub.config import RunConfig
from edgesub.console import note, stage
from edgesub.errors import ConfigError, RunDirError
from edgesub.jsonfile import read_json_or_empty
from edgesub.report.lines import artifact_line, student_line, subspace_line, teacher_line
from edgesub.rundir import RunDir

if TYPE_CHECKING:
    from edgesub.data import Dataset
    from edgesub.profile.profile_record import ProfileEntry


class Mode(enum.Enum):
    """What to do with an existing run directory."""

    NEW = "new"  # refuse a non-empty directory
    OVERWRITE = "overwrite"  # delete a previous edgesub run there, start again
    RESUME = "resume"  # keep finished stages and checkpoints, continue


def prepare_run_dir(cfg: RunConfig, mode: Mode) -> RunDir:
    """Create (or reopen) the run directory and record the resolved configuration."""
    run = RunDir(cfg.run_dir)
    exists = run.root.exists() and any(run.root.iterdir())
    if exists and mode is Mode.NEW and _nothing_but_a_start(run):
        exists = False  # a run that failed before any stage wrote: the same command may retry
    if exists and mode is Mode.NEW:
        raise RunDirError(
            f"{run.root} is not empty; pass --resume to continue it or --overwrite to start again"
        )
    if exists and mode is Mode.OVERWRITE:
        _check_deletable(run, cfg)
        shutil.rmtree(run.root)
    if exists and mode is Mode.RESUME and run.config.exists():
        _check_same_config(run, cfg)
    run.root.mkdir(parents=True, exist_ok=True)
    run.mark()
    atomic_write_text(run.config, config_mod.to_toml(cfg))
    return run


def _nothing_but_a_start(run: RunDir) -> bool:
    """Whether an edgesub run folder holds only what starting a run writes (its marker and
    config.toml): no stage wrote anything, so nothing would be lost by starting it again."""
    names = {p.name for p in run.root.iterdir()}
    return run.run_id() is not None and names <= {run.marker.name, run.config.name}


def _check_deletable(run: RunDir, cfg: RunConfig) -> None:
    """--overwrite deletes only a folder edgesub marked as a run, directly inside runs_dir."""
    refuse = "refusing to delete it — choose another --name or --runs-dir"
    if run.root.is_symlink() or run.root.resolve().parent != Path(cfg.runs_dir).resolve():
        raise RunDirError(f"{run.root} is not a folder directly inside {cfg.runs_dir}; {refuse}")
    if run.run_id() is None:
        why = (
            "it has a config.toml but no .edgesub-run marker (an older edgesub's run? delete "
            "it yourself if it is yours)"
            if run.config.exists()
            else "no .edgesub-run marker"
        )
        raise RunDirError(f"{run.root} is not empty and is not an edgesub run ({why}); {refuse}")


def _check_same_config(run: RunDir, cfg: RunConfig) -> None:
    """Resuming under another configuration would mix two experiments; refuse it."""
    saved = _comparable(config_mod.load(run.config))
    current = _comparable(cfg)
    diff = _first_difference(saved, current, prefix="")
    if diff:
        raise RunDirError(
            f"cannot resume {run.root}: {diff} differs from its config.toml; "
            "use the same options or --overwrite"
        )


def _comparable(cfg: RunConfig) -> dict[str, Any]:
    """The configuration as compared on resume: ``./rr`` and ``rr`` are one runs_dir."""
    record = config_mod.to_dict(cfg)
    record["runs_dir"] = str(Path(cfg.runs_dir).resolve())
    return record


def _first_difference(a: dict[str, Any], b: dict[str, Any], prefix: str) -> str | None:
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict) and key != "losses":
            found = _first_difference(va, vb, f"{prefix}{key}.")
            if found:
                return found
        elif va != vb:
            return f"{prefix}{key} ({va!r} → {vb!r})"
    return None


# The sections whose outputs (teacher, features, subspace) a re-distillation reuses; the
# unlabeled inputs are not among them (the teacher and subspace see the labelled splits only).
UPSTREAM_SECTIONS = ("data", "teacher", "subspace")
DISTILL_ONLY = ("data.unlabeled",)


def prepare_distill_run(cfg: RunConfig) -> RunDir:
    """The run directory of ``cfg`` for ``edgesub distill --config``: created (with its
    config.toml) when new; an existing run must have the same data, teacher and subspace
    settings, since its teacher and subspace are reused (student and distill may differ)."""
    run = RunDir(cfg.run_dir)
    if run.config.exists():
        saved = config_mod.to_dict(config_mod.load(run.config))
        current = config_mod.to_dict(cfg)
        diff = _first_difference(_upstream(saved), _upstream(current), prefix="")
        if diff:
            raise RunDirError(
                f"{run.root} holds a teacher and subspace made with other settings: {diff}; "
                "choose another run name"
            )
    elif run.root.exists() and any(run.root.iterdir()):
        raise RunDirError(f"{run.root} is not empty and is not an edgesub run (no config.toml)")
    else:
        run.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.config, config_mod.to_toml(cfg))
    run.mark()
    return run


def _upstream(record: dict[str, Any]) -> dict[str, Any]:
    """The upstream sections of a configuration record, without :data:`DISTILL_ONLY` keys."""
    out = {k: dict(record[k]) for k in UPSTREAM_SECTIONS}
    for dotted in DISTILL_ONLY:
        section, key = dotted.split(".")
        out[section].pop(key, None)
    return out


def record_config(run: RunDir, cfg: RunConfig) -> None:
    """Save ``cfg`` as the run's config.toml (after a stage ran with it)."""
    atomic_write_text(run.config, config_mod.to_toml(cfg))


def open_run(run_dir: str | Path) -> tuple[RunDir, RunConfig]:
    """Open an existing run directory with the configuration it was made with."""
    run = RunDir(Path(run_dir))
    if not run.root.is_dir():
        raise RunDirError(f"run directory {run.root} does not exist")
    cfg = config_mod.load(run.require(run.config, "run"))
    return run, config_mod.apply_overrides(
        cfg, {"runs_dir": str(run.root.parent), "name": run.root.name}
    )


def stage_data(cfg: RunConfig) -> Dataset:
    """The run's data; image files stay unread until a view reads them when a given teacher
    reads them through its own preprocessing (edgesub's own teacher trains on arrays)."""
    from edgesub.data import load_dataset

    return load_dataset(cfg.data, lazy=bool(cfg.teacher.source))


def stage_teacher(
    run: RunDir, data: Dataset, cfg: RunConfig, *, resume: bool, progress: bool
) -> dict:
    """Use the user's teacher as it is (``teacher.source``), or train ``teacher.arch``."""
    if cfg.teacher.source:
        from edgesub.teachers.given import use_teacher

        return use_teacher(run, data, cfg.teacher, cfg.student)
    if data.train.x.dtype.kind == "U":
        raise ConfigError(
            f"{data.name} holds texts, and edgesub trains only image teachers; give your own "
            "text classifier (--teacher hf:DIR) or the bundled sentence encoder "
            "(--teacher minilm)"
        )
    from edgesub.teachers import train_teacher

    return train_teacher(run, data, cfg.teacher, resume=resume, progress=progress)


def student_data(run: RunDir, data: Dataset, cfg: RunConfig) -> Dataset:
    """``data`` as the student reads it: a given teacher's preprocessing (at the student's
    input size) and class order, or the data as loaded for an edgesub-trained teacher."""
    if not cfg.teacher.source:
        return data
    from edgesub.teachers.given import given_views

    run.require(run.teacher_json, "subspace")  # `edgesub subspace` runs the teacher stage
    return given_views(run, data)[1]


def stage_subspace(run: RunDir, data: Dataset, cfg: RunConfig, *, progress: bool) -> dict:
    from edgesub.subspace import build_subspace

    return build_subspace(run, student_data(run, data, cfg), cfg.subspace, progress=progress)


def stage_distill(
    run: RunDir, data: Dataset, cfg: RunConfig, *, resume: bool, progress: bool, dist: Any = None
) -> dict:
    from edgesub.distill import distill
    from edgesub.training.ddp import SINGLE

    run.require(run.subspace, "subspace")
    data = student_data(run, data, cfg)
    return distill(
        run, data, cfg.student, cfg.distill, resume=resume, progress=progress, dist=dist or SINGLE
    )


def ensure_subspace(run: RunDir, data: Dataset, cfg: RunConfig, *, progress: bool) -> None:
    """Train the teacher and fit the subspace unless the run already holds them for ``cfg``."""
    stage_teacher(run, data, cfg, resume=True, progress=progress)
    if current_subspace(run, data, cfg) is None:
        stage_subspace(run, data, cfg, progress=progress)


def current_subspace(run: RunDir, data: Dataset, cfg: RunConfig) -> dict | None:
    """The run's subspace.json when its subspace was fitted for ``cfg``, this data and this
    teacher (a resume keeps it: refitting would void the student checkpoint made on it)."""
    from edgesub.teachers.loaded import teacher_sha256

    saved = read_json_or_empty(run.subspace_json)
    sha = teacher_sha256(run)
    if cfg.teacher.source and run.teacher_json.exists():
        data = student_data(run, data, cfg)
    current = (
        saved.get("config") == config_mod.to_dict(cfg.subspace)
        and saved.get("data") == data.fingerprint()
        and sha is not None
        and saved.get("teacher_sha256") == sha
        and run.subspace.exists()
    )
    return saved if current else None


def stage_convert(run: RunDir, data: Dataset, cfg: RunConfig, *, progress: bool) -> list[dict]:
    from edgesub.converters import convert
    from edgesub.distill import load_deployable

    run.require(run.student, "distill")
    model = load_deployable(run)
    data = student_data(run, data, cfg)
    convert_cfg = token_id_precisions(cfg.convert) if data.input_dtype == "int64" else cfg.convert
    return convert(model, data, run.artifacts, convert_cfg, name="student", progress=progress)


def token_id_precisions(cfg: config_mod.ConvertConfig) -> config_mod.ConvertConfig:
    """A token-id student's int8 is dynamic int8: its inputs are ids, not values to calibrate,
    and static int8 of attention under the padding mask costs accuracy for no size gain (the
    artifacts benchmark measures both)."""
    import dataclasses

    swapped = tuple(dict.fromkeys("int8_dynamic" if p == "int8" else p for p in cfg.precisions))
    return dataclasses.replace(cfg, precisions=swapped)


def stage_profile(run: RunDir, cfg: RunConfig, *, progress: bool) -> list[ProfileEntry]:
    from edgesub.converters import read_manifest
    from edgesub.profile import profile_artifacts, write_profile
    from edgesub.profile.remote import RemoteOptions

    manifest = read_manifest(run.require(run.manifest, "convert"))
    paths = [run.artifacts / entry.file for entry in manifest.artifacts]
    p = cfg.profile
    records = profile_artifacts(
        paths,
        list(p.devices),
        threads=p.threads,
        measure=p.measure,
        warmup=p.warmup,
        runs=p.runs,
        profiles_dir=p.profiles_dir or None,
        manifest=manifest,
        progress=progress,
        remote=RemoteOptions.from_config(p),
    )
    from edgesub.profile.teacher_estimate import estimate_run_teacher

    teacher = estimate_run_teacher(
        run, manifest, list(p.devices), p.threads, p.profiles_dir or None
    )
    write_profile(run.profile, records, teacher=teacher.records, teacher_note=teacher.note)
    return records


def stage_report(run: RunDir) -> Path:
    from edgesub.report import write_report

    return write_report(run)


def run_pipeline(
    cfg: RunConfig, *, mode: Mode = Mode.NEW, progress: bool = True, quiet: bool = False
) -> dict[str, Any]:
    """Run every stage on ``cfg``; return the stage summaries and wall times (seconds).

    The run is locked throughout: a second command on it is refused, not interleaved."""
    with RunDir(cfg.run_dir).lock():
        return _run_stages(cfg, mode, progress=progress, quiet=quiet)


def _run_stages(cfg: RunConfig, mode: Mode, *, progress: bool, quiet: bool) -> dict[str, Any]:
    run = prepare_run_dir(cfg, mode)
    resume = mode is Mode.RESUME
    timings: dict[str, float] = {}
    summary: dict[str, Any] = {"run_dir": str(run.root)}
    with stage("data", timings, quiet):
        data = stage_data(cfg)
    with stage("teacher", timings, quiet):
        teacher = summary["teacher"] = stage_teacher(
            run, data, cfg, resume=resume, progress=progress
        )
        note(teacher_line(teacher), quiet)
    with stage("subspace", timings, quiet):
        kept = current_subspace(run, data, cfg) if resume else None
        sub = summary["subspace"] = kept or stage_subspace(run, data, cfg, progress=progress)
        note(subspace_line(sub), quiet)
    with stage("distill", timings, quiet):
        student = summary["student"] = stage_distill(
            run, data, cfg, resume=resume, progress=progress
        )
        note(student_line(student), quiet)
    with stage("convert", timings, quiet):
        from edgesub.converters.manifest_record import ArtifactEntry

        summary["artifacts"] = stage_convert(run, data, cfg, progress=progress)
        for entry in summary["artifacts"]:
            note(artifact_line(ArtifactEntry.from_dict(entry, run.manifest)), quiet)
    with stage("profile", timings, quiet):
        summary["profile"] = stage_profile(run, cfg, progress=progress)
    _write_timings(run, timings)
    with stage("report", timings, quiet):
        summary["report"] = str(stage_report(run))
    summary["timings"] = _write_timings(run, timings)
    return summary


def _write_timings(run: RunDir, timings: dict[str, float]) -> dict[str, Any]:
    record = {"stages": dict(timings), "total_seconds": round(sum(timings.values()), 2)}
    atomic_write_json(run.timings, record)
    return record


def interrupted_hint(cfg: RunConfig) -> str:
    """What to type to continue after Ctrl-C: the run folder holds the whole configuration."""
    return f"edgesub run --resume {shlex.quote(str(cfg.run_dir))}"
