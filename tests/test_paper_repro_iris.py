"""paper_repro: the Iris circuit (experiment iris): --quick mode, checkpoints and the recorded wall time.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import json

import pytest
import torch

from paper_repro.__main__ import main
from paper_repro_support import quick_mode, run_quick


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path):
    quick_mode("iris", tmp_path)


@pytest.mark.slow
def test_iris_checks_its_checkpoints_and_keeps_the_recorded_wall_time(tmp_path):
    out = tmp_path / "iris"
    first = run_quick("iris", out, "--epochs", "3", "--quiet")
    assert first["config"]["epochs"] == 3
    with pytest.raises(SystemExit, match="holds 3 epochs, more than the 2 asked for"):
        main(["iris", "--quick", "--quiet", "--out", str(out), "--epochs", "2"])
    state = torch.load(out / "pnn_seed0.pt", weights_only=False)
    state["history"][0]["time_s"] += 1000.0
    torch.save(state, out / "pnn_seed0.pt")
    again = run_quick("iris", out, "--epochs", "3", "--quiet")          # everything restored
    assert again["per_seed"] == first["per_seed"]
    assert 1000.0 <= again["wall_time_s"] < 1000.0 + first["wall_time_s"] + 60
    meta = json.loads((out / "ann_seed0.json").read_text())
    meta["gamma_V"] = 0.5
    (out / "ann_seed0.json").write_text(json.dumps(meta))
    with pytest.raises(SystemExit, match="another configuration.*gamma_V"):
        main(["iris", "--quick", "--quiet", "--out", str(out), "--epochs", "4"])
