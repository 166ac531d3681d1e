"""paper_repro: the two-node Yin-Yang network on Monte-Carlo chips (experiment yin-yang-chips): --quick mode."""
import pytest

from paper_repro_support import LIF, quick_mode, run_quick


def test_chips_of_the_two_node_network_programmed_and_trimmed(tmp_path):
    trained = tmp_path / "lif"
    quick_mode("yin-yang", trained, *LIF, "--epochs", "6")
    res = quick_mode("yin-yang-chips", tmp_path / "chips", "--nominal", str(trained))
    assert res["samples"] == 50 and len(res["drawn"]["accuracies"]) == 2
    for k in ("drawn", "trimmed", "programmed_trimmed"):
        assert res[k]["min"] <= res[k]["p5"] <= res[k]["mean"] <= res[k]["max"]
    assert res["config"]["charge"] == 0.1 and res["test_accuracy"] == res["programmed_trimmed"]["mean"]


def test_chips_refuse_a_one_node_run(tmp_path):
    trained = tmp_path / "rc"
    quick_mode("yin-yang", trained)
    with pytest.raises(SystemExit, match="one-node circuit"):
        run_quick("yin-yang-chips", tmp_path / "chips", "--nominal", str(trained))
