"""Pipeline commands: ``run`` and the stage commands ``subspace``, ``distill``, ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgesub import config as config_mod
from edgesub.cli.app import (
    FINITE_FLOAT,
    THREADS,
    add_hidden_alias,
    cli,
    config_default,
    data_options,
    hold_lock,
    no_progress_option,
    open_run_with_sets,
    parse_sets,
    print_json,
    run_dir_argument,
    set_option,
    teacher_options,
)
from edgesub.console import out
from edgesub.errors import EdgesubError

# Settings of `edgesub run --fast`: a smoke test of every stage in about a minute.
FAST_OVERRIDES = {
    "teacher.epochs": 3,
    "distill.epochs": 4,
    "profile.warmup": 2,
    "profile.runs": 10,
}


@cli.command()
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Pipeline TOML (default: the built-in configuration; flags override it).",
)
@click.option(
    "--name", help=f"Run name, a folder under --runs-dir (default: {config_default('name')})."
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False),
    help=f"Parent folder of runs (default: {config_default('runs_dir')}).",
)
@click.option(
    "--device",
    "devices",
    multiple=True,
    help=f"Device profile id, repeatable (default: {config_default('profile.devices')}; "
    "list them with `edgesub devices`).",
)
@click.option(
    "--threads",
    type=THREADS,
    help="CPU threads for measurement and estimates "
    f"(default: {config_default('profile.threads')}).",
)
@click.option("--fast", is_flag=True, help="Few epochs and runs: a smoke test of every stage.")
@click.option("--overwrite", is_flag=True, help="Delete an earlier run of this name first.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run: RUN_DIR (its config.toml has every option) or --name.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@set_option
@teacher_options
@data_options
@no_progress_option
@click.pass_context
def run(
    ctx: click.Context,
    run_dir: str | None,
    config_path: str | None,
    name: str | None,
    runs_dir: str | None,
    devices: tuple[str, ...],
    threads: int | None,
    fast: bool,
    overwrite: bool,
    resume: bool,
    as_json: bool,
    sets: tuple[str, ...],
    no_progress: bool,
) -> None:
    """Run the whole pipeline (default: digits, wide CNN teacher, 16× subspace).

    RUN_DIR is only for --resume: it continues that run with the configuration it was started
    with.

    \b
    Example:
      edgesub run --fast --name smoke --device raspberry-pi-5
      edgesub run --teacher model.onnx --data photos/ --name mine
      edgesub run --resume runs/smoke
    """
    from edgesub.pipeline import Mode, interrupted_hint, open_run, run_pipeline

    if overwrite and resume:
        raise click.UsageError("--overwrite and --resume exclude each other")
    if run_dir is not None and (not resume or config_path or name or runs_dir):
        raise click.UsageError(
            "RUN_DIR goes with --resume alone (no --config, --name or --runs-dir); "
            "start a new run with --name"
        )
    overrides: dict[str, Any] = dict(FAST_OVERRIDES) if fast else {}
    overrides.update(
        {
            "name": name,
            "runs_dir": runs_dir,
            "profile.devices": list(devices) or None,
            "profile.threads": threads,
        }
    )
    overrides.update(parse_sets(sets))
    base = open_run(run_dir)[1] if run_dir is not None else config_mod.load(config_path)
    cfg = config_mod.apply_overrides(base, overrides)
    ctx.meta["resume_hint"] = interrupted_hint(cfg)
    mode = Mode.RESUME if resume else Mode.OVERWRITE if overwrite else Mode.NEW
    summary = run_pipeline(cfg, mode=mode, progress=not no_progress)
    if as_json:
        print_json(summary)
    else:
        _print_run_summary(Path(summary["run_dir"]), summary)


def _print_run_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    from edgesub.report.table import profile_tables, stage_timings_table, summary_table

    out.print(summary_table(run_dir))
    for table in profile_tables(summary["profile"], out.width):
        out.print(table)
    out.print(stage_timings_table(summary["timings"]))
    out.print(f"report: {summary['report']}")


@cli.command()
@run_dir_argument
@click.option(
    "--method",
    help="Projection: gaussian, sparse, pca, lda, learned "
    f"(default: {config_default('subspace.method')}).",
)
@click.option(
    "--compression",
    type=int,
    help=f"Compression factor d/k, × (default: {config_default('subspace.compression')}).",
)
@click.option(
    "--k", type=int, help="Subspace dimension, overrides --compression (default: d/compression)."
)
@click.option(
    "--methods",
    help="Comma-separated methods to sweep, e.g. gaussian,pca,lda (default: --method only).",
)
@click.option("--auto-k", is_flag=True, default=None, help="Pick the smallest k within tolerance.")
@click.option(
    "--tolerance",
    type=FINITE_FLOAT,
    help="Accuracy points (%) --auto-k may lose against the full head "
    f"(default: {config_default('subspace.tolerance')}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print subspace.json.")
@set_option
@teacher_options
@no_progress_option
def subspace(
    run_dir: str,
    method: str | None,
    compression: int | None,
    k: int | None,
    methods: str | None,
    auto_k: bool | None,
    tolerance: float | None,
    as_json: bool,
    sets: tuple[str, ...],
    no_progress: bool,
) -> None:
    """Build the subspace and compressed head of a run (trains the teacher if needed).

    Sweeps the methods over compressions 2× to 64×, prints the accuracy table and writes
    subspace.json and plots/accuracy_vs_compression.png. `edgesub compress` is the same
    command under its former name.

    \b
    Example:
      edgesub subspace runs/default --methods gaussian,pca,lda --auto-k
    """
    from edgesub.pipeline import stage_data, stage_subspace, stage_teacher
    from edgesub.report.lines import subspace_line
    from edgesub.report.plots import write_plots
    from edgesub.subspace.build import sweep_table

    run, cfg = open_run_with_sets(run_dir, sets)
    cfg = config_mod.apply_overrides(
        cfg,
        {
            "subspace.method": method,
            "subspace.compression": compression,
            "subspace.k": k,
            "subspace.methods": methods,
            "subspace.auto_k": auto_k,
            "subspace.tolerance": tolerance,
        },
    )
    data = stage_data(cfg)
    stage_teacher(run, data, cfg, resume=True, progress=not no_progress)
    result = stage_subspace(run, data, cfg, progress=not no_progress)
    plots = write_plots(run.root) if result["sweep"] else []
    if as_json:
        print_json(result)
        return
    for row in sweep_table(result) if result["sweep"] else []:
        out.print("  ".join(f"{cell:>10}" for cell in row))
    if result["auto_k"]:
        met = "within" if result["auto_k"]["met"] else "NOT within"
        out.print(f"auto-k: k={result['k']} is {met} {result['auto_k']['tolerance']} points")
    out.print(subspace_line(result))
    for path in plots:
        out.print(f"wrote {path}")


add_hidden_alias(subspace, "compress")  # the stage's former name


@cli.command()
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Pipeline TOML instead of RUN_DIR: distil in its run directory (teacher and subspace "
    "are made first when missing; default: RUN_DIR's own config.toml).",
)
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint.")
@click.option(
    "--epochs", type=int, help=f"Training epochs (default: {config_default('distill.epochs')})."
)
@click.option(
    "--method",
    help="A distillation method by name, which sets the losses and the head: subspace_native, "
    "ce, logit_kd, fitnets, dkd, dist or simkd (default: the configured losses, "
    "subspace-native).",
)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes on this machine (torchrun, DistributedDataParallel).",
)
@click.option("--json", "as_json", is_flag=True, help="Print student.json.")
@set_option
@teacher_options
@data_options
@no_progress_option
def distill(
    run_dir: str | None,
    config_path: str | None,
    resume: bool,
    epochs: int | None,
    method: str | None,
    nproc: int,
    as_json: bool,
    sets: tuple[str, ...],
    no_progress: bool,
) -> None:
    """Train the student of a run (RUN_DIR) or of a pipeline config (--config).

    --nproc N trains in N processes on this machine with DistributedDataParallel (through
    torchrun); for several machines run `torchrun ... -m edgesub distill RUN_DIR` yourself.

    \b
    Example:
      edgesub distill runs/default --method logit_kd --epochs 20
    """
    from edgesub.pipeline import stage_data, stage_distill
    from edgesub.report.lines import student_line
    from edgesub.rundir import INHERITED_LOCK_ENV
    from edgesub.training.ddp import from_env, launch

    if (run_dir is None) == (config_path is None):
        raise click.UsageError("give either RUN_DIR or --config FILE")
    dist = from_env()
    run, cfg = _distill_target(run_dir, config_path, sets, epochs, method, prepare=dist.main)
    if config_path and dist.world == 1:
        from edgesub.pipeline import ensure_subspace

        ensure_subspace(run, stage_data(cfg), cfg, progress=not no_progress)
    if nproc > 1 and dist.world == 1:
        args = _forwarded(run_dir, config_path, resume, epochs, method, as_json, sets, no_progress)
        code = launch(nproc, args, env={INHERITED_LOCK_ENV: str(run.lock_path)})
        if code:
            raise EdgesubError(f"distributed training failed (torchrun exit code {code})")
        return
    data = stage_data(cfg)
    result = stage_distill(run, data, cfg, resume=resume, progress=not no_progress, dist=dist)
    if config_path and dist.main:
        from edgesub.pipeline import record_config

        record_config(run, cfg)
    if not dist.main:
        return
    if as_json:
        print_json(result)
    else:
        out.print(student_line(result))


def _distill_target(
    run_dir: str | None,
    config_path: str | None,
    sets: tuple[str, ...],
    epochs: int | None,
    method: str | None,
    *,
    prepare: bool,
) -> tuple[Any, Any]:
    """The run and its configuration, with the command's overrides applied."""
    import dataclasses

    from edgesub.distill.methods import with_method
    from edgesub.pipeline import prepare_distill_run
    from edgesub.rundir import RunDir

    if run_dir is not None:
        run, cfg = open_run_with_sets(run_dir, sets, lock=prepare)
    else:
        cfg = config_mod.apply_overrides(config_mod.load(config_path), parse_sets(sets))
        run = None
    cfg = config_mod.apply_overrides(cfg, {"distill.epochs": epochs})
    if method:
        cfg = dataclasses.replace(cfg, distill=with_method(cfg.distill, method)).validate()
    if run is None:
        run = RunDir(cfg.run_dir)
        if prepare:
            hold_lock(run)
            prepare_distill_run(cfg)
    return run, cfg


def _forwarded(
    run_dir: str | None,
    config_path: str | None,
    resume: bool,
    epochs: int | None,
    method: str | None,
    as_json: bool,
    sets: tuple[str, ...],
    no_progress: bool,
) -> list[str]:
    """This command's arguments for the torchrun workers (as a list, never a shell string)."""
    args = ["distill", run_dir] if run_dir else ["distill", "--config", str(config_path)]
    args += ["--resume"] * resume + ["--json"] * as_json + ["--no-progress"] * no_progress
    args += ["--epochs", str(epochs)] if epochs is not None else []
    args += ["--method", method] if method else []
    for item in sets:
        args += ["--set", item]
    return args


@cli.command()
@run_dir_argument
def report(run_dir: str) -> None:
    """Write plots and report.html of a run directory from what its stages produced.

    \b
    Example:
      edgesub report runs/default
    """
    from edgesub.pipeline import stage_report
    from edgesub.rundir import RunDir

    run = RunDir(Path(run_dir))
    if not run.root.is_dir():
        raise EdgesubError(f"run directory {run.root} does not exist")
    hold_lock(run)
    out.print(f"report: {stage_report(run)}")
