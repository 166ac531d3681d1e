"""The library's layering, read off its source: no import circle, a declaration layer that imports
nothing above it, no private name imported across modules, and an __all__ for every public package."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"circuitnet": "circuitnet", "models": "circuitnet.models", "paper_repro": "paper_repro"}  # folder: package
DECLARATION = ("circuitnet.units", "circuitnet.silicon", "circuitnet.elements", "circuitnet.neuron")
ABOVE_DECLARATION = ("circuitnet.compile", "circuitnet.variation", "circuitnet.solve", "circuitnet.spice",
                     "circuitnet.circuits", "circuitnet.timeline", "circuitnet.drive", "circuitnet.programming",
                     "circuitnet.calibration", "circuitnet.models", "paper_repro")


def _modules():
    out = {}
    for folder, pkg in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = pkg.split(".") + list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _modules()


def _imports(name):
    """(imported module, imported names) pairs of every import statement in module ``name``,
    function-level imports included, relative imports resolved."""
    path, is_pkg = MODULES[name]
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, ()
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                mod = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                mod = node.module
            names = tuple(a.name for a in node.names)
            for n in names:                      # "from . import x": x may be a submodule
                if f"{mod}.{n}" in MODULES:
                    yield f"{mod}.{n}", ()
            yield mod, names


def _internal(mod):
    """The project module an import names (the longest known prefix), or None for a third-party one."""
    parts = mod.split(".")
    for k in range(len(parts), 0, -1):
        cand = ".".join(parts[:k])
        if cand in MODULES:
            return cand
    return None


def _graph():
    g = {}
    for name in MODULES:
        deps = set()
        for mod, _ in _imports(name):
            dep = _internal(mod)
            if dep and dep != name and not name.startswith(dep + "."):   # a package's own __init__ is not a cycle
                deps.add(dep)
        g[name] = deps
    return g


def test_the_import_graph_has_no_circle():
    g = _graph()
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for d in sorted(g[n]):
            if d.startswith(n + "."):     # a package importing its own submodules
                continue
            if state.get(d) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[n] = "done"

    for n in sorted(g):
        if n not in state:
            visit(n)


@pytest.mark.parametrize("name", DECLARATION)
def test_the_declaration_layer_imports_nothing_above_it(name):
    above = sorted(d for d in _graph()[name] if d.startswith(ABOVE_DECLARATION))
    assert not above, f"{name} imports {above}"


def test_no_module_imports_another_modules_private_name():
    offenders = []
    for name in MODULES:
        for mod, names in _imports(name):
            if _internal(mod) and _internal(mod) != name:
                offenders += [f"{name}: from {mod} import {n}" for n in names if n.startswith("_") and not n.startswith("__")]
    assert not offenders, offenders


@pytest.mark.parametrize("package", ["circuitnet", "circuitnet.solve", "circuitnet.spice", "circuitnet.models"])
def test_public_packages_declare_all_and_export_what_they_list(package):
    import importlib
    mod = importlib.import_module(package)
    assert isinstance(mod.__all__, list) and mod.__all__
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, missing
