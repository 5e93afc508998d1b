"""The ``edgesub`` command line: thin wrappers over :mod:`edgesub.pipeline` and the stages.

Heavy libraries are imported inside commands, so ``edgesub --help`` stays instant. Errors a user
can cause print one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from edgesub import __version__
from edgesub import config as config_mod
from edgesub.console import out
from edgesub.errors import EdgesubError

# Settings of `edgesub run --fast`: a smoke test of every stage in about a minute.
FAST_OVERRIDES = {
    "teacher.epochs": 3,
    "distill.epochs": 4,
    "profile.warmup": 2,
    "profile.runs": 10,
}


class EdgesubGroup(click.Group):
    """Turns expected failures into one clear line and an exit code instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BaseException as exc:
            if ctx.params.get("debug") or isinstance(exc, SystemExit):
                raise
            code, message = _describe_failure(exc, ctx.meta.get("resume_hint"))
            click.echo(message, err=True)
            ctx.exit(code)


def _describe_failure(exc: BaseException, resume_hint: str | None) -> tuple[int, str]:
    """One line and an exit code for a failure (130 for Ctrl-C, as shells expect)."""
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted" + (f"; continue with: {resume_hint}" if resume_hint else "")
    if isinstance(exc, EdgesubError):
        return 1, f"error: {exc}"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return 1, f"error: {exc.strerror or exc}{where}"
    return 1, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"


@click.group(cls=EdgesubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgesub")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Distil, convert and profile small models for phones and single-board computers."""


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        overrides[key.strip()] = value.strip()
    return overrides


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any config option, e.g. --set distill.epochs=10 (repeatable).",
)
no_progress_option = click.option("--no-progress", is_flag=True, help="Hide progress bars.")


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Pipeline TOML.")
@click.option("--name", help="Run name (folder under --runs-dir).")
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Parent of run folders.")
@click.option("--device", "devices", multiple=True, help="Device profile id (repeatable).")
@click.option("--threads", type=int, help="Threads for measurement and estimates.")
@click.option("--fast", is_flag=True, help="Few epochs and runs: a smoke test of every stage.")
@click.option("--overwrite", is_flag=True, help="Delete an earlier run of this name first.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run of this name.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
@set_option
@no_progress_option
@click.pass_context
def run(
    ctx: click.Context,
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
    """Run the whole pipeline (default: digits, wide CNN teacher, 16× subspace)."""
    from edgesub.pipeline import Mode, interrupted_hint, run_pipeline

    if overwrite and resume:
        raise click.UsageError("--overwrite and --resume exclude each other")
    overrides: dict[str, Any] = dict(FAST_OVERRIDES) if fast else {}
    overrides.update(
        {
            "name": name,
            "runs_dir": runs_dir,
            "profile.devices": list(devices) or None,
            "profile.threads": threads,
        }
    )
    overrides.update(_parse_sets(sets))
    cfg = config_mod.apply_overrides(config_mod.load(config_path), overrides)
    ctx.meta["resume_hint"] = interrupted_hint(cfg)
    mode = Mode.RESUME if resume else Mode.OVERWRITE if overwrite else Mode.NEW
    summary = run_pipeline(cfg, mode=mode, progress=not no_progress)
    if as_json:
        _print_json(summary)
    else:
        _print_run_summary(Path(summary["run_dir"]), summary)


def _print_run_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    from edgesub.report.table import profile_table, stage_timings_table, summary_table

    out.print(summary_table(run_dir))
    out.print(profile_table(summary["profile"]))
    out.print(stage_timings_table(summary["timings"]))
    out.print(f"report: {summary['report']}")


def _open_run(run_dir: str, sets: tuple[str, ...]) -> tuple[Any, Any]:
    from edgesub.pipeline import load_run

    run, cfg = load_run(run_dir)
    return run, config_mod.apply_overrides(cfg, _parse_sets(sets))


run_dir_argument = click.argument("run_dir", type=click.Path(file_okay=False))


@cli.command()
@run_dir_argument
@click.option("--method", help="Projection: gaussian, sparse, pca, lda, learned.")
@click.option("--compression", type=int, help="Compression factor d/k.")
@click.option("--k", type=int, help="Subspace dimension (overrides --compression).")
@click.option("--methods", help="Comma-separated methods to sweep, e.g. gaussian,pca,lda.")
@click.option("--auto-k", is_flag=True, default=None, help="Pick the smallest k within tolerance.")
@click.option("--tolerance", type=float, help="Accuracy points --auto-k may lose (default 1.0).")
@click.option("--json", "as_json", is_flag=True, help="Print subspace.json.")
@set_option
@no_progress_option
def compress(
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
    subspace.json and plots/accuracy_vs_compression.png.
    """
    from edgesub.pipeline import describe_subspace, stage_compress, stage_data, stage_teacher
    from edgesub.report.plots import write_plots
    from edgesub.subspace.compress import sweep_table

    run, cfg = _open_run(run_dir, sets)
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
    result = stage_compress(run, data, cfg, progress=not no_progress)
    plots = write_plots(run.root) if result["sweep"] else []
    if as_json:
        _print_json(result)
        return
    for row in sweep_table(result) if result["sweep"] else []:
        out.print("  ".join(f"{cell:>10}" for cell in row))
    if result["auto_k"]:
        met = "within" if result["auto_k"]["met"] else "NOT within"
        out.print(f"auto-k: k={result['k']} is {met} {result['auto_k']['tolerance']} points")
    out.print(describe_subspace(result))
    for path in plots:
        out.print(f"wrote {path}")


@cli.command()
@run_dir_argument
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint.")
@click.option("--epochs", type=int, help="Training epochs.")
@click.option("--json", "as_json", is_flag=True, help="Print student.json.")
@set_option
@no_progress_option
def distill(
    run_dir: str,
    resume: bool,
    epochs: int | None,
    as_json: bool,
    sets: tuple[str, ...],
    no_progress: bool,
) -> None:
    """Train the subspace-native student of a run."""
    from edgesub.pipeline import describe_student, stage_data, stage_distill

    run, cfg = _open_run(run_dir, sets)
    cfg = config_mod.apply_overrides(cfg, {"distill.epochs": epochs})
    result = stage_distill(run, stage_data(cfg), cfg, resume=resume, progress=not no_progress)
    if as_json:
        _print_json(result)
    else:
        out.print(describe_student(result))


@cli.command()
@click.argument("source", type=click.Path())
@click.option("--format", "formats", multiple=True, help="onnx, tflite (repeatable).")
@click.option(
    "--precision", "precisions", multiple=True, help="fp32, fp16, int8, int8_dynamic (repeatable)."
)
@click.option("--keep-failed", is_flag=True, help="Keep artifacts that fail verification.")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), help="Output folder for a file SOURCE."
)
@click.option(
    "--calibration",
    type=click.Path(dir_okay=False),
    help=".npy float32 inputs (N × input shape) to calibrate int8 and verify on.",
)
@click.option(
    "--arch-config",
    type=click.Path(dir_okay=False),
    help="student.json-style architecture of a .safetensors SOURCE (default: beside it).",
)
@click.option("--dataset", default="digits", show_default=True, help="Dataset for weights.")
@click.option("--labels", type=click.Path(dir_okay=False), help="Class names, one per line.")
@click.option("--name", help="Artifact file stem for a file SOURCE (default: its stem).")
@click.option(
    "--float-io", is_flag=True, help="Keras/SavedModel full int8: keep float32 input/output."
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest entries.")
@set_option
@no_progress_option
def convert(
    source: str,
    formats: tuple[str, ...],
    precisions: tuple[str, ...],
    keep_failed: bool,
    out_dir: str | None,
    calibration: str | None,
    arch_config: str | None,
    dataset: str,
    labels: str | None,
    name: str | None,
    float_io: bool,
    as_json: bool,
    sets: tuple[str, ...],
    no_progress: bool,
) -> None:
    """Export and verify ONNX / TFLite artifacts.

    SOURCE is a run directory, any .onnx file (quantised with ONNX Runtime and verified
    against itself), .safetensors weights with a student.json-style --arch-config, or a
    Keras .keras/.h5 file or SavedModel directory (TFLite via TensorFlow; the tensorflow extra).
    """
    from edgesub.converters.sources import is_saved_model
    from edgesub.pipeline import describe_artifact

    path = Path(source)
    if not is_saved_model(path) and (path.is_dir() or not path.suffix):
        entries = _convert_run(source, formats, precisions, keep_failed, sets, no_progress)
    else:
        from edgesub.converters.sources import SourceRequest, convert_source

        cfg = config_mod.apply_overrides(
            config_mod.RunConfig(), {**_parse_sets(sets), "convert.keep_failed": keep_failed}
        )
        request = SourceRequest(
            cfg=cfg.convert,
            out=Path(out_dir) if out_dir else None,
            formats=formats or None,
            precisions=precisions or None,
            calibration=Path(calibration) if calibration else None,
            labels=Path(labels) if labels else None,
            arch_config=Path(arch_config) if arch_config else None,
            dataset=dataset,
            name=name,
            progress=not no_progress,
            float_io=float_io,
        )
        written, entries = convert_source(path, request)
        if not as_json:
            out.print(f"artifacts and manifest.json in {written}")
    if as_json:
        _print_json(entries)
        return
    for entry in entries:
        out.print(describe_artifact(entry))


def _convert_run(
    run_dir: str,
    formats: tuple[str, ...],
    precisions: tuple[str, ...],
    keep_failed: bool,
    sets: tuple[str, ...],
    no_progress: bool,
) -> list[dict]:
    from edgesub.pipeline import stage_convert, stage_data

    run, cfg = _open_run(run_dir, sets)
    cfg = config_mod.apply_overrides(
        cfg,
        {
            "convert.formats": list(formats) or None,
            "convert.precisions": list(precisions) or None,
            "convert.keep_failed": keep_failed or None,
        },
    )
    return stage_convert(run, stage_data(cfg), cfg, progress=not no_progress)


@cli.command()
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.argument("input_", metavar="INPUT")
@click.option(
    "--manifest", type=click.Path(dir_okay=False), help="Manifest (default: beside ARTIFACT)."
)
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--invert", is_flag=True, help="Invert image brightness (dark ink on white).")
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON.")
def predict(
    artifact: str, input_: str, manifest: str | None, top: int, invert: bool, as_json: bool
) -> None:
    """Run ARTIFACT on INPUT (an image, a .npy array or text) and print the top-k labels.

    Needs only numpy and a runtime (no torch); images are preprocessed as the manifest says.
    """
    from edgesub.converters.predict import predict as run_predict

    result = run_predict(
        Path(artifact),
        input_,
        manifest=Path(manifest) if manifest else None,
        top=top,
        invert=invert,
    )
    if as_json:
        _print_json(result)
        return
    many = len(result["predictions"]) > 1
    for n, ranked in enumerate(result["predictions"]):
        if many:
            click.echo(f"sample {n}:")
        for rank, item in enumerate(ranked, 1):
            click.echo(f"{rank}. {item['label']}  {item['score']:.4f}")


@cli.command()
@click.argument("targets", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--device", "devices", multiple=True, help="Device profile id (repeatable).")
@click.option("--measure/--no-measure", default=True, help="Also measure on this machine.")
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--runs", type=int, default=50, show_default=True, help="Timed runs.")
@click.option("--warmup", type=int, default=10, show_default=True, help="Warm-up runs.")
@click.option("--input-shape", help="Input shape for models with dynamic dims, e.g. 1,3,224,224.")
@click.option(
    "--profiles", "profiles_dir", type=click.Path(file_okay=False), help="Extra device profiles."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON record per artifact × device."
)
@no_progress_option
def profile(
    targets: tuple[str, ...],
    devices: tuple[str, ...],
    measure: bool,
    threads: int,
    runs: int,
    warmup: int,
    input_shape: str | None,
    profiles_dir: str | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Measure and estimate latency, memory and energy of artifacts or a run directory.

    TARGETS are .onnx / .tflite files (any, not only edgesub's) or run directories.
    """
    shape = _parse_shape(input_shape)
    from edgesub.profile import profile_artifacts, write_profile

    paths, manifest, run = _resolve_profile_targets(targets)
    device_ids = list(devices) or list(config_mod.ProfileConfig().devices)
    records = profile_artifacts(
        paths,
        device_ids,
        threads=threads,
        measure=measure,
        warmup=warmup,
        runs=runs,
        profiles_dir=profiles_dir,
        input_shape=shape,
        manifest=manifest,
        progress=not no_progress and not as_json,
    )
    if run is not None:
        write_profile(run.profile, records)
    if as_json:
        _print_json(records)
    else:
        from edgesub.report.table import profile_table

        out.print(profile_table(records))


def _resolve_profile_targets(targets: tuple[str, ...]) -> tuple[list[Path], dict | None, Any]:
    """Expand run directories into their artifacts (with manifest); keep plain files as given."""
    from edgesub.rundir import RunDir

    paths: list[Path] = []
    manifest = None
    run = None
    for target in map(Path, targets):
        if target.is_dir():
            from edgesub.converters import load_manifest

            run = RunDir(target)
            manifest = load_manifest(run.require(run.manifest, "convert"))
            paths += [run.artifacts / a["file"] for a in manifest["artifacts"]]
        else:
            paths.append(target)
    return paths, manifest, run if len(targets) == 1 else None


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise click.BadParameter(f"expected integers like 1,3,224,224, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise click.BadParameter(f"dimensions must be >= 1, got {text!r}")
    return shape


@cli.command()
@click.argument("targets", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--device", "devices", multiple=True, help="Device profile id (repeatable).")
@click.option("--budget-mj", type=float, help="Energy budget per inference (mJ).")
@click.option("--max-latency-ms", type=float, help="Latency limit per inference (ms).")
@click.option("--rate", "rate_hz", type=float, help="Inferences per second the app needs (Hz).")
@click.option("--max-power-mw", type=float, help="Average power limit at --rate (mW).")
@click.option("--battery-mah", type=float, help="Battery capacity (mAh), with --battery-v.")
@click.option("--battery-v", type=float, help="Battery nominal voltage (V).")
@click.option("--battery-wh", type=float, help="Battery energy (Wh), instead of mAh and V.")
@click.option("--min-hours", type=float, help="Battery life the device must reach (h).")
@click.option(
    "--exclude-idle", is_flag=True, help="Count only energy above idle (default: idle included)."
)
@click.option("--threads", type=int, default=1, show_default=True)
@click.option("--measure/--no-measure", default=False, help="Also measure artifacts here.")
@click.option("--input-shape", help="Input shape for models with dynamic dims, e.g. 1,3,224,224.")
@click.option(
    "--profiles", "profiles_dir", type=click.Path(file_okay=False), help="Extra device profiles."
)
@click.option("--plot", type=click.Path(dir_okay=False), help="Write the Pareto plot (PNG) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@no_progress_option
def compare(
    targets: tuple[str, ...],
    devices: tuple[str, ...],
    budget_mj: float | None,
    max_latency_ms: float | None,
    rate_hz: float | None,
    max_power_mw: float | None,
    battery_mah: float | None,
    battery_v: float | None,
    battery_wh: float | None,
    min_hours: float | None,
    exclude_idle: bool,
    threads: int,
    measure: bool,
    input_shape: str | None,
    profiles_dir: str | None,
    plot: str | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Which artifact × device pairs fit an energy, latency or battery budget; Pareto fronts.

    TARGETS is a run directory or profile.json (its records are used), or .onnx / .tflite
    files, which are estimated on --device first. A run directory also gets compare.json and
    a budget section in report.html.
    """
    shape = _parse_shape(input_shape)
    from edgesub.profile.compare import (
        COMPARE_FILE,
        Budget,
        battery_capacity_wh,
        compare_records,
        write_comparison,
    )

    budget = Budget(
        energy_mj=budget_mj,
        max_latency_ms=max_latency_ms,
        rate_hz=rate_hz,
        max_power_mw=max_power_mw,
        battery_wh=battery_capacity_wh(mah=battery_mah, volts=battery_v, wh=battery_wh),
        min_hours=min_hours,
        include_idle=not exclude_idle,
    )
    records, run = _compare_inputs(
        targets, list(devices), threads, measure, shape, profiles_dir, not no_progress
    )
    comparison = compare_records(records, budget)
    if run is not None:
        write_comparison(run.root / COMPARE_FILE, comparison)
        _refresh_report(run)
    if plot:
        from edgesub.report.pareto_plot import write_pareto_plot

        write_pareto_plot(comparison, Path(plot))
    if as_json:
        _print_json(comparison)
        return
    from edgesub.report.table import compare_table

    out.print(compare_table(comparison))
    fitting = len(comparison["fitting"])
    out.print(f"{fitting} of {len(comparison['rows'])} artifact × device pairs fit the budget")
    for device, front in comparison["pareto"].items():
        out.print(f"Pareto front on {device}: {', '.join(front)}")


def _compare_inputs(
    targets: tuple[str, ...],
    devices: list[str],
    threads: int,
    measure: bool,
    shape: tuple[int, ...] | None,
    profiles_dir: str | None,
    progress: bool,
) -> tuple[list[dict], Any]:
    """Records from a profile.json (file or run dir), else fresh estimates of the artifacts."""
    from edgesub.profile.compare import load_profile_records, select_devices
    from edgesub.rundir import RunDir

    first = Path(targets[0])
    if len(targets) == 1 and (first.suffix == ".json" or (first / "profile.json").is_file()):
        run = RunDir(first) if first.is_dir() else None
        return select_devices(load_profile_records(first), devices), run
    from edgesub.profile import profile_artifacts

    paths, manifest, run = _resolve_profile_targets(targets)
    records = profile_artifacts(
        paths,
        devices or list(config_mod.ProfileConfig().devices),
        threads=threads,
        measure=measure,
        profiles_dir=profiles_dir,
        input_shape=shape,
        manifest=manifest,
        progress=progress,
    )
    return records, run


def _refresh_report(run: Any) -> None:
    """Re-render report.html with the budget section (needs the ``report`` extra's matplotlib)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        out.print("report.html not updated: install 'edgesub[report]' for plots and the page")
        return
    from edgesub.report import write_report

    write_report(run)


@cli.command()
@run_dir_argument
def report(run_dir: str) -> None:
    """Write plots and report.html of a run directory from what its stages produced."""
    from edgesub.pipeline import stage_report
    from edgesub.rundir import RunDir

    run = RunDir(Path(run_dir))
    if not run.root.is_dir():
        raise EdgesubError(f"run directory {run.root} does not exist")
    out.print(f"report: {stage_report(run)}")


@cli.group(invoke_without_command=True)
@click.option(
    "--profiles", "profiles_dir", type=click.Path(file_okay=False), help="Extra device profiles."
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def devices(ctx: click.Context, profiles_dir: str | None, as_json: bool) -> None:
    """List device profiles (built-in and from --profiles / $EDGESUB_PROFILES)."""
    ctx.obj = {"profiles_dir": profiles_dir, "as_json": as_json}
    if ctx.invoked_subcommand is None:
        ctx.invoke(devices_list)


@devices.command("list")
@click.pass_context
def devices_list(ctx: click.Context) -> None:
    """One line per device: id, name, cores, RAM, power."""
    from edgesub.profile.devices import load_devices

    opts = ctx.obj
    registry = load_devices(opts["profiles_dir"])
    profiles = [registry.get(name) for name in registry.names()]
    if opts["as_json"]:
        _print_json([dataclasses.asdict(p) for p in profiles])
        return
    from edgesub.report.table import devices_table

    out.print(devices_table(profiles))


@devices.command("show")
@click.argument("device_id")
@click.pass_context
def devices_show(ctx: click.Context, device_id: str) -> None:
    """Every field of one device profile, with its sources."""
    from edgesub.profile.devices import get_device, profile_text

    device = get_device(device_id, ctx.obj["profiles_dir"])
    if ctx.obj["as_json"]:
        _print_json(dataclasses.asdict(device))
    else:
        click.echo(profile_text(device))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgesub")
