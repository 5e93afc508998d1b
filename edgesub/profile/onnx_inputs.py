"""Concrete input shapes for an ONNX graph: ``--input-shape`` binds symbolic dims by name.

A transformer exported with dynamic axes has inputs like ``input_ids[batch, sequence]`` and
``attention_mask[batch, sequence]``. ``--input-shape 1,128`` fills every input it fits (as the
measurement does), and each symbolic name it binds (``sequence`` = 128) is bound everywhere it
appears, so inputs of another rank and the graph's own annotations agree. A named shape
(``--input-shape attention_mask=1,128``) binds exactly that input. With no ``--input-shape``
only a lone leading batch dim defaults to 1; any other unknown dim is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgesub.errors import ModelFileError
from edgesub.profile.graph import (
    ShapeOverride,
    TensorSpec,
    check_input_shape,
    shape_fits,
    split_override,
)

Dim = int | str | None  # a size, a symbolic name, or unknown


def bind_inputs(
    onnx: Any, model: Any, inputs: list[Any], override: ShapeOverride, path: Path
) -> list[TensorSpec]:
    """Resolve every input's shape, write it into ``model`` and return the inputs' specs."""
    dims = {value.name: _dims(value) for value in inputs}
    bare, named = split_override(override, {n: _numeric(d) for n, d in dims.items()}, path)
    shapes = {
        name: check_input_shape(name, _numeric(dims[name]), shape, path)
        for name, shape in named.items()
    }
    rest = {name: d for name, d in dims.items() if name not in named}
    for name in _targets(rest, bare, path):
        shapes[name] = check_input_shape(name, _numeric(dims[name]), bare, path)
    bindings: dict[str, int] = {}
    for name, shape in shapes.items():
        for dim, size in zip(dims[name], shape, strict=True):
            if isinstance(dim, str):
                bindings.setdefault(dim, size)
    specs = []
    several = len(inputs) > 1
    for value in inputs:
        bound = [bindings.get(d) if isinstance(d, str) else d for d in dims[value.name]]
        shape = shapes.get(value.name) or check_input_shape(
            value.name, bound, None, path, several=several
        )
        _write(value, shape)
        elem_type = value.type.tensor_type.elem_type
        specs.append(TensorSpec(value.name, shape, _np_name(onnx, elem_type)))
    _bind_annotations(model, bindings)
    return specs


def _dims(value: Any) -> list[Dim]:
    found: list[Dim] = []
    for dim in value.type.tensor_type.shape.dim:
        if dim.HasField("dim_value") and dim.dim_value > 0:
            found.append(int(dim.dim_value))
        else:
            found.append(dim.dim_param if dim.HasField("dim_param") else None)
    return found


def _numeric(dims: Sequence[Dim]) -> list[int | None]:
    """Sizes only: a symbolic name is as unknown as a missing dim until it is bound."""
    return [d if isinstance(d, int) else None for d in dims]


def _targets(dims: dict[str, list[Dim]], override: Sequence[int] | None, path: Path) -> list[str]:
    """The inputs a bare ``override`` is for: the only input, else every input whose shape it
    fits (of those no named shape is for)."""
    if override is None or not dims:
        return []
    if len(dims) == 1:
        return list(dims)
    fitting = [name for name, d in dims.items() if shape_fits(_numeric(d), override)]
    if not fitting:
        shown = ", ".join(f"{name}: {_show(d)}" for name, d in dims.items())
        raise ModelFileError(
            f"{path.name}: --input-shape {','.join(map(str, override))} fits no model input "
            f"({shown})"
        )
    return fitting


def _show(dims: Sequence[Dim]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _write(value: Any, shape: Sequence[int]) -> None:
    for dim, size in zip(value.type.tensor_type.shape.dim, shape, strict=True):
        dim.Clear()
        dim.dim_value = int(size)


def _bind_annotations(model: Any, bindings: dict[str, int]) -> None:
    """Exporters annotate inner tensors and outputs with the same symbolic names (bound here)
    or with -1 (Paddle): such a stale annotation would override what inference finds."""
    graph = model.graph
    for value in [*graph.value_info, *graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param in bindings:
                size = bindings[dim.dim_param]
                dim.Clear()
                dim.dim_value = size
            elif dim.HasField("dim_value") and dim.dim_value <= 0:
                dim.Clear()


def _np_name(onnx: Any, elem_type: int) -> str:
    return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
