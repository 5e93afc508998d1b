"""A format-neutral view of a model graph: per-op cost, weights, activation liveness.

ONNX and TFLite parsers (``graph_onnx``, ``graph_tflite``) both produce a :class:`Graph`, so the
estimator never needs to know which format a file was. Only numpy-free stdlib code lives here so
that the dataclasses can be imported cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgesub.errors import ModelFileError

# Op classes the estimator has one efficiency for each: spatial convolutions (im2col or Winograd
# overhead), 1×1 convolutions (a plain GEMM), depthwise (low arithmetic intensity), matrix
# products, and everything else (element-wise, pooling, reshapes: bandwidth-bound).
OP_KINDS = ("conv", "pointwise", "depthwise", "matmul", "other")

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output as a user would need to feed or read it."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class OpCost:
    """Work and traffic of one operator, in the order the runtime executes it.

    ``precision`` is the arithmetic the kernel runs in: int8 for quantised kernels (including
    dynamic-range ones), fp16 when weights are stored as fp16 (CPU kernels still compute in fp32),
    else fp32. ``costed`` is False when no cost rule knows the op type or the shapes its rule
    needs are unknown: its MACs and bytes are then not a cost but a gap. ``fused`` names the op
    types of the file that the runtime runs inside this op (see :mod:`edgesub.profile.fusion`):
    their MACs are in ``macs``, and the tensors between them are neither written nor read.
    """

    name: str
    op_type: str
    kind: str
    macs: int
    weight_bytes: int
    input_bytes: int
    output_bytes: int
    precision: str
    costed: bool = True
    fused: tuple[str, ...] = ()

    @property
    def bytes_moved(self) -> int:
        return self.weight_bytes + self.input_bytes + self.output_bytes


@dataclass(frozen=True)
class Graph:
    """Everything the estimator needs from a model file, as the runtime will execute it.

    ``ops`` are the kernels the runtime dispatches: ops it fuses into a neighbour, or drops as
    pass-throughs, are not among them, and ``fused_ops`` counts them (MACs are unchanged).
    ``weight_bytes`` is what the file stores.
    """

    path: Path
    format: str
    ops: list[OpCost]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    weight_bytes: int
    peak_activation_bytes: int
    custom_ops: list[str] = field(default_factory=list)
    fused_ops: int = 0

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def costed_fraction(self) -> float:
        """Share of ops with a known cost (1.0 for a graph with no ops); an op fuses only when
        both it and its host are costed, so fusion never hides a gap."""
        return sum(op.costed for op in self.ops) / len(self.ops) if self.ops else 1.0

    @property
    def uncosted_ops(self) -> list[str]:
        """Op types with at least one op of unknown cost, sorted."""
        return sorted({op.op_type for op in self.ops if not op.costed})

    @property
    def precision(self) -> str:
        """The precision doing most of the MACs (int8 graphs keep a few fp32 ops)."""
        by_precision: dict[str, int] = {}
        for op in self.ops:
            by_precision[op.precision] = by_precision.get(op.precision, 0) + op.macs
        if not by_precision:
            return "fp32"
        return max(by_precision, key=lambda p: (by_precision[p], p == "fp32"))


def peak_live_bytes(
    steps: Sequence[tuple[Sequence[str], Sequence[str]]],
    sizes: dict[str, int],
    graph_inputs: Sequence[str],
    graph_outputs: Sequence[str],
) -> int:
    """Peak bytes of activations alive at once when ``steps`` run in order.

    A tensor is allocated when its producer runs (graph inputs before the first step) and freed
    after its last consumer; graph outputs stay alive to the end. During a step its inputs and
    outputs are alive together, which is what an arena allocator must hold. Names missing from
    ``sizes`` (constants) are ignored.
    """
    end = len(steps)
    born: dict[str, int] = {name: 0 for name in graph_inputs if name in sizes}
    last: dict[str, int] = {}
    for index, (inputs, outputs) in enumerate(steps):
        for name in outputs:
            if name in sizes:
                born.setdefault(name, index)
        for name in inputs:
            if name in sizes:
                last[name] = index
    for name in graph_outputs:
        last[name] = end
    delta = [0] * (end + 2)
    for name, start in born.items():
        stop = max(last.get(name, start), start)
        delta[start] += sizes[name]
        delta[stop + 1] -= sizes[name]
    peak = live = 0
    for change in delta:
        live += change
        peak = max(peak, live)
    return peak


def check_input_shape(
    name: str,
    shape: Sequence[int | None],
    override: Sequence[int] | None,
    path: Path,
    *,
    several: bool = False,
) -> tuple[int, ...]:
    """Resolve an input's shape, or explain that ``--input-shape`` is needed (by the input's
    name when the model has ``several`` inputs, which a bare shape might not all fit)."""
    if override is not None:
        override = tuple(int(d) for d in override)
        if len(override) != len(shape) or any(d <= 0 for d in override):
            raise ModelFileError(
                f"{path.name}: --input-shape {list(override)} does not fit input '{name}' "
                f"of rank {len(shape)} (model shape {_show(shape)})"
            )
        for have, want in zip(shape, override, strict=True):
            if have is not None and have > 0 and have != want:
                raise ModelFileError(
                    f"{path.name}: input '{name}' has fixed shape {_show(shape)}; "
                    f"--input-shape {list(override)} contradicts it"
                )
        return override
    batched = batch_of_one(shape)
    if batched is not None:
        return batched
    if any(d is None or d <= 0 for d in shape):
        raise ModelFileError(
            f"{path.name}: input '{name}' has unknown dimensions {_show(shape)}; "
            f"pass --input-shape (e.g. --input-shape {name + '=' if several else ''}"
            f"{_example(shape)})"
        )
    return tuple(int(d) for d in shape)


def _example(shape: Sequence[int | None]) -> str:
    """A concrete shape to suggest: batch 1, then 128 (a sequence) or 224 (an image side)."""
    fill = 224 if len(shape) == 4 else 128
    dims = [d if d is not None and d > 0 else (1 if i == 0 else fill) for i, d in enumerate(shape)]
    return ",".join(map(str, dims))


def batch_of_one(shape: Sequence[int | None]) -> tuple[int, ...] | None:
    """Shape with an unknown leading batch axis set to 1, when that is its only unknown dim.

    Exporters mark the batch axis dynamic by default; profiling is per inference, i.e. batch 1.
    """
    known = [d is not None and d > 0 for d in shape]
    if len(shape) >= 2 and not known[0] and all(known[1:]):
        return (1, *(int(d) for d in shape[1:]))  # type: ignore[arg-type]
    return None


def shape_fits(shape: Sequence[int | None], concrete: Sequence[int]) -> bool:
    """Whether ``concrete`` has ``shape``'s rank and agrees with its known dims."""
    return len(shape) == len(concrete) and all(
        have is None or have <= 0 or have == want
        for have, want in zip(shape, concrete, strict=True)
    )


def _show(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None or d <= 0 else str(d) for d in shape) + "]"


# --input-shape as the profiler takes it: one shape (every input it fits), or input name → shape
# (exactly that input), with the one bare shape, if any, under None
ShapeOverride = Sequence[int] | Mapping[str | None, Sequence[int]] | None


def named_shapes(override: ShapeOverride) -> dict[str | None, tuple[int, ...]]:
    """``override`` as name → shape; a lone shape is keyed None."""
    if override is None:
        return {}
    if isinstance(override, Mapping):
        return {name: tuple(int(d) for d in dims) for name, dims in override.items()}
    return {None: tuple(int(d) for d in override)}


def shape_flags(override: ShapeOverride) -> list[str]:
    """``override`` as the ``--input-shape`` flags a measurement process parses back with
    :func:`edgesub.limits.parse_named_shapes`."""
    return [
        "--input-shape=" + ("" if name is None else f"{name}=") + ",".join(map(str, dims))
        for name, dims in named_shapes(override).items()
    ]


def split_override(
    override: ShapeOverride, inputs: Mapping[str, Sequence[int | None]], path: Path | None
) -> tuple[tuple[int, ...] | None, dict[str, tuple[int, ...]]]:
    """(the bare shape, input name → its shape) of ``override`` for a model whose ``inputs``
    are name → dims; a name that is no input is one line listing the inputs."""
    shapes = named_shapes(override)
    bare = shapes.pop(None, None)
    unknown = [name for name in shapes if name not in inputs]
    if unknown:
        listed = ", ".join(f"{name} {_show(dims)}" for name, dims in inputs.items())
        where = f"{path.name}: " if path is not None else ""
        raise ModelFileError(
            f"{where}--input-shape names {', '.join(map(repr, unknown))}, which is not "
            f"an input of the model; its inputs: {listed}"
        )
    return bare, {name: dims for name, dims in shapes.items() if name is not None}
