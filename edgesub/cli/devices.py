"""Device commands: ``profile`` (measure and estimate), ``compare`` (budgets), ``devices``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edgesub.cli.app import (
    DEFAULTS,
    FINITE_FLOAT,
    RUNS,
    THREADS,
    WARMUP,
    cli,
    hold_lock,
    no_progress_option,
    parse_shapes,
    print_json,
)
from edgesub.console import out, printable
from edgesub.errors import BatchError, ConfigError

if TYPE_CHECKING:
    from edgesub.profile.remote import RemoteOptions
    from edgesub.profile.run import ProfileResult

# One source of defaults: the [profile] section of the pipeline configuration.
PROFILE_DEFAULTS = DEFAULTS.profile

profiles_option = click.option(
    "--profiles",
    "profiles_dir",
    type=click.Path(file_okay=False),
    help="Folder of extra device profiles, *.toml (default: $EDGESUB_PROFILES if set).",
)
input_shape_option = click.option(
    "--input-shape",
    "input_shapes",
    multiple=True,
    help="Input shape for models with dynamic dims: one shape for every input it fits, e.g. "
    "1,3,224,224, or NAME=1,128 per input, repeatable (default: the model's).",
)
runtime_option = click.option(
    "--runtime",
    help="Estimate as this runtime would run every file: onnxruntime, tflite (XNNPACK), "
    "tflite-legacy (TFLite's own kernels before XNNPACK) or ncnn (default: the one that "
    "runs each file's format).",
)
threads_option = click.option(
    "--threads",
    type=THREADS,
    default=PROFILE_DEFAULTS.threads,
    show_default=True,
    help="CPU threads to measure and estimate at.",
)


def remote_flags(default_remote: str | None) -> Callable[[Any], Any]:
    """``--remote`` and the options that go with it, for each command that measures on a
    device over SSH (the command takes them as ``**ssh`` for :func:`remote_options`)."""
    flags = [
        click.option(
            "--remote",
            metavar="[USER@]HOST[:PORT]",
            default=default_remote,
            help="Measure on this device over SSH (default: here; aliases, ports and keys of "
            "~/.ssh/config work as with ssh; the host key must be known). Profile records: "
            "device ssh:TARGET.",
        ),
        click.option(
            "--remote-python",
            metavar="PATH",
            help="The device's Python with numpy and the runtimes (default: a venv built in a "
            "temporary folder there from the pinned runtime requirements).",
        ),
        click.option(
            "--ssh-option",
            "ssh_options",
            multiple=True,
            metavar="NAME=VALUE",
            help="Extra ssh option, repeatable, e.g. IdentityFile=~/.ssh/pi (as ssh -o; "
            "default: none).",
        ),
        click.option(
            "--ssh-config",
            type=click.Path(exists=True, dir_okay=False),
            help="An ssh_config file to use instead of ~/.ssh/config (as ssh -F; default: "
            "ssh's own).",
        ),
        click.option(
            "--keep-remote",
            is_flag=True,
            help="Keep the device's temporary folder (default: removed).",
        ),
    ]

    def apply(command: Any) -> Any:
        for flag in reversed(flags):
            command = flag(command)
        return command

    return apply


def device_option(default: str) -> Any:
    """``--device``, repeatable; ``default`` says what none means for this command."""
    return click.option(
        "--device",
        "devices",
        multiple=True,
        help=f"Device profile id, repeatable, or 'all' for every profile, --profiles' too "
        f"(default: {default}; ids: `edgesub devices`).",
    )


@cli.command()
@click.argument("targets", nargs=-1, required=True, type=click.Path(exists=True))
@device_option(", ".join(PROFILE_DEFAULTS.devices))
@click.option(
    "--measure/--no-measure", default=True, show_default=True, help="Also measure on this machine."
)
@threads_option
@click.option(
    "--runs",
    type=RUNS,
    default=PROFILE_DEFAULTS.runs,
    show_default=True,
    help="Timed runs per artifact (more for sub-millisecond models).",
)
@click.option(
    "--warmup",
    type=WARMUP,
    default=PROFILE_DEFAULTS.warmup,
    show_default=True,
    help="Untimed runs before timing.",
)
@input_shape_option
@profiles_option
@click.option(
    "--strict",
    is_flag=True,
    help="Stop at the first file that cannot be profiled (default: report it on its own line "
    "and go on; a single file always stops).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON record per artifact × device; a failed pair has 'error' and 'reason'.",
)
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Estimate graphs with ops of unknown cost, flagged (default: refuse, naming them).",
)
@runtime_option
@remote_flags(PROFILE_DEFAULTS.remote or None)
@no_progress_option
def profile(
    targets: tuple[str, ...],
    devices: tuple[str, ...],
    measure: bool,
    threads: int,
    runs: int,
    warmup: int,
    input_shapes: tuple[str, ...],
    profiles_dir: str | None,
    strict: bool,
    as_json: bool,
    allow_partial: bool,
    runtime: str | None,
    no_progress: bool,
    **ssh: Any,
) -> None:
    """Measure and estimate latency, memory and energy of artifacts or a run directory.

    TARGETS are .onnx / .tflite files (any, not only edgesub's) or run directories. A file
    that cannot be profiled (a custom op, say) gets a line of its own and the others go on;
    the exit status is then 1.

    \b
    Example:
      edgesub profile model.tflite --device raspberry-pi-5 --device pixel-4 --threads 4
      edgesub profile models/*.tflite --device all --no-measure
      edgesub profile model.tflite --remote pi@raspberrypi.local
      edgesub profile bert.onnx --input-shape input_ids=1,128 --input-shape attention_mask=1,128
    """
    shape = parse_shapes(input_shapes)
    remote = remote_options(**ssh)
    if remote is not None and not measure:
        raise ConfigError("--remote measures on the device; it cannot go with --no-measure")
    from edgesub.profile.run import profile_batch, write_profile

    paths, manifest, run = _resolve_profile_targets(targets)
    if manifest is None:
        manifest, verified_shape = _sibling_manifest(paths)
        shape = shape or verified_shape
    device_ids = list(devices) or list(PROFILE_DEFAULTS.devices)
    result = profile_batch(
        paths,
        device_ids,
        strict=strict or len(paths) == 1,
        threads=threads,
        measure=measure,
        warmup=warmup,
        runs=runs,
        profiles_dir=profiles_dir,
        input_shape=shape,
        manifest=manifest,
        progress=not no_progress and not as_json,
        allow_partial=allow_partial,
        runtime=runtime,
        remote=remote,
    )
    if run is not None:
        from edgesub.profile.teacher_estimate import estimate_run_teacher

        teacher = estimate_run_teacher(run, manifest, device_ids, threads, profiles_dir)
        write_profile(run.profile, result.records, result.failures, teacher.records, teacher.note)
    if as_json:
        print_json(result.rows())
    else:
        _print_profile(result)
    _fail_if_any(result)


def remote_options(
    remote: str | None,
    remote_python: str | None,
    ssh_options: tuple[str, ...],
    ssh_config: str | None,
    keep_remote: bool,
) -> RemoteOptions | None:
    """The ``--remote`` flags as RemoteOptions (None: measure here); the ssh ones need it."""
    from edgesub.config import check_ssh_option
    from edgesub.profile.remote import RemoteOptions

    if remote is None:
        needing = {
            "--remote-python": remote_python,
            "--ssh-option": ssh_options,
            "--ssh-config": ssh_config,
            "--keep-remote": keep_remote,
        }
        given = [flag for flag, value in needing.items() if value]
        if given:
            raise ConfigError(f"{given[0]} needs --remote [USER@]HOST[:PORT]")
        return None
    return RemoteOptions.parse(
        remote,
        python=remote_python,
        ssh_options=tuple(check_ssh_option(option) for option in ssh_options),
        ssh_config=ssh_config,
        keep=keep_remote,
    )


def _print_profile(result: ProfileResult) -> None:
    """One table across every file that profiled, then a line per file that did not."""
    from edgesub.report.table import device_identity_lines, failure_lines, profile_tables

    if result.records:
        for table in profile_tables(result.records, out.width):
            out.print(table)
    for line in device_identity_lines(result.records):
        out.print(line, soft_wrap=True)
    for line in failure_lines(result.failures):
        out.print(line, soft_wrap=True)


def _fail_if_any(result: ProfileResult) -> None:
    """Exit status 1 once everything is printed, with a line summing up the files that failed."""
    failed = result.failed_files()
    if failed:
        names = ", ".join(printable(p.name) for p in failed)
        raise BatchError(
            f"{len(failed)} of {len(result.paths)} files could not be profiled: {names}"
        )


def _resolve_profile_targets(targets: tuple[str, ...]) -> tuple[list[Path], Any, Any]:
    """Expand run directories into their artifacts (with manifest); keep plain files as given."""
    from edgesub.rundir import RunDir

    paths: list[Path] = []
    manifest = None
    run = None
    for target in map(Path, targets):
        if target.is_dir():
            from edgesub.converters import read_manifest

            run = RunDir(target)
            hold_lock(run)
            manifest = read_manifest(run.require(run.manifest, "convert"))
            paths += [run.artifacts / a.file for a in manifest.artifacts]
        else:
            paths.append(target)
    return paths, manifest, run if len(targets) == 1 else None


def _sibling_manifest(paths: list[Path]) -> tuple[Any, tuple[int, ...] | None]:
    """The manifest.json of a model file a user brought (its model section lists the inputs)
    beside files that all sit in its folder (it adds accuracy), and the batch-1 input shape
    verification ran at when every input shares one (a token model's sequence length), which
    --input-shape overrides."""
    folders = {path.parent for path in paths}
    if len(folders) != 1 or not (folders.pop() / "manifest.json").is_file():
        return None, None
    from edgesub.converters import read_manifest
    from edgesub.errors import EdgesubError

    try:
        manifest = read_manifest(paths[0].parent / "manifest.json")
    except EdgesubError:
        return None, None  # a stray or older file: profile the files as they are
    if not manifest.model.inputs or any(manifest.entry(path.name) is None for path in paths):
        return None, None
    shapes = {tuple(spec.shape[1:]) for spec in manifest.model.inputs}
    if len(shapes) != 1:
        return manifest, None
    (dims,) = shapes
    return manifest, (1, *dims) if dims and min(dims) > 0 else None


@cli.command()
@click.argument("targets", nargs=-1, required=True, type=click.Path(exists=True))
@device_option(
    "every device of a profile.json, or " + ", ".join(PROFILE_DEFAULTS.devices) + " for files"
)
@click.option(
    "--budget-mj", type=FINITE_FLOAT, help="Energy budget per inference, mJ (default: none)."
)
@click.option(
    "--max-latency-ms", type=FINITE_FLOAT, help="Latency limit per inference, ms (default: none)."
)
@click.option(
    "--rate",
    "rate_hz",
    type=FINITE_FLOAT,
    help="Inferences per second the app needs, Hz (default: none; needed for power and hours).",
)
@click.option(
    "--max-power-mw", type=FINITE_FLOAT, help="Average power limit at --rate, mW (default: none)."
)
@click.option(
    "--battery-mah",
    type=FINITE_FLOAT,
    help="Battery capacity, mAh, with --battery-v (default: none).",
)
@click.option("--battery-v", type=FINITE_FLOAT, help="Battery nominal voltage, V (default: none).")
@click.option(
    "--battery-wh",
    type=FINITE_FLOAT,
    help="Battery energy, Wh, instead of mAh and V (default: none).",
)
@click.option(
    "--min-hours", type=FINITE_FLOAT, help="Battery life the device must reach, h (default: none)."
)
@click.option(
    "--exclude-idle", is_flag=True, help="Count only energy above idle (default: idle included)."
)
@click.option(
    "--conversion-efficiency",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=0.9,
    show_default=True,
    help="Share of the battery's energy that reaches the device.",
)
@click.option(
    "--across-models",
    is_flag=True,
    help="Rank files of different models together (default: only variants of one model).",
)
@threads_option
@click.option(
    "--measure/--no-measure",
    default=False,
    show_default=True,
    help="Also measure model files here.",
)
@input_shape_option
@profiles_option
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Write the Pareto plot (PNG) here (default: no).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@runtime_option
@no_progress_option
def compare(
    targets: tuple[str, ...], plot: str | None, as_json: bool, no_progress: bool, **options: Any
) -> None:
    """Which artifact × device pairs fit an energy, latency or battery budget; Pareto fronts.

    TARGETS is a run directory or profile.json (its records are used), or .onnx / .tflite
    files, which are estimated on --device first. A run directory also gets compare.json and
    a budget section in report.html.

    \b
    Example:
      edgesub compare runs/default --budget-mj 0.15 --rate 5 --battery-mah 2000 --battery-v 3.7
    """
    from edgesub.profile.compare import COMPARE_FILE, compare_records, write_comparison

    cfg = _compare_config(options)
    records, run = _compare_inputs(targets, cfg, progress=not no_progress)
    comparison = compare_records(
        records, cfg.budget, _candidates(run), across_models=cfg.across_models
    )
    if run is not None:
        write_comparison(run.root / COMPARE_FILE, comparison)
        _refresh_report(run)
    if plot:
        from edgesub.report.pareto_plot import write_pareto_plot

        write_pareto_plot(comparison, Path(plot))
    if as_json:
        print_json(comparison)
        return
    from edgesub.report.table import compare_tables, recommendation_table

    for table in compare_tables(comparison):
        out.print(table)
    _print_budget_verdict(comparison)
    if comparison.recommendations:
        out.print(recommendation_table(comparison.recommendations))


def _print_budget_verdict(comparison: Any) -> None:
    """How many pairs fit a budget, where nothing does, and each device's Pareto front; nothing
    when no budget was given."""
    if not comparison.budget.is_set:
        return
    fitting = len(comparison.fitting)
    out.print(f"{fitting} of {len(comparison.rows)} artifact × device pairs fit the budget")
    for device in comparison.nothing_fits:
        out.print(f"nothing fits the budget on {device}")
    for device, front in comparison.pareto.items():
        out.print(f"Pareto front on {device} (within the budget): {', '.join(front)}")


def _candidates(run: Any) -> list | None:
    """The run's artifacts as recommendation candidates (which passed verification), or None
    (every profiled file counts) without a run or its manifest."""
    if run is None or not run.manifest.is_file():
        return None
    from edgesub.converters.manifest_record import Manifest
    from edgesub.converters.recommend import candidates
    from edgesub.errors import ModelFileError

    # what verification said of each file; the files themselves are profile's concern
    return candidates(Manifest.read(run.manifest, error=ModelFileError), run.artifacts)


def _compare_config(options: dict[str, Any]) -> Any:
    """The command's budget and estimation options as one validated CompareConfig."""
    from edgesub.profile.compare import Budget, CompareConfig, battery_capacity_wh

    battery = battery_capacity_wh(
        mah=options["battery_mah"], volts=options["battery_v"], wh=options["battery_wh"]
    )
    budget = Budget(
        energy_mj=options["budget_mj"],
        max_latency_ms=options["max_latency_ms"],
        rate_hz=options["rate_hz"],
        max_power_mw=options["max_power_mw"],
        battery_wh=battery,
        min_hours=options["min_hours"],
        include_idle=not options["exclude_idle"],
        conversion_efficiency=options["conversion_efficiency"],
    )
    return CompareConfig(
        budget=budget,
        devices=tuple(options["devices"]),
        threads=options["threads"],
        measure=options["measure"],
        input_shape=parse_shapes(options["input_shapes"]),
        profiles_dir=options["profiles_dir"],
        runtime=options["runtime"],
        across_models=options["across_models"],
    )


def _compare_inputs(targets: tuple[str, ...], cfg: Any, *, progress: bool) -> tuple[list, Any]:
    """Records from a profile.json (file or run dir), else fresh estimates of the artifacts."""
    from edgesub.profile.compare import load_profile_records, select_devices
    from edgesub.rundir import RunDir

    first = Path(targets[0])
    if len(targets) == 1 and (first.suffix == ".json" or (first / "profile.json").is_file()):
        run = RunDir(first) if first.is_dir() else None
        if run is not None:
            hold_lock(run)
        records = load_profile_records(first)
        return select_devices(records, list(cfg.devices), run.root if run else first.parent), run
    from edgesub.profile.run import profile_batch

    paths, manifest, run = _resolve_profile_targets(targets)
    result = profile_batch(
        paths,
        list(cfg.devices) or list(PROFILE_DEFAULTS.devices),
        threads=cfg.threads,
        measure=cfg.measure,
        profiles_dir=cfg.profiles_dir,
        input_shape=cfg.input_shape,
        manifest=manifest,
        progress=progress,
        runtime=cfg.runtime,
    )
    for failure in {f.path: f for f in result.failures}.values():  # one line per file
        click.echo(f"skipped {failure.artifact}: {failure.reason}", err=True)
    if not result.records:
        raise ConfigError("no file could be profiled; nothing to compare")
    return result.records, run


def _refresh_report(run: Any) -> None:
    """Re-render report.html with the budget section (needs the ``report`` extra's matplotlib)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        out.print("report.html not updated: install 'edgesub[report]' for plots and the page")
        return
    from edgesub.report import write_report

    write_report(run)


@cli.group(invoke_without_command=True)
@profiles_option
@click.option("--json", "as_json", is_flag=True, help="Print the profiles as JSON.")
@click.pass_context
def devices(ctx: click.Context, profiles_dir: str | None, as_json: bool) -> None:
    """List device profiles (built-in and from --profiles / $EDGESUB_PROFILES).

    \b
    Example:
      edgesub devices show raspberry-pi-5
    """
    ctx.obj = {"profiles_dir": profiles_dir, "as_json": as_json}
    if ctx.invoked_subcommand is None:
        ctx.invoke(devices_list)


@devices.command("list")
@click.pass_context
def devices_list(ctx: click.Context) -> None:
    """One line per device: id, name, cores, RAM, power.

    \b
    Example:
      edgesub devices --json list
    """
    from edgesub.profile.devices import load_devices

    opts = ctx.obj
    registry = load_devices(opts["profiles_dir"])
    profiles = [registry.get(name) for name in registry.names()]
    if opts["as_json"]:
        print_json([dataclasses.asdict(p) for p in profiles])
        return
    from edgesub.report.table import devices_table

    out.print(devices_table(profiles))


@devices.command("show")
@click.argument("device_id")
@click.pass_context
def devices_show(ctx: click.Context, device_id: str) -> None:
    """Every field of one device profile, with its sources.

    \b
    Example:
      edgesub devices show pixel-4
    """
    from edgesub.profile.devices import get_device, profile_text

    device = get_device(device_id, ctx.obj["profiles_dir"])
    if ctx.obj["as_json"]:
        print_json(dataclasses.asdict(device))
    else:
        click.echo(profile_text(device))


@devices.command("calibrate")
@click.argument("device_id")
@click.option(
    "--measurements",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV of your measurements on the device: file, threads, latency_ms (median, ms), "
    "optionally runtime; files relative to the CSV (default: none; or --remote).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder to write DEVICE_ID.toml into; use it with --profiles.",
)
@click.option(
    "--threads",
    type=THREADS,
    help="With --remote: measure at 1 and this many threads (default: the profile's cores).",
)
@remote_flags(None)
@click.pass_context
def devices_calibrate(
    ctx: click.Context,
    device_id: str,
    measurements: str | None,
    out_dir: str,
    threads: int | None,
    **ssh: Any,
) -> None:
    """Fit a device's latency scales to measurements; write a profile that uses them.

    The measurements are yours (--measurements) or made now on the device over SSH
    (--remote: a suite of reference graphs, convolutions, depthwise, matrix products and
    element-wise chains at two sizes, at 1 and N threads). Three scales are fitted (compute
    time, memory time and dispatch overhead of the estimate); the leave-one-out error (each
    measurement predicted by a fit on the others) becomes the calibrated profile's error band.
    Then `edgesub profile FILE --device raspberry-pi-5 --profiles my-profiles` estimates with
    it.

    \b
    Example:
      edgesub devices calibrate raspberry-pi-5 --measurements pi5.csv --out my-profiles
      edgesub devices calibrate raspberry-pi-5 --remote pi@raspberrypi.local --out my-profiles
    """
    from edgesub.profile.devices import get_device

    remote = remote_options(**ssh)
    if (remote is None) == (measurements is None):
        raise ConfigError("give one of --measurements FILE.csv or --remote HOST")
    if threads is not None and remote is None:
        raise ConfigError("--threads needs --remote (a CSV says its own threads)")
    device = get_device(device_id, ctx.obj["profiles_dir"])
    result, source = _calibration(device, measurements, remote, threads)
    _report_calibration(ctx, device, result, source, Path(out_dir))


def _calibration(
    device: Any, measurements: str | None, remote: RemoteOptions | None, threads: int | None
) -> tuple[Any, str]:
    """The fit, from the CSV or from the reference suite measured on the device; and what
    the profile says it came from."""
    from edgesub.console import note
    from edgesub.profile.device_calibration import calibrate, calibrate_remote, read_measurements

    if remote is None:
        assert measurements is not None
        return calibrate(device, read_measurements(Path(measurements))), measurements
    count = threads or device.cores
    result, model = calibrate_remote(device, remote, count, note)
    return result, f"{remote.device_id} ({model}): reference suite at 1 and {count} threads"


def _report_calibration(
    ctx: click.Context, device: Any, result: Any, source: str, out_dir: Path
) -> None:
    from edgesub.profile.device_calibration import write_calibrated_profile
    from edgesub.profile.estimate import load_params

    written = write_calibrated_profile(device, result, source, out_dir)
    if ctx.obj["as_json"]:
        print_json(
            {
                "device": device.id,
                "profile": str(written),
                "source": source,
                "compute_scale": result.compute_scale,
                "memory_scale": result.memory_scale,
                "overhead_scale": result.overhead_scale,
                "error_pct": result.error_pct,
                "max_error_pct": result.max_error_pct,
                "measurements": len(result.rows),
            }
        )
        return
    band = load_params().band_pct(device)
    out.print(
        f"{device.id}: compute × {result.compute_scale:g}, memory × {result.memory_scale:g}, "
        f"dispatch overhead × "
        f"{result.overhead_scale:g}, fitted to {len(result.rows)} measurements from "
        f"{printable(source)}",
        soft_wrap=True,
    )
    for m, before, fitted, held_out in result.rows:
        out.print(
            f"  {printable(m.file.name)} at {m.threads} thread(s): measured {m.latency_ms:g} ms, "
            f"estimated {before:.4g} ms before, {fitted:.4g} ms fitted, {held_out:.4g} ms "
            "held out",
            soft_wrap=True,
        )
    out.print(
        f"leave-one-out error: median {result.error_pct:g} %, max {result.max_error_pct:g} % "
        f"(the published profile's band: ±{band:g} %)",
        soft_wrap=True,
    )
    out.print(f"wrote {printable(str(written))}; use it with --profiles {printable(str(out_dir))}")
