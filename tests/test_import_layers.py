"""The package's import graph goes one way: each layer imports only the layers beneath it.

An AST scan of every import in ``edgesub/`` and ``converters/`` (module level, inside functions
and under TYPE_CHECKING alike), so a cycle cannot hide behind a lazy import. It guards the
layering the way test_lean_import.py guards heavy imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"edgesub": ROOT / "edgesub", "edgesub.converters": ROOT / "converters"}

# Bottom to top; a unit imports only units of lower layers. The first layers are the
# dependency-free top-level modules, one each, in the order they may use each other.
LAYERS: list[set[str]] = [
    {"edgesub"},
    {"edgesub.errors"},
    {"edgesub.jsonfile", "edgesub.limits", "edgesub.labels"},
    {"edgesub._deps", "edgesub.registry", "edgesub.atomic", "edgesub.digest"},
    {
        "edgesub.native_logs",
        "edgesub.interrupts",
        "edgesub.torch_files",
        "edgesub.records",
        "edgesub.backends",
    },
    {
        "edgesub.config",
        "edgesub.rundir",
        "edgesub.console",
        "edgesub.onnx_files",
        "edgesub.onnx_trace",
    },
    {"edgesub.training", "edgesub.data"},
    {"edgesub.teachers"},
    {"edgesub.subspace", "edgesub.students"},
    {"edgesub.distill"},
    {"edgesub.profile"},
    {"edgesub.converters"},
    {"edgesub.report", "edgesub.package", "edgesub.schemas_doc"},
    {"edgesub.pipeline"},
    {"edgesub.cli"},
    {"edgesub.__main__"},
]


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is a package __init__)."""
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            is_init = parts[-1] == "__init__"
            if is_init:
                parts = parts[:-1]
            found[".".join([package, *parts])] = (path, is_init)
    return found


def _imports(module: str, path: Path, is_init: bool, known: set[str]) -> set[str]:
    """The edgesub modules ``module`` imports; ``from pkg import sub`` counts as ``pkg.sub``."""
    package = module if is_init else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            subs = {f"{base}.{alias.name}" for alias in node.names} & known
            targets.update(subs or {base})
    # a package's own ancestors are initialised by the import system, not imported by it
    ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return {t for t in targets if t in known and t != module and t not in ancestors}


def _unit(module: str) -> str:
    """The layer unit of a module: its subpackage of edgesub, or the top-level module itself."""
    parts = module.split(".")
    if len(parts) >= 2 and (SOURCES["edgesub"] / parts[1]).is_dir():
        return ".".join(parts[:2])
    if parts[:2] == ["edgesub", "converters"]:
        return "edgesub.converters"
    return ".".join(parts[:2])


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imports(m, path, init, known) for m, (path, init) in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _rank(unit: str) -> int:
    for layer, units in enumerate(LAYERS):
        if unit in units:
            return layer
    raise AssertionError(f"{unit} is in no layer of tests/test_import_layers.py: place it")


def test_every_unit_has_a_layer():
    for unit in {_unit(m) for m in _modules()}:
        _rank(unit)


def test_module_graph_has_no_cycles():
    assert _cycles(_graph()) == []


def test_package_graph_has_no_cycles():
    units: dict[str, set[str]] = defaultdict(set)
    for module, targets in _graph().items():
        units[_unit(module)].update(_unit(t) for t in targets if _unit(t) != _unit(module))
    assert _cycles(dict(units)) == []


def test_imports_only_go_down():
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _unit(target) != _unit(module) and _rank(_unit(target)) >= _rank(_unit(module))
    )
    assert upward == []


def test_scan_sees_lazy_and_relative_imports(tmp_path):
    """The scanner itself: a function-level import and a relative import both count."""
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from p import b\n")
    (pkg / "b.py").write_text("from . import a\n")
    known = {"p", "p.a", "p.b"}
    graph = {
        "p.a": _imports("p.a", pkg / "a.py", False, known),
        "p.b": _imports("p.b", pkg / "b.py", False, known),
    }
    assert graph == {"p.a": {"p.b"}, "p.b": {"p.a"}}
    assert _cycles(graph) == [["p.a", "p.b"]]


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("edgesub.teachers", ["edgesub.distill", "edgesub.subspace", "edgesub.students"]),
        ("edgesub.teachers.train", ["edgesub.distill", "edgesub.subspace", "edgesub.students"]),
        ("edgesub.subspace", ["edgesub.distill", "edgesub.students"]),
        ("edgesub.training", ["edgesub.teachers", "edgesub.subspace", "edgesub.distill"]),
    ],
)
def test_importing_a_layer_loads_nothing_above_it(module, absent):
    code = f"import sys, {module}\nprint(','.join(m for m in {absent!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
