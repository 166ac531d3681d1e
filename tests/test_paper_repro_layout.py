"""paper_repro's layout, read off its source with ast: an experiment (a subcommand registered in
paper_repro/__main__.py's EXPERIMENTS) imports shared modules only, never another experiment, and a
shared module imports no experiment; what several experiments use lives in a module of its own."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "paper_repro"


def _registered():
    """The experiment names of the EXPERIMENTS dict literal in paper_repro/__main__.py (read, not imported)."""
    tree = ast.parse((PACKAGE / "__main__.py").read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EXPERIMENTS"
                                                 for t in node.targets)):
            return [ast.literal_eval(k) for k in node.value.keys]
    raise AssertionError("paper_repro/__main__.py defines no EXPERIMENTS dict")


EXPERIMENTS = {name.replace("-", "_") for name in _registered()}      # module names
MODULES = {p.stem for p in PACKAGE.glob("*.py")}
SHARED = sorted(MODULES - EXPERIMENTS - {"__init__", "__main__"})


def _imported(module, package=PACKAGE):
    """The paper_repro modules that ``module`` imports (at any depth: imports inside functions count),
    with the line of each import: relative and absolute imports, ``from . import x`` naming module x."""
    tree = ast.parse((package / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "paper_repro" and len(parts) > 1:
                    yield parts[1], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.level == 0 and node.module and node.module.split(".")[0] == "paper_repro"):
                path = (node.module or "").split(".")
                path = path[1:] if node.level == 0 else path
                if path and path[0]:
                    yield path[0], node.lineno
                else:                                     # from . import x, y
                    for a in node.names:
                        yield a.name, node.lineno


def test_the_registry_and_the_files_agree():
    """Every registered experiment has its module, and the shared modules are the rest."""
    assert EXPERIMENTS and EXPERIMENTS <= MODULES, sorted(EXPERIMENTS - MODULES)
    assert {"common", "train"} <= set(SHARED)


@pytest.mark.parametrize("module", sorted(EXPERIMENTS))
def test_no_experiment_imports_another_experiment(module):
    towers = sorted(f"paper_repro/{module}.py:{line} imports experiment {other}"
                    for other, line in _imported(module) if other in EXPERIMENTS and other != module)
    assert not towers, "move what they share into a shared module: " + "; ".join(towers)


@pytest.mark.parametrize("module", SHARED)
def test_no_shared_module_imports_an_experiment(module):
    towers = sorted(f"paper_repro/{module}.py:{line} imports experiment {other}"
                    for other, line in _imported(module) if other in EXPERIMENTS)
    assert not towers, "a shared module must not depend on an experiment: " + "; ".join(towers)


def test_the_check_sees_every_form_of_import(tmp_path):
    """The reader finds each form of import, inside functions too (so that the tests above can fail)."""
    (tmp_path / "a.py").write_text("from . import iris, common\nfrom .robustness import cached\n"
                                   "import paper_repro.spice_iris\nfrom paper_repro.runs import load_run\n"
                                   "import torch\nfrom torch import nn\n"
                                   "def f():\n    from .chip_budget import CFG\n")
    found = sorted(m for m, _ in _imported("a", tmp_path))
    assert found == ["chip_budget", "common", "iris", "robustness", "runs", "spice_iris"]
