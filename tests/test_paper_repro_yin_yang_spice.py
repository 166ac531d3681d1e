"""paper_repro: Yin-Yang on the two-node LIF circuit (yin-yang --circuit ...lif_current_synapse), and its
output layer in ngspice (experiment yin-yang-spice): --quick mode."""
import pytest
import torch

from paper_repro_support import LIF, quick_mode, run_quick



def test_the_two_node_circuit_trains_and_its_output_layer_runs_in_spice(tmp_path):
    trained = tmp_path / "lif"
    res = quick_mode("yin-yang", trained, *LIF)
    assert res["config"]["circuit"] == "circuitnet.circuits:lif_current_synapse" and "e_pos" not in res
    assert res["evaluation"] == "exact" and all(h["loss"] < 10 for h in res["history"])    # trained by its closed form
    # two small epochs leave the output layer silent on the test set; raise its weights so that its
    # neurons fire at different times and SPICE has spike times and classes to agree on
    state = torch.load(trained / "model.pt", weights_only=False)
    g = torch.Generator().manual_seed(0)
    w = state["model"]["layers.1.weight"]
    state["model"]["layers.1.weight"] = w + 0.15 + 0.1 * torch.randn(w.shape, generator=g, dtype=w.dtype)
    torch.save(state, trained / "model.pt")
    out = quick_mode("yin-yang-spice", tmp_path / "spice", "--nominal", str(trained))["output_layer"]
    assert out["samples"] == 20 and out["fan_in"] == 120 and out["class_agreement"] == 1.0
    assert out["compared"] >= 30 and out["firing_agreement"] == 1.0
    assert out["rmse_ns"] < 0.05 and out["max_abs_ns"] < 0.1
    assert out["accuracy_spice"] == out["accuracy_model"]


def test_bumping_needs_training_without_the_penalty(tmp_path):
    with pytest.raises(ValueError, match="--gamma1 0"):
        run_quick("yin-yang", tmp_path, "--circuit", "circuitnet.circuits:lif_current_synapse", "--bump", "0.005")


def test_a_several_node_circuit_trains_by_its_closed_form():
    from circuitnet import solve
    from paper_repro.classify_config import CFG
    from paper_repro.classify_net import training_method
    lif = dict(CFG, circuit="circuitnet.circuits:lif_current_synapse")
    assert isinstance(training_method(lif), solve.Exact)        # not DSTD's spread charge (first order in 1 / steps)
    assert isinstance(training_method(dict(CFG)), solve.DSTD)    # the paper's circuit: the paper's DSTD
