"""``artifacts/manifest.json``: what each artifact is, how to feed it, how well it verified and
which file to use (docs/schemas.md).

:class:`Manifest` is the file: the :class:`ModelInfo` every artifact shares, one
:class:`ArtifactEntry` per file and the :class:`Recommendation` of which file to use. The
manifest travels to a device with the files, where ``run.py`` reads it as plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from edgesub.records import FileRecord, Record, field

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True, kw_only=True)
class TensorSpec(Record):
    """One input or output of an artifact file."""

    TITLE: ClassVar[str] = "tensor"

    name: str = field("the tensor's name in the file")
    shape: tuple[int, ...] = field("its shape, batch axis first; -1 for a dynamic dim")
    dtype: str = field("numpy dtype name (float32, int8, int64, …)")
    quantization: dict[str, Any] | None = field(
        "int8 I/O: `scale` and `zero_point` (real = scale × (q − zero_point)); else null",
        default=None,
    )


@dataclass(frozen=True, kw_only=True)
class ModelInfo(Record):
    """What the model takes and means: enough to feed it and name its outputs without edgesub."""

    TITLE: ClassVar[str] = "model"

    name: str = field("the model's name (the artifact files' stem)")
    num_classes: int | None = field("number of scores per input (null when unknown)")
    labels: tuple[str, ...] | None = field("class names in output order (null: none known)")
    input_shape: tuple[int, ...] = field(
        "one input (the first, with several) without the batch axis; -1 for an open dim"
    )
    preprocessing: dict[str, Any] = field(
        "what to do to an input before feeding it: `input` (image/text), layout, value_range, "
        "scale, mean, std, size, color, or a text model's tokenizer"
    )
    output_kind: str | None = field(
        "what the first output's values are: logits, probabilities or raw (absent in older "
        "manifests: read as logits)",
        default=None,
        omit_none=True,
    )
    source: dict[str, Any] | None = field(
        "a model file a user brought: its kind, file and sha256",
        default=None,
        omit_none=True,
    )
    verified_on: str | None = field(
        "what the converted files were verified on (a model file a user brought)",
        default=None,
        omit_none=True,
    )
    inputs: tuple[TensorSpec, ...] | None = field(
        "every input of a model file a user brought, as verified: name, dtype and shape (batch "
        "first, the sizes --input-shape or the data set; -1 where the source left a dim open)",
        default=None,
        omit_none=True,
    )
    outputs: tuple[TensorSpec, ...] | None = field(
        "every output of that model file: name, dtype and shape (-1: dynamic)",
        default=None,
        omit_none=True,
    )
    calibration: Literal["data", "synthetic"] | None = field(
        "what static int8 was calibrated on: data (the user's) or synthetic (generated: token "
        "ids over the model's vocabulary, masks of ones; not representative of real inputs)",
        default=None,
        omit_none=True,
    )

    @property
    def class_names(self) -> list[str]:
        """The labels, else the class indices as names."""
        labels = self.labels or [str(i) for i in range(int(self.num_classes or 0))]
        return [str(label) for label in labels]


@dataclass(frozen=True, kw_only=True)
class Parity(Record):
    """How an artifact's outputs compare with the source model's on the verification inputs."""

    TITLE: ClassVar[str] = "parity"

    max_abs_diff: float = field("max |Δlogits| against the source model")
    top1_agreement: float = field("share of inputs whose top class agrees", unit="%")
    reference_accuracy: float | None = field(
        "the source model's accuracy (null without labels)", unit="%"
    )
    accuracy_drop: float | None = field(
        "source accuracy minus the artifact's (null without labels)", unit="points"
    )
    cosine_similarity: float | None = field(
        "mean cosine similarity of the output rows with the source's (raw outputs, or rows "
        "less their mean on generated verification inputs)",
        default=None,
        omit_none=True,
    )
    criterion: str | None = field(
        "what `passed` judged: max_abs_diff, accuracy_drop, top1_agreement or cosine_similarity",
        default=None,
        omit_none=True,
    )
    tolerance: float = field("the criterion's limit")
    passed: bool = field("whether the file passed verification")


@dataclass(frozen=True, kw_only=True)
class Aarch64Check(Record):
    """A Raspberry Pi bundle's run.py on an emulated aarch64 userland against the same run.py on
    the packaging host: the instruction set's kernels, not its speed (emulated timings mean
    nothing, so none is recorded)."""

    TITLE: ClassVar[str] = "aarch64 check"

    top1_agreement: float = field("share of the inputs whose top class equals the host's", unit="%")
    max_abs_diff: float = field(
        "max |Δscore| against the host's run, over every class of every input (scores as "
        "run.py prints them, to 1e-6)"
    )
    samples: int = field("verification inputs run on both", unit="count")
    inputs: str = field("what the inputs were")
    qemu_cpu: str = field("the CPU qemu-aarch64-static emulated (-cpu)")
    userland: str = field("the aarch64 system run.py ran on")
    runtimes: dict[str, str] = field("python, numpy and the runtime's versions on aarch64")
    host_runtimes: dict[str, str] = field("the same on the packaging host")


@dataclass(frozen=True, kw_only=True)
class ArtifactEntry(Record):
    """One artifact file: what it is, how it verified, how fast it ran on the converting host."""

    TITLE: ClassVar[str] = "artifact entry"

    file: str = field("file name, beside the manifest")
    format: str = field("onnx or tflite")
    precision: str | None = field("fp32, fp16, int8, int8_dynamic (null: unknown)")
    size_bytes: int = field("file size", unit="bytes")
    sha256: str = field("SHA-256 of the file, hex")
    input_layout: str | None = field(
        "NCHW or NHWC, the layout the file reads", default=None, omit_none=True
    )
    inputs: tuple[TensorSpec, ...] = field("the file's inputs")
    outputs: tuple[TensorSpec, ...] = field("the file's outputs")
    accuracy: float | None = field(
        "test accuracy of this file (null without labels)", unit="%", default=None
    )
    parity: Parity | None = field("verification against the source (null: not verified)")
    convert_seconds: float | None = field(
        "time to export the file", unit="s", default=None, omit_none=True
    )
    verify_seconds: float | None = field(
        "time to verify the file", unit="s", default=None, omit_none=True
    )
    weight_bits: int | None = field(
        "bits of the quantised weights: 7 where the converting host is an x86 CPU without VNNI "
        "(ONNX Runtime's int8 kernels would saturate there with 8, and the file would not "
        "verify), else 8; null for float files",
        default=None,
        omit_none=True,
    )
    tools: dict[str, str] | None = field(
        "versions of the tools that made it", default=None, omit_none=True
    )
    host_latency_ms: float | None = field(
        "median latency measured on the converting host, batch 1",
        unit="ms",
        default=None,
        omit_none=True,
    )
    host_latency_p90_ms: float | None = field(
        "90th percentile of the same", unit="ms", default=None, omit_none=True
    )
    host_latency_kind: Literal["measured"] | None = field(
        "always measured", default=None, omit_none=True
    )
    host_threads: int | None = field(
        "threads the host latency was measured at", unit="count", default=None, omit_none=True
    )
    recommended: bool | None = field(
        "the file to use for its format on that host", default=None, omit_none=True
    )
    host_latency_vs_fp32: float | None = field(
        "host latency over the format's fp32 file's (null without one)",
        unit="ratio",
        default=None,
        omit_with="host_latency_ms",
    )
    aarch64_check: Aarch64Check | None = field(
        "a Raspberry Pi bundle's: run.py on aarch64 against the host (`--verify-aarch64`)",
        default=None,
        omit_none=True,
    )

    @property
    def passed(self) -> bool:
        """Verified against its source (a file without verification counts as passed)."""
        return self.parity is None or self.parity.passed

    @property
    def score(self) -> float | None:
        """Accuracy when labels were known, else agreement with the source model."""
        if self.accuracy is not None:
            return float(self.accuracy)
        return float(self.parity.top1_agreement) if self.parity is not None else None


@dataclass(frozen=True, kw_only=True)
class Recommendation(Record):
    """Which file to use per format, and on what evidence."""

    TITLE: ClassVar[str] = "recommendation"

    by_format: dict[str, str] = field("format → the file to use")
    basis: str | None = field("the rule that chose, in words", default=None, omit_none=True)
    host: dict[str, Any] | None = field(
        "the machine the latencies were measured on (machine, cpu)", default=None, omit_none=True
    )
    device: str | None = field(
        "the device the choice is for (a bundle's manifest: a device profile id, or host)",
        default=None,
        omit_none=True,
    )
    latency_kind: Literal["measured", "estimated"] | None = field(
        "whether the latencies behind the choice were measured or estimated (a bundle's)",
        default=None,
        omit_none=True,
    )


@dataclass(frozen=True, kw_only=True)
class Manifest(FileRecord):
    """``manifest.json``: the model, its artifact files and the recommended ones."""

    FILE: ClassVar[str] = MANIFEST_NAME
    NOUN: ClassVar[str] = "manifest"
    REWRITE: ClassVar[str] = "edgesub convert RUN_DIR"

    model: ModelInfo = field("what the model takes and means")
    artifacts: tuple[ArtifactEntry, ...] = field("one entry per file")
    recommended: Recommendation | None = field(
        "the file to use per format (absent when latency was not measured)",
        default=None,
        omit_none=True,
    )

    def entry(self, file_name: str) -> ArtifactEntry | None:
        """The entry of ``file_name``, or None."""
        return next((e for e in self.artifacts if e.file == file_name), None)
