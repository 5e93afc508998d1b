"""Operator fusion: the graph a runtime executes, from the graph a file stores.

Runtimes do not run every op of a file on its own. ONNX Runtime folds BatchNormalization and
per-channel Add/Mul into a preceding Conv, turns MatMul + bias Add into Gemm, runs a Conv or
Gemm with its activation as one FusedConv/FusedGemm kernel, x · Sigmoid(x) as one QuickGelu
kernel, and drops Identity/Dropout;
LiteRT's default CPU delegate (XNNPACK) runs a standalone RELU/RELU6 inside the op that
produced its input and a zero PAD inside the convolution it feeds. A fused op writes and
re-reads no intermediate tensor and pays one dispatch, so costing the file as written
overcharges ONNX files (which store activations as separate ops) against TFLite files (whose
converters already put the activation in the op's ``fused_activation_function``, costed once).

The rules are data (:class:`FusionRule` tables, one per format, below), applied by
:func:`fuse` to format-neutral :class:`Step` records. Facts a rule needs beyond op types
(a constant is a per-channel vector, a pad is zero and spatial, a convolution pads
explicitly) are *traits* the format's parser attaches to each step. An absorbed op only ever
fuses when the intermediate tensor has no other reader and is not a graph output, its other
inputs are constants (or, for a gating rule such as SiLU's x · σ(x), the host's own input),
and both ops are costed (an uncosted op stays visible as a gap). Its
MACs, if any, become the host's element-wise work done in registers; its constants are folded
into the host's weights or attributes at load time (BN statistics, bias, clip bounds), so they
are not read at run time. MAC totals never change. Only the standard library is used here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from edgesub.profile.graph import OpCost

AFTER = "after"  # the absorbed op reads the host's only output (an epilogue: BN, bias, ReLU)
BEFORE = "before"  # the absorbed op writes the host's data input (a prologue: a zero PAD)


@dataclass(frozen=True)
class FusionRule:
    """``absorbed`` op types fold into an adjacent ``host`` op type.

    ``where`` is :data:`AFTER` (the absorbed op is the single reader of the host's single
    output) or :data:`BEFORE` (the absorbed op's single output is the host's first activation
    input and nothing else reads it). ``host_traits``/``absorbed_traits`` must all be among the
    traits the parser attached. ``closes``: nothing fuses into the host after this rule (ONNX
    Runtime fuses one activation per kernel). ``becomes``: the op type later rules see the
    host as (MatMul + bias is a Gemm).
    """

    name: str
    hosts: frozenset[str]
    absorbed: frozenset[str]
    where: str = AFTER
    host_traits: frozenset[str] = frozenset()
    absorbed_traits: frozenset[str] = frozenset()
    closes: bool = False
    becomes: str | None = None
    gates_input: bool = False  # the absorbed op also reads the host's input: x · σ(x)


@dataclass(frozen=True)
class Step:
    """One op as fusion sees it: its cost, the activation tensors it reads (constants left
    out) and writes, and facts about it its parser established (``traits``)."""

    cost: OpCost
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    traits: frozenset[str] = frozenset()


@dataclass
class Fused:
    """The executed graph: its steps in run order, and how many stored ops disappeared."""

    steps: list[Step]
    fused_ops: int = 0


def _rule(
    name: str,
    hosts: Iterable[str],
    absorbed: Iterable[str],
    where: str = AFTER,
    host_traits: Iterable[str] = (),
    absorbed_traits: Iterable[str] = (),
    closes: bool = False,
    becomes: str | None = None,
    gates_input: bool = False,
) -> FusionRule:
    return FusionRule(
        name, frozenset(hosts), frozenset(absorbed), where, frozenset(host_traits),
        frozenset(absorbed_traits), closes, becomes, gates_input,
    )  # fmt: skip


# ONNX Runtime 1.32, CPU execution provider, the fusions of ORT_ENABLE_BASIC and _EXTENDED
# (checked on hand-built graphs with SessionOptions.optimized_model_filepath, as
# tests/profile/test_graph_fusion.py does). Not modelled: the NCHWc layout ORT_ENABLE_ALL picks
# where MLAS has NCHWc kernels for the CPU, as on x86 (it also fuses residual Adds; the device
# profiles are ARM boards and phones), MatMul + bias of more than 2 dimensions (rewritten as
# Reshape, Gemm, Reshape: no op fewer), QDQ node groups, and multi-op patterns (Gelu, LayerNorm,
# attention).
ONNX_ACTIVATIONS = ("Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid")
ONNX_FUSIONS = (
    # ConvBNFusion: the BN scale and shift are folded into the weights and bias.
    _rule("conv-batchnorm", ["Conv"], ["BatchNormalization"]),
    # ConvAddFusion / ConvMulFusion: input 1 a constant of shape [C,1,1] or [1,C,1,1].
    _rule("conv-bias", ["Conv"], ["Add", "Mul"], absorbed_traits=["per_channel"]),
    # MatMulAddFusion: a 2-D MatMul plus a constant bias broadcast over its output is a Gemm.
    _rule("matmul-bias", ["MatMul"], ["Add"], AFTER, ["2d"], ["gemm_bias"], becomes="Gemm"),
    # ConvActivationFusion → com.microsoft FusedConv(activation); one activation per kernel.
    _rule("conv-activation", ["Conv"], ONNX_ACTIVATIONS, closes=True),
    # GemmActivationFusion → com.microsoft FusedGemm; Clip is not among its activations.
    _rule("gemm-activation", ["Gemm"], set(ONNX_ACTIVATIONS) - {"Clip"}, closes=True),
    # QuickGeluFusion (ORT_ENABLE_EXTENDED): x · Sigmoid(x), i.e. SiLU/Swish, is one
    # com.microsoft QuickGelu kernel (ncnn's converters likewise make it one Swish layer).
    _rule("silu", ["Sigmoid"], ["Mul"], gates_input=True, closes=True),
)
# EliminateIdentity / EliminateDropout (inference): removed wherever they are.
ONNX_NO_OPS = frozenset({"Identity", "Dropout"})

# LiteRT's XNNPACK delegate (xnn_subgraph_fusion): RELU, RELU6, RELU_N1_TO_1 and RELU_0_TO_1
# are clamps, fused into the op producing their input when it has an output clamp; a zero,
# spatial-only PAD is fused into the (depthwise) convolution it feeds unless that pads SAME.
# Ops carrying a fused_activation_function need no rule: the activation is part of the op.
TFLITE_CLAMPS = ("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1")
TFLITE_CLAMP_HOSTS = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "AVERAGE_POOL_2D",
    "MAX_POOL_2D", *TFLITE_CLAMPS,
)  # fmt: skip
PAD_HOSTS = ("CONV_2D", "DEPTHWISE_CONV_2D")
TFLITE_FUSIONS = (
    _rule("clamp", TFLITE_CLAMP_HOSTS, TFLITE_CLAMPS),
    _rule("pad-conv", PAD_HOSTS, ["PAD"], BEFORE, ["valid_padding"], ["zero_spatial_pad"]),
)
TFLITE_NO_OPS: frozenset[str] = frozenset()


def fuse(
    steps: Sequence[Step],
    graph_inputs: Sequence[str],
    graph_outputs: Sequence[str],
    sizes: dict[str, int],
    rules: Sequence[FusionRule],
    no_ops: frozenset[str] = frozenset(),
) -> Fused:
    """Apply ``no_ops`` removal, then :data:`BEFORE` rules, then :data:`AFTER` rules.

    ``sizes`` are the bytes of activation tensors (as the steps' costs count them).
    """
    work: list[Step | None] = list(steps)
    kept = set(graph_outputs)
    _remove_no_ops(work, set(graph_inputs), kept, no_ops)
    _fuse_before(work, kept, sizes, [r for r in rules if r.where == BEFORE])
    _fuse_after(work, kept, sizes, [r for r in rules if r.where == AFTER])
    done = [s for s in work if s is not None]
    return Fused(done, len(steps) - len(done))


def _readers(work: Sequence[Step | None]) -> dict[str, list[int]]:
    readers: dict[str, list[int]] = {}
    for index, step in enumerate(work):
        for name in step.inputs if step is not None else ():
            readers.setdefault(name, []).append(index)
    return readers


def _producers(work: Sequence[Step | None]) -> dict[str, int]:
    return {name: i for i, s in enumerate(work) if s is not None for name in s.outputs}


def _remove_no_ops(
    work: list[Step | None], inputs: set[str], outputs: set[str], no_ops: frozenset[str]
) -> None:
    """Drop pass-through ops: readers of the output read the input instead; when the output is a
    graph output, the producer of the input writes it under that name (as ONNX Runtime does)."""
    alias: dict[str, str] = {}

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    readers = _readers(work)
    for index, step in enumerate(work):
        if step is None or step.cost.op_type not in no_ops or len(step.inputs) != 1:
            continue
        if any(readers.get(o) or o in outputs for o in step.outputs[1:]):
            continue  # a Dropout mask that something reads
        source, target = resolve(step.inputs[0]), step.outputs[0]
        if target not in outputs:
            alias[target] = source
        elif source in inputs or source in outputs:
            continue  # a real copy between two graph-level names
        else:
            alias[source] = target
        work[index] = None
    if alias:
        for index, step in enumerate(work):
            if step is not None:
                work[index] = replace(
                    step,
                    inputs=tuple(resolve(n) for n in step.inputs),
                    outputs=tuple(resolve(n) for n in step.outputs),
                )


def _reads_only(rule: FusionRule, host: Step, follower: Step, middle: str) -> bool:
    """The follower reads nothing but ``middle`` (and, for a gating rule, the host's input)."""
    if follower.inputs == (middle,):
        return True
    gate = host.inputs[:1]
    return (
        rule.gates_input and len(gate) == 1 and sorted(follower.inputs) == sorted((*gate, middle))
    )


def _matches(rule: FusionRule, host_type: str, host: Step, absorbed: Step) -> bool:
    return (
        host_type in rule.hosts
        and absorbed.cost.op_type in rule.absorbed
        and rule.host_traits <= host.traits
        and rule.absorbed_traits <= absorbed.traits
        and host.cost.costed
        and absorbed.cost.costed
    )


def _private(name: str, readers: dict[str, list[int]], kept: set[str]) -> int | None:
    """The one op reading ``name``, if nothing else (and no graph output) needs it."""
    found = readers.get(name, [])
    return found[0] if len(found) == 1 and name not in kept else None


def _fuse_after(
    work: list[Step | None], kept: set[str], sizes: dict[str, int], rules: list[FusionRule]
) -> None:
    readers = _readers(work)
    for index in range(len(work)):
        host = work[index]
        if host is None:
            continue
        host_type = host.cost.op_type
        while len(host.outputs) == 1:
            middle = host.outputs[0]
            reader = _private(middle, readers, kept)
            follower = work[reader] if reader is not None else None
            if follower is None or len(follower.outputs) != 1:
                break
            rule = next(
                (
                    r
                    for r in rules
                    if _matches(r, host_type, host, follower)
                    and _reads_only(r, host, follower, middle)
                ),
                None,
            )
            if rule is None:
                break
            host = _absorb(host, follower, middle, sizes, after=True)
            work[index], work[reader] = host, None  # type: ignore[index]
            host_type = rule.becomes or host_type
            if rule.closes:
                break


def _fuse_before(
    work: list[Step | None], kept: set[str], sizes: dict[str, int], rules: list[FusionRule]
) -> None:
    if not rules:
        return
    readers, producers = _readers(work), _producers(work)
    for index, host in enumerate(work):
        if host is None or not host.inputs:
            continue
        middle = host.inputs[0]
        source = producers.get(middle)
        leader = work[source] if source is not None else None
        if (
            leader is None
            or _private(middle, readers, kept) != index
            or leader.outputs != (middle,)
            or len(leader.inputs) != 1
        ):
            continue
        if any(_matches(r, host.cost.op_type, host, leader) for r in rules):
            work[index] = _absorb(host, leader, middle, sizes, after=False)
            work[source] = None  # type: ignore[index]
            for name in leader.inputs:  # host now reads what the leader read
                readers[name] = [index if i == source else i for i in readers[name]]


def _absorb(host: Step, other: Step, middle: str, sizes: dict[str, int], after: bool) -> Step:
    """``host`` doing ``other``'s work too; ``middle`` (the tensor between them) is gone."""
    gone = sizes.get(middle, 0)
    cost = host.cost
    if after:  # host reads its own inputs and writes other's output
        inputs, outputs = host.inputs, other.outputs
        input_bytes, output_bytes = cost.input_bytes, other.cost.output_bytes
        fused = (*cost.fused, other.cost.op_type)
    else:  # host reads other's input instead of middle
        inputs, outputs = (*other.inputs, *host.inputs[1:]), host.outputs
        input_bytes = cost.input_bytes - gone + other.cost.input_bytes
        output_bytes = cost.output_bytes
        fused = (other.cost.op_type, *cost.fused)
    merged = replace(
        cost,
        macs=cost.macs + other.cost.macs,
        input_bytes=max(input_bytes, 0),
        output_bytes=output_bytes,
        fused=fused,
    )
    return Step(merged, inputs, outputs, host.traits)
