"""Installing circuitnet puts no generic top-level name on a user's path: the networks are
circuitnet.models, so a user's own models.py neither shadows them nor is shadowed."""
import subprocess
import sys


def _run(args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_library_and_experiments_run_from_a_folder_holding_a_models_py(tmp_path):
    (tmp_path / "models.py").write_text("raise ImportError('the user's own models.py was imported')\n")
    r = _run(["-c", "import circuitnet.models as m; import paper_repro.iris; print(m.mlp.__module__)"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "circuitnet.models.networks"
    r = _run(["-m", "paper_repro", "--help"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "iris" in r.stdout


def test_no_top_level_models_package_is_installed(tmp_path):
    r = _run(["-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('models') is not None)"], tmp_path)
    assert r.returncode == 0, "a top-level 'models' is importable outside the repository"
