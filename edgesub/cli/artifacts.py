"""Artifact commands: ``convert`` (export, quantise, verify) and ``predict`` (run one)."""

from __future__ import annotations

from pathlib import Path

import click

from edgesub import config as config_mod
from edgesub.cli.app import (
    cli,
    config_default,
    no_progress_option,
    open_run_with_sets,
    parse_sets,
    print_json,
    set_option,
)
from edgesub.console import out


@cli.command()
@click.argument("source", type=click.Path())
@click.option(
    "--format",
    "formats",
    multiple=True,
    help=f"onnx, tflite; repeatable (default: {config_default('convert.formats')}).",
)
@click.option(
    "--precision",
    "precisions",
    multiple=True,
    help="fp32, fp16, int8, int8_dynamic; repeatable "
    f"(default: {config_default('convert.precisions')}).",
)
@click.option("--keep-failed", is_flag=True, help="Keep artifacts that fail verification.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Output folder for a file SOURCE (default: <stem>_artifacts beside it).",
)
@click.option(
    "--calibration",
    type=click.Path(dir_okay=False),
    help=".npy float32 inputs (N × input shape) to calibrate int8 and verify on, or for an "
    ".onnx SOURCE a .npz with one array per input name (default: the dataset's, or dynamic "
    "int8 for an ONNX file).",
)
@click.option(
    "--arch-config",
    type=click.Path(dir_okay=False),
    help="student.json-style architecture of a .safetensors SOURCE (default: beside it).",
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    help="Trained weights (.safetensors) of a file.py:factory SOURCE (default: none; "
    "required there).",
)
@click.option(
    "--input-shape",
    "input_shapes",
    multiple=True,
    help="A torch SOURCE's input without the batch axis, e.g. 3,224,224: required for "
    "file.py:factory (default: a .pt2's example input; set its dynamic dims). An .onnx "
    "SOURCE: NAME=1,128 per input (repeatable) or one shape for a single input, as on "
    "profile, fixing its dynamic dims for generated inputs (default: the model's); an hf:DIR "
    "text classifier: its sequence length, input_ids=1,128 and attention_mask=1,128 or one "
    "1,128 for both (default: the model's, at most 128).",
)
@click.option(
    "--labels-npy",
    type=click.Path(dir_okay=False),
    help="Class indices (.npy, one per sample of --calibration DATA) of an .onnx or hf:DIR text "
    "SOURCE: verification reports real accuracy (default: agreement with the source only).",
)
@click.option(
    "--dataset",
    help="Registered dataset a torch SOURCE is calibrated and verified on (default: digits "
    "for .safetensors weights; seeded random inputs, int8 then dynamic, for a factory, .pt2 "
    "or hf: model).",
)
@click.option(
    "--labels",
    type=click.Path(dir_okay=False),
    help="Class names, one per line (default: the dataset's, or none).",
)
@click.option("--name", help="Artifact file stem for a file SOURCE (default: its stem).")
@click.option(
    "--float-io",
    is_flag=True,
    default=None,
    help="TFLite full int8: float32 input/output, a quantise/dequantise op at each end "
    "(default: int8 I/O).",
)
@click.option(
    "--dynamic-batch/--fixed-batch",
    default=None,
    help="ONNX batch axis: dynamic (default) or fixed at 1.",
)
@click.option(
    "--outputs",
    type=click.Choice(config_mod.OUTPUT_KINDS),
    help="What the model outputs: logits (scores are their softmax), probabilities (shown as "
    "they are) or raw (default: probabilities when it ends in a Softmax or its rows sum to 1 "
    "on the verification data, else logits).",
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
    weights: str | None,
    input_shapes: tuple[str, ...],
    labels_npy: str | None,
    dataset: str | None,
    labels: str | None,
    name: str | None,
    float_io: bool | None,
    dynamic_batch: bool | None,
    outputs: str | None,
    as_json: bool,
    sets: tuple[str, ...],
    no_progress: bool,
) -> None:
    """Export and verify ONNX / TFLite artifacts.

    SOURCE is a run directory, any .onnx file (quantised with ONNX Runtime and verified
    against itself), .safetensors weights with a student.json-style --arch-config, a PyTorch
    model (file.py:factory with --weights and --input-shape, or a torch.export .pt2 program),
    a Hugging Face image or sequence classifier folder (hf:DIR; a text one takes input_ids
    and attention_mask), or a Keras .keras/.h5 file or SavedModel directory (TFLite via
    TensorFlow; the tensorflow extra).

    \b
    Examples:
      edgesub convert runs/default --precision fp32 --precision int8
      edgesub convert model.onnx --calibration x.npy --out model_artifacts
      edgesub convert net.py:build --weights net.safetensors --input-shape 3,224,224
      edgesub convert bert.onnx --input-shape input_ids=1,128 --input-shape attention_mask=1,128
      edgesub convert bert.onnx --calibration feeds.npz --labels-npy y.npy
      edgesub convert hf:my_bert --input-shape 1,128 --calibration feeds.npz
    """
    from edgesub.converters.sources import input_shape_fields, source_key
    from edgesub.report.lines import artifact_line

    flags = {
        "convert.keep_failed": keep_failed or None,
        "convert.float_io": float_io,
        "convert.dynamic_batch": dynamic_batch,
        "convert.outputs": outputs,
    }
    if source_key(source) is None:
        if input_shapes or labels_npy:
            from edgesub.errors import ConfigError

            flag = "--input-shape" if input_shapes else "--labels-npy"
            raise ConfigError(f"{flag} applies to a model file SOURCE, not a run directory")
        entries = _convert_run(source, formats, precisions, flags, sets, no_progress)
    else:
        from edgesub.converters.sources import SourceRequest, convert_source

        cfg = config_mod.apply_overrides(config_mod.RunConfig(), {**parse_sets(sets), **flags})
        request = SourceRequest(
            cfg=cfg.convert,
            out=Path(out_dir) if out_dir else None,
            formats=formats or None,
            precisions=precisions or None,
            calibration=Path(calibration) if calibration else None,
            labels=Path(labels) if labels else None,
            arch_config=Path(arch_config) if arch_config else None,
            weights=Path(weights) if weights else None,
            labels_npy=Path(labels_npy) if labels_npy else None,
            **input_shape_fields(source, input_shapes),
            dataset=dataset,
            name=name,
            progress=not no_progress,
        )
        written, entries = convert_source(source, request)
        if not as_json:
            out.print(f"artifacts and manifest.json in {written}")
    if as_json:
        print_json(entries)
        return
    from edgesub.converters.manifest_record import ArtifactEntry

    for entry in entries:
        out.print(artifact_line(ArtifactEntry.from_dict(entry)))


def _convert_run(
    run_dir: str,
    formats: tuple[str, ...],
    precisions: tuple[str, ...],
    flags: dict[str, bool | None],
    sets: tuple[str, ...],
    no_progress: bool,
) -> list[dict]:
    from edgesub.pipeline import stage_convert, stage_data

    run, cfg = open_run_with_sets(run_dir, sets)
    cfg = config_mod.apply_overrides(
        cfg,
        {
            "convert.formats": list(formats) or None,
            "convert.precisions": list(precisions) or None,
            **flags,
        },
    )
    return stage_convert(run, stage_data(cfg), cfg, progress=not no_progress)


@cli.command()
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.argument("input_", metavar="INPUT")
@click.option(
    "--manifest", type=click.Path(dir_okay=False), help="Manifest (default: beside ARTIFACT)."
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="How many labels to print, best first.",
)
@click.option("--invert", is_flag=True, help="Invert image brightness (dark ink on white).")
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON.")
def predict(
    artifact: str, input_: str, manifest: str | None, top: int, invert: bool, as_json: bool
) -> None:
    """Run ARTIFACT on INPUT (an image, a .npy array, a .npz with one array per input name,
    or text) and print the top-k labels.

    Needs only numpy and a runtime (no torch); images are preprocessed as the manifest says.

    \b
    Example:
      edgesub predict runs/default/artifacts/student_int8.tflite digit.png --top 3
    """
    from edgesub.converters.prediction import predict as run_predict

    result = run_predict(
        Path(artifact),
        input_,
        manifest=Path(manifest) if manifest else None,
        top=top,
        invert=invert,
    )
    if as_json:
        print_json(result)
        return
    many = len(result["predictions"]) > 1
    for n, ranked in enumerate(result["predictions"]):
        if many:
            click.echo(f"sample {n}:")
        for rank, item in enumerate(ranked, 1):
            click.echo(f"{rank}. {item['label']}  {item['score']:.4f}")
