"""The library's layering, read off its source: no import circle, no import that climbs back up the
layers, a declaration layer that imports nothing above it, no private name imported across modules,
and an __all__ for every public package. Imports inside functions count, and so do package faces:
importing a.b.c runs a/__init__ and a/b/__init__ too, so the importer depends on them."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = {"circuitnet": "circuitnet", "models": "circuitnet.models", "paper_repro": "paper_repro"}  # folder: package
DECLARATION = ("circuitnet.units", "circuitnet.silicon", "circuitnet.elements", "circuitnet.shapes", "circuitnet.neuron",
               "circuitnet.nodes")
ABOVE_DECLARATION = ("circuitnet.compile", "circuitnet.codegen", "circuitnet.variation", "circuitnet.solve", "circuitnet.spice",
                     "circuitnet.circuits", "circuitnet.timeline", "circuitnet.drive", "circuitnet.chip",
                     "circuitnet.models", "paper_repro")
# The layers, bottom up (docs/design.md): a module may import its own layer and those below it.
LAYERS = [("circuitnet.units", "circuitnet.silicon", "circuitnet.elements", "circuitnet.shapes", "circuitnet.neuron",
           "circuitnet.nodes"),
          ("circuitnet.drive", "circuitnet.timeline", "circuitnet.inputs", "circuitnet.codegen", "circuitnet.compile",
           "circuitnet.compile_nodes", "circuitnet.variation", "circuitnet.circuits"),
          ("circuitnet.spice",),
          ("circuitnet.solve",),
          ("circuitnet.chip",),
          ("circuitnet",),                      # the package face: imports the layers above
          ("circuitnet.models",),
          ("paper_repro",)]


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


def _faces(dep):
    """``dep`` and the packages above it, whose __init__ runs first (a.b.c -> a, a.b, a.b.c)."""
    parts = dep.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts) + 1) if ".".join(parts[:k]) in MODULES]


def _graph():
    g = {}
    for name in MODULES:
        deps = set()
        for mod, _ in _imports(name):
            dep = _internal(mod)
            for d in _faces(dep) if dep else ():
                if d != name and not name.startswith(d + "."):   # a package's own __init__ runs before it anyway
                    deps.add(d)
        g[name] = deps
    return g


def _layer(name):
    """Index in LAYERS of the longest prefix of ``name`` listed there."""
    best = None
    for k, layer in enumerate(LAYERS):
        for p in layer:
            if (name == p or name.startswith(p + ".")) and (best is None or len(p) > len(best[1])):
                best = (k, p)
    assert best is not None, f"{name} is in no layer of LAYERS"
    return best[0]


def test_no_import_climbs_back_up_the_layers():
    g = _graph()
    climbing = sorted(f"{n} (layer {_layer(n)}) imports {d} (layer {_layer(d)})"
                      for n in g for d in g[n] if _layer(d) > _layer(n))
    assert not climbing, climbing


def test_the_import_graph_has_no_circle():
    g = _graph()
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for d in sorted(g[n]):
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


@pytest.mark.parametrize("package", ["circuitnet", "circuitnet.solve", "circuitnet.spice", "circuitnet.chip",
                                     "circuitnet.models"])
def test_public_packages_declare_all_and_export_what_they_list(package):
    import importlib
    mod = importlib.import_module(package)
    assert isinstance(mod.__all__, list) and mod.__all__
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, missing


def _private_members(name):
    """Private names a module defines on its classes and objects: methods ``def _x`` and ``self._x = ...``."""
    tree = ast.parse(MODULES[name][0].read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            out |= {b.name for b in node.body if isinstance(b, ast.FunctionDef)}
            out |= {t.id for b in node.body if isinstance(b, ast.Assign) for t in b.targets
                    if isinstance(t, ast.Name) and t.id.startswith("_")}
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self" \
                and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
    return {n for n in out if n.startswith("_") and not n.startswith("__")}


def test_no_module_uses_another_modules_private_member():
    """``obj._x`` on something other than self/cls, where only another module defines _x (e.g. a netlist
    writer's internals called by a bench)."""
    own = {name: _private_members(name) for name in MODULES}
    offenders = []
    for name in MODULES:
        for node in ast.walk(ast.parse(MODULES[name][0].read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls", "ctx"))
                    and node.attr not in own[name]
                    and any(node.attr in members for other, members in own.items() if other != name)):
                offenders.append(f"{name}: .{node.attr}")
    assert not offenders, sorted(set(offenders))
