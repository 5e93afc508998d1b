"""PyTorch teachers the user trained, used as they are: a ``torch.export`` program (``.pt2``),
or the user's own code (``file.py:factory``) with its weights in a ``.safetensors`` file.

The features are the input of the last linear layer (the classifier's input, whose weight and
bias are then the teacher's ``head``), or what ``teacher.feature_layer`` names: a graph node of
the program, a module path of the factory's model. Every forward pass runs under ``no_grad``
with edgesub's thread limit.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesub._deps import require
from edgesub.digest import file_sha256
from edgesub.errors import ConfigError, ModelFileError, first_line
from edgesub.teachers.adapter import capture, resolve_layer, unknown_layer
from edgesub.teachers.source import PICKLE_SUFFIXES, Teacher, existing_file
from edgesub.teachers.source_io import (
    Run,
    batch_runner,
    dims,
    files_sha256,
    pool_features,
    preprocess_from_shape,
)
from edgesub.torch_files import CONVERT_HINT, load_weights
from edgesub.training.loop import TRAIN_THREADS, torch_threads

if TYPE_CHECKING:
    import torch
    from torch import fx, nn

    from edgesub.config import TeacherConfig

TensorFn = Callable[["torch.Tensor"], Any]
LINEAR_OPS = {"aten.linear.default": 0, "aten.addmm.default": 1}  # op → its features argument
# ops the logits may pass through after the classifier in an exported graph
SCORE_OPS = {
    "aten._log_softmax.default",
    "aten._softmax.default",
    "aten.clone.default",
    "aten.flatten.using_ints",
    "aten.log_softmax.int",
    "aten.reshape.default",
    "aten.softmax.int",
    "aten.squeeze.dim",
    "aten.squeeze.dims",
    "aten.view.default",
}
TRANSPOSES = {"aten.t.default", "aten.permute.default", "aten.transpose.int"}
# archive entries that torch.export.load would turn into native code or arbitrary objects
NATIVE_DIRS = ("data/aotinductor/", "data/executorch/", "data/mtia")
PICKLED_OBJECTS = ("custom_obj_", "opaque_obj_")
FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
FORCE_UNSAFE = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"  # would clash with the above: set aside
_MODULE_IDS = itertools.count()


@dataclass(frozen=True)
class Role:
    """Whose files the messages name: a teacher's (set in the config), or a model that
    ``edgesub convert`` was given on the command line."""

    name: str = "teacher"
    weights_hint: str = "set teacher.weights to the .safetensors file of its trained weights"


TEACHER = Role()


# ---- .pt2: a torch.export program


def load_exported_teacher(spec: str, cfg: TeacherConfig) -> Teacher:
    """``spec`` (a ``torch.export.save`` file) as a Teacher, loaded without unpickling code."""
    path = existing_file(spec, "teacher program")
    program = load_program(path)
    gm = exported_module(program)
    image = _image_placeholder(gm, path)
    linear = _last_linear(gm.graph)
    if cfg.feature_layer:
        node = _named_node(gm.graph, cfg.feature_layer, path)
    else:
        node = _default_node(gm.graph, linear, path)
    shape = _node_shape(image)
    fixed = shape[0] if shape else None
    return Teacher(
        kind="pt2",
        source=spec,
        sha256=file_sha256(path),
        input_kind="image",
        features=_runner(_truncated(gm, node), spec, fixed, features=node.name),
        logits=_runner(gm, spec, fixed) if _scores_node(gm.graph) is not None else None,
        head=_graph_head(gm, linear, node),
        preprocess=preprocess_from_shape(shape),
        params=sum(program.state_dict[n].numel() for n in program.graph_signature.parameters),
        module=gm,
    )


def load_program(path: Path, role: Role = TEACHER) -> Any:
    """``torch.export.load(path)``, made safe for a file from anyone.

    torch 2.13's loader is not pickle-free: it calls ``torch.load(..., weights_only=False)``
    for tensor-subclass weights and constants (and, falling back, for example inputs and old
    archives), ``pickle.loads`` for opaque constants, torchbind's unpickler for custom objects,
    and loads AOTInductor shared libraries when the archive has them. So the archive is checked
    first (no native code, no pickled objects) and every ``torch.load`` inside runs with
    ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1``, which overrides a call's ``weights_only=False``:
    plain tensors and containers load, anything naming code is refused.
    """
    torch = require("torch")
    _check_archive(path, role)
    try:
        with _weights_only_loads():
            return torch.export.load(str(path))
    except Exception as exc:  # RuntimeError, UnpicklingError, KeyError... for foreign files
        if "Weights only load failed" in str(exc):
            raise ModelFileError(
                f"{role.name} program {path} holds pickled objects besides tensors; edgesub will "
                "not unpickle them (that runs code): export the model with plain tensors"
            ) from None
        raise ModelFileError(
            f"cannot load {role.name} program {path}: not a torch.export program "
            f"({type(exc).__name__}: {first_line(exc)})"
        ) from None


def exported_module(program: Any) -> fx.GraphModule:
    """``program.module()`` in eval mode, with nn.Module's own ``train``/``eval`` back in place
    of torch's stubs that raise: the exported graph's ops do not depend on the switch, but the
    ONNX exporter and ``edgesub convert`` flip it."""
    gm = program.module()
    for name in ("train", "eval"):
        gm.__dict__.pop(name, None)
    return gm.eval()


def program_input_shape(gm: fx.GraphModule, path: Path, role: Role = TEACHER) -> list[int | None]:
    """The example shape of the program's single input (None for dynamic axes)."""
    return _node_shape(_image_placeholder(gm, path, role))


def _check_archive(path: Path, role: Role) -> None:
    """Refuse what torch.export.load would run: compiled code, pickled non-tensor constants."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(
            f"{path} is not a torch.export program ({first_line(exc)}); "
            "write one with torch.export.save"
        ) from None
    for name in names:
        inner = name.split("/", 1)[-1]
        pickled = inner.startswith("data/constants/") and Path(inner).name.startswith(
            PICKLED_OBJECTS
        )
        if inner.startswith(NATIVE_DIRS) or pickled:
            raise ModelFileError(
                f"{role.name} program {path} holds {inner}, which loading would run or unpickle; "
                "edgesub reads only the graph and its tensors: save it with torch.export.save "
                "from a model without compiled parts or script objects"
            )


@contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Force ``weights_only=True`` on every torch.load; keep torch's multi-line logs quiet."""
    saved = {
        key: os.environ.pop(key, None)
        for key in (FORCE_WEIGHTS_ONLY, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    }
    os.environ[FORCE_WEIGHTS_ONLY] = "1"
    loggers = [logging.getLogger(name) for name in ("torch.export", "torch._export")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        os.environ.pop(FORCE_WEIGHTS_ONLY)
        os.environ.update({key: value for key, value in saved.items() if value is not None})
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _image_placeholder(gm: fx.GraphModule, path: Path, role: Role = TEACHER) -> fx.Node:
    inputs = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        names = ", ".join(n.name for n in inputs)
        raise ModelFileError(
            f"{path.name} takes {len(inputs)} inputs ({names}); a {role.name} takes one image batch"
        )
    return inputs[0]


def _node_shape(node: fx.Node) -> list[int | None]:
    """The example shape a node was exported with; symbolic (dynamic) axes are None."""
    value = node.meta.get("val")
    shape = getattr(value, "shape", ())
    return [d if isinstance(d, int) else None for d in shape]


def _call_functions(graph: fx.Graph) -> list[fx.Node]:
    return [n for n in graph.nodes if n.op == "call_function"]


def _last_linear(graph: fx.Graph) -> fx.Node | None:
    linears = [n for n in _call_functions(graph) if str(n.target) in LINEAR_OPS]
    return linears[-1] if linears else None


def _linear_input(linear: fx.Node) -> Any:
    return linear.args[LINEAR_OPS[str(linear.target)]]


def _default_node(graph: fx.Graph, linear: fx.Node | None, path: Path) -> fx.Node:
    if linear is None or not hasattr(_linear_input(linear), "op"):
        names = [n.name for n in _call_functions(graph)]
        raise ConfigError(
            f"{path.name} has no linear layer, so edgesub cannot tell its features; set "
            f"teacher.feature_layer to a graph node, e.g. {', '.join(names[-4:])}"
        )
    return _linear_input(linear)


def _named_node(graph: fx.Graph, name: str, path: Path) -> fx.Node:
    nodes = {n.name: n for n in graph.nodes if n.op in ("placeholder", "call_function")}
    if name not in nodes:
        raise unknown_layer(name, path.name, list(nodes), "graph nodes")
    return nodes[name]


def _truncated(gm: fx.GraphModule, node: fx.Node) -> fx.GraphModule:
    """A module on ``gm``'s weights that returns ``node``'s value (the rest is dropped)."""
    fx = require("torch.fx")
    graph = fx.Graph()
    copies: dict[fx.Node, fx.Node] = {}
    graph.graph_copy(gm.graph, copies)
    graph.output(copies[node])
    part = fx.GraphModule(gm, graph)
    part.graph.eliminate_dead_code()
    part.recompile()
    return part


def _scores_node(graph: fx.Graph) -> fx.Node | None:
    """The program's first output when it is N×C (its class scores)."""
    output = next(n for n in graph.nodes if n.op == "output")
    first = output.args[0]
    while isinstance(first, tuple | list) and first:
        first = first[0]
    shape = getattr(getattr(first, "meta", {}).get("val"), "shape", ())
    return first if len(shape) == 2 else None


def _graph_head(
    gm: fx.GraphModule, linear: fx.Node | None, node: fx.Node
) -> tuple[np.ndarray, np.ndarray] | None:
    """The last linear's weight and bias, when its input is the features and its output,
    through reshapes and softmax only, is the program's first output."""
    if linear is None or _linear_input(linear) is not node:
        return None
    scores = _scores_node(gm.graph)
    while scores is not None and str(scores.target) in SCORE_OPS:
        scores = scores.args[0]
    if scores is not linear:
        return None
    if str(linear.target) == "aten.addmm.default":  # addmm(bias, x, weight.T)
        bias_arg, weight = linear.args[0], _constant(gm, linear.args[2])
        weight = None if weight is None else weight.T
    else:  # linear(x, weight, bias=None)
        bias_arg = linear.args[2] if len(linear.args) > 2 else None
        weight = _constant(gm, linear.args[1])
    bias = None if bias_arg is None else _constant(gm, bias_arg)
    if weight is None or weight.dim() != 2 or (bias is None and bias_arg is not None):
        return None
    b = np.zeros(weight.shape[0], np.float32) if bias is None else _array(bias).reshape(-1)
    return _array(weight), np.broadcast_to(b, (weight.shape[0],)).copy()


def _constant(gm: fx.GraphModule, node: Any) -> torch.Tensor | None:
    """The tensor a ``get_attr`` node (or a transpose of one) reads, else None."""
    if getattr(node, "op", None) == "get_attr":
        value: Any = gm
        for part in str(node.target).split("."):
            value = getattr(value, part)
        return value
    if getattr(node, "op", None) == "call_function" and str(node.target) in TRANSPOSES:
        inner = _constant(gm, node.args[0])
        return None if inner is None or inner.dim() != 2 else inner.T
    return None


# ---- file.py:factory + teacher.weights


def load_factory_teacher(spec: str, cfg: TeacherConfig) -> Teacher:
    """The module ``file.py:factory`` builds, with ``cfg.weights`` loaded into it (strict)."""
    module, (code, weights) = load_factory_module(spec, cfg.weights)
    label = factory_label(spec)
    linear = _last_linear_module(module)
    features = _module_features(module, cfg.feature_layer, linear, label)
    return Teacher(
        kind="factory",
        source=spec,
        sha256=files_sha256([code, weights]),
        input_kind="image",
        features=_runner(features, spec, features=cfg.feature_layer or "(last linear's input)"),
        logits=_runner(module, spec),
        head=None if cfg.feature_layer or linear is None else _module_head(linear),
        params=sum(p.numel() for p in module.parameters()),
        module=module,
    )


def load_factory_module(
    spec: str, weights: str, role: Role = TEACHER
) -> tuple[nn.Module, tuple[Path, Path]]:
    """The module ``file.py:factory`` builds with ``weights`` (.safetensors) loaded strictly,
    in eval mode, and the (code, weights) files it came from."""
    file, _, name = spec.rpartition(":")
    code = existing_file(file, f"{role.name} factory file")
    label = factory_label(spec)
    module = _build(code, name, label, role)
    path = _weights_file(weights, label, role)
    _load_state(module, load_weights(path, f"{role.name} weights"), path, label, role)
    return module.eval(), (code, path)


def factory_label(spec: str) -> str:
    """``file.py:factory`` as messages name it: the file's name, not its whole path."""
    file, _, name = spec.rpartition(":")
    return f"{Path(file).name}:{name}"


def _build(code: Path, name: str, label: str, role: Role) -> nn.Module:
    """Call the user's factory; whatever goes wrong in their code is one ConfigError line."""
    nn = require("torch").nn
    what = f"{role.name} factory {label}"
    with _on_path(code.parent):  # so the file can import its sibling modules
        factory = getattr(_import_file(code, role), name, None)
        if not callable(factory):
            raise ConfigError(f"{what}: {code.name} defines no function {name!r}")
        try:
            built = factory()
        except Exception as exc:
            raise ConfigError(f"{what} raised {type(exc).__name__}: {first_line(exc)}") from None
    if not isinstance(built, nn.Module):
        raise ConfigError(f"{what} returned {type(built).__name__}, not a torch.nn.Module")
    return built


def _import_file(code: Path, role: Role) -> Any:
    """Import ``code`` as a fresh module under a unique name (no shell, no sys.path search)."""
    stem = re.sub(r"\W", "_", code.stem)
    unique = f"_edgesub_teacher_{next(_MODULE_IDS)}_{stem}"
    spec = importlib.util.spec_from_file_location(unique, code)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{role.name} factory file {code} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # SyntaxError, ImportError, anything its top level raises
        del sys.modules[unique]
        raise ConfigError(
            f"{role.name} factory file {code.name} failed to import: "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from None
    return module


@contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))


def _weights_file(weights: str, label: str, role: Role) -> Path:
    """The weights as an existing .safetensors file (a pickle is never read)."""
    if not weights:
        raise ConfigError(
            f"{role.name} factory {label} builds an untrained model: {role.weights_hint}"
        )
    path = existing_file(weights, f"{role.name} weights")
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise ModelFileError(
            f"{role.name} weights {path} are a pickle ({suffix}), which edgesub never loads "
            f"(unpickling runs code): {CONVERT_HINT}"
        )
    if suffix != ".safetensors":
        raise ModelFileError(f"{role.name} weights {path} must be a .safetensors file")
    return path


def _load_state(
    module: nn.Module, state: dict[str, Any], path: Path, label: str, role: Role
) -> None:
    """``load_state_dict(strict=True)`` with the mismatch as one line naming the first keys."""
    expected = module.state_dict()
    wrong = [
        f"{key} ({dims(state[key].shape)} in the file, {dims(value.shape)} in the model)"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    problems = [
        _first_few("missing keys", [k for k in expected if k not in state]),
        _first_few("unexpected keys", [k for k in state if k not in expected]),
        _first_few("wrong shapes", wrong),
    ]
    if any(problems):
        raise ModelFileError(
            f"{role.name} weights {path.name} do not fit the model of {label}: "
            + "; ".join(p for p in problems if p)
        )
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as exc:
        raise ModelFileError(
            f"cannot load {role.name} weights {path.name}: {first_line(exc)}"
        ) from None


def _first_few(what: str, items: list[str], shown: int = 3) -> str:
    if not items:
        return ""
    more = f" (+{len(items) - shown} more)" if len(items) > shown else ""
    return f"{what} {', '.join(items[:shown])}{more}"


def _last_linear_module(module: nn.Module) -> nn.Module | None:
    """The last ``nn.Linear`` registered (registration order stands for call order)."""
    nn = require("torch").nn
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def _module_features(
    module: nn.Module, layer: str, linear: nn.Module | None, label: str
) -> TensorFn:
    """``x → features``: the named layer's output, else the last Linear's input."""
    if layer:
        target, inputs = resolve_layer(module, layer), False
    elif linear is None:
        names = [n for n, _ in module.named_modules() if n]
        raise ConfigError(
            f"the model of {label} has no nn.Linear, so edgesub cannot tell its features; set "
            f"teacher.feature_layer to a module path, e.g. {', '.join(names[-4:])}"
        )
    else:
        target, inputs = linear, True
    return lambda x: capture(module, target, x, inputs=inputs)


def _module_head(linear: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    weight = _array(linear.weight)
    bias = np.zeros(len(weight), np.float32) if linear.bias is None else _array(linear.bias)
    return weight, bias


# ---- shared


def _runner(fn: TensorFn, source: str, fixed: int | None = None, *, features: str = "") -> Run:
    """numpy batch → numpy output of ``fn``: pooled N×d when ``features`` names the tensor,
    else N×C scores."""
    torch = require("torch")

    def run(chunk: np.ndarray) -> np.ndarray:
        with torch.no_grad(), torch_threads(TRAIN_THREADS):
            out = first_tensor(fn(torch.from_numpy(chunk)))
        h = _array(out)
        if features:
            return pool_features(h, features)
        if h.ndim != 2:
            raise ModelFileError(f"teacher {source} returns {dims(h.shape)}, not N×C logits")
        return h

    return batch_runner(run, source, fixed)


def first_tensor(out: Any) -> Any:
    """A model's main output: the tensor itself, the first of a tuple, a dict's ``logits``."""
    if isinstance(out, dict):
        out = out.get("logits", next(iter(out.values()), None))
    while isinstance(out, tuple | list) and out:
        out = out[0]
    return out


def _array(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().cpu().numpy(), dtype=np.float32)
