"""The folders are the architecture: every import points down the layers, and no cycles.

Read from the package's own ``import`` statements (those inside functions too, since a lazy
import is still a dependency), so the check needs nothing but ``ast``. The layers, bottom up,
are DESIGN.md's "Layout"; a module may import its own layer or any layer below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "explainer"

# bottom -> top; a module belongs to the first entry its dotted name starts with
LAYERS = [
    ("base", ["explainer.version", "explainer.assets"]),
    # the drawn shapes (drawing, captions, the scorer) know nothing of models; the latent
    # preview fits on its drawings, and training/evaluation (shapes/, top) use them
    ("text and drawn data", ["explainer.tokenizer", "explainer.drawn"]),
    ("models", ["explainer.models"]),
    ("weights", ["explainer.weights"]),
    ("schedulers", ["explainer.schedulers"]),
    ("diffusion", ["explainer.diffusion"]),
    ("explore", ["explainer.explore"]),
    ("viz", ["explainer.viz"]),
    ("report", ["explainer.report"]),
    ("applications", ["explainer.cli", "explainer.__main__", "explainer.shapes", "explainer.exercises",
                      "explainer"]),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{name} is in no layer; add it to LAYERS in {__file__}")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports (``from a.b import c`` counts a.b.c if a module)."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {name for name in found if name in modules} - {module_name(path)}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def test_every_module_has_a_layer(graph):
    for name in graph:
        layer_of(name)
    assert len(graph) > 50  # the walk found the package


def test_imports_point_down(graph):
    upward = [f"{name} ({LAYERS[layer_of(name)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})"
              for name, deps in sorted(graph.items()) for dep in sorted(deps)
              # a package's __init__ importing its own parents is Python's doing, not ours
              if layer_of(dep) > layer_of(name) and not name.startswith(dep + ".")]
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_no_import_cycles(graph):
    """No two modules import each other, directly or through others."""
    # a package importing its own submodules (re-exports) is not a cycle of concepts
    edges = {name: {d for d in deps if not name.startswith(d + ".")}
             for name, deps in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_check_sees_an_upward_import(graph):
    """The checks above can fail: a models module importing the pipeline is caught."""
    bad = dict(graph)
    bad["explainer.models.unet"] = graph["explainer.models.unet"] | {"explainer.diffusion.pipeline"}
    upward = [(n, d) for n, deps in bad.items() for d in deps if layer_of(d) > layer_of(n)
              and not n.startswith(d + ".")]
    assert ("explainer.models.unet", "explainer.diffusion.pipeline") in upward


def test_files_stay_small():
    """One concept per file: every module under ~400 lines (DESIGN.md)."""
    long = {module_name(p): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, long


def test_only_the_backend_package_imports_a_backend():
    """tensorflow, jax and torch are imported by models/backend/ and nowhere else in the
    package (the drawn data and training included): what runs where is one package's job."""
    importers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("tensorflow", "jax", "torch") for n in names):
                importers.add(module_name(path))
    assert importers and all(m.startswith("explainer.models.backend") for m in importers), \
        sorted(importers)
