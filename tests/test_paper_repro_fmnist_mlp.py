"""paper_repro: the Fashion-MNIST MLP (experiment fmnist-mlp, the shared classification runner): --quick mode, resuming,
torchrun, the training options, --val, --circuit and --mismatch.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import json
import time

import pytest
import torch

import circuitnet as cn

from paper_repro.__main__ import main
from paper_repro_support import launch, quick_mode, run_quick


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    res = quick_mode("fmnist-mlp", tmp_path, "--data", fmnist_dir)
    # default: the circuit's own reversal potentials
    assert res["e_pos"] == pytest.approx(2.80, abs=0.01) and res["e_neg"] == pytest.approx(-1.53, abs=0.01)


@pytest.mark.slow
def test_training_resumes_from_its_checkpoint(tmp_path, fmnist_dir):
    out, fresh = tmp_path / "resumed", tmp_path / "fresh"
    first = run_quick("fmnist-mlp", out, "--data", fmnist_dir, "--epochs", "2")["history"]
    assert [h["epoch"] for h in first] == [1, 2]
    again = run_quick("fmnist-mlp", out, "--data", fmnist_dir, "--epochs", "3")["history"]
    assert [h["epoch"] for h in again] == [1, 2, 3]
    assert again[:2] == first                                   # loaded, not retrained
    # the resumed run is the run that was never interrupted: same data order, offsets, noise, Adam state
    straight = run_quick("fmnist-mlp", fresh, "--data", fmnist_dir, "--epochs", "3")["history"]
    for a, b in zip(again, straight):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6) and a["test_acc"] == pytest.approx(b["test_acc"])
    # a checkpoint written before a configuration key existed resumes: the key had its default then
    meta = out / "model.json"
    old = json.loads(meta.read_text())
    del old["dropout"]
    meta.write_text(json.dumps(old))
    assert run_quick("fmnist-mlp", out, "--data", fmnist_dir, "--epochs", "3")["history"] == again
    # a checkpoint from another configuration is refused with a clear message, not a shape error
    with pytest.raises(SystemExit, match="another configuration"):
        main(["fmnist-mlp", "--quick", "--out", str(out), "--data", fmnist_dir, "--epochs", "3", "--width", "0.5"])


@pytest.mark.slow
def test_wall_time_of_a_resumed_run_counts_the_restored_epochs(tmp_path, fmnist_dir):
    """results.json's wall_time_s = this invocation + the recorded time of the epochs loaded from the
    checkpoint (here made 1000 s long by editing it), not this invocation alone."""
    run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "1")
    state = torch.load(tmp_path / "model.pt", weights_only=False)
    state["history"][0]["train_s"] += 1000.0
    torch.save(state, tmp_path / "model.pt")
    t0 = time.time()
    res = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "2")
    invocation = time.time() - t0
    restored = res["history"][0]["train_s"] + res["history"][0]["eval_s"]
    assert restored > 1000.0
    assert restored <= res["wall_time_s"] <= restored + invocation + 0.01


@pytest.mark.slow
def test_two_processes_train_in_step_shard_the_test_set_and_resume_in_one(tmp_path, fmnist_dir):
    """torchrun with two processes: DistributedDataParallel keeps their weights equal, the sharded
    evaluation counts every test image once (the noise-free accuracy equals one process's on the
    saved weights), and the checkpoint resumes in a single process."""
    from paper_repro import classify as C
    launch(2, ["fmnist-mlp", "--quick", "--epochs", "1", "--out", str(tmp_path), "--data", fmnist_dir])
    res = json.loads((tmp_path / "results.json").read_text())
    cfg = res["config"]
    assert res["world_size"] == 2 and res["test_samples"] == cfg["test_limit"] and len(res["history"]) == 1
    ranks = [torch.load(tmp_path / name, weights_only=False) for name in ("model.pt", "model.pt.rank1")]
    assert ranks[0]["model"].keys() == ranks[1]["model"].keys()
    for k, w in ranks[0]["model"].items():
        assert not k.startswith("module.") and torch.equal(w, ranks[1]["model"][k]), k
    args = type("Args", (), dict(data=fmnist_dir, seed=res["seed"]))()
    data = C.load_data("fashion-mnist", args, cfg)
    net = C.build(dict(cfg, sigma_spike=0.0), tuple(data.x_test.shape[1:]))
    net.load_state_dict(ranks[0]["model"])
    one = C.accuracy(net, cfg, data.x_test, data.y_test, C.Runtime(torch.device("cpu")))
    assert res["test_accuracy_sigma0"] == pytest.approx(one, abs=1e-12)
    again = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "2")
    assert again["world_size"] == 1 and again["history"][0] == res["history"][0] and len(again["history"]) == 2


def test_lr_schedule_dropout_and_augmentation_options_reach_the_config(tmp_path, fmnist_dir):
    from paper_repro.classify import FMNIST_AUGMENT
    res = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "1", "--lr", "3e-4",
                    "--schedule", "cosine", "--augment", "--dropout", "0.2", "--ema", "0.99", "--gamma1", "0.5",
                    "--t-ref", "0.6", "--weight-decay", "0.01")
    assert res["config"]["lr"] == 3e-4 and res["config"]["schedule"] == "cosine" and res["config"]["dropout"] == 0.2
    assert res["config"]["ema"] == 0.99 and res["config"]["gamma1"] == 0.5 and res["config"]["t_ref"] == 0.6
    assert res["config"]["weight_decay"] == 0.01
    assert res["config"]["augment"] == FMNIST_AUGMENT and res["config"]["penalty_on"] == "unclipped"


def test_validation_split_is_held_out_of_training_fixed_by_the_seed_and_reported(tmp_path, fmnist_dir):
    from paper_repro.classify import hold_out
    from paper_repro.data import Split
    x = torch.arange(100.0).reshape(100, 1, 1, 1)
    split = Split(x, torch.arange(100), x[:10], torch.arange(10))
    a, b, c = hold_out(split, 20, seed=3), hold_out(split, 20, seed=3), hold_out(split, 20, seed=4)
    assert torch.equal(a.y_val, b.y_val) and not torch.equal(a.y_val, c.y_val)
    assert len(a.y_val) == 20 and len(a.y_train) == 80
    assert not set(a.y_val.tolist()) & set(a.y_train.tolist())          # disjoint, nothing lost
    assert sorted(a.y_val.tolist() + a.y_train.tolist()) == list(range(100))
    assert torch.equal(a.x_val.flatten().long(), a.y_val) and torch.equal(a.x_test, split.x_test)
    assert hold_out(split, 0) is split
    with pytest.raises(SystemExit, match="leaves no training images"):
        hold_out(split, 100)
    res = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--val", "64")
    assert res["val_samples"] == 64 and res["train_samples"] == 512 - 64 and res["config"]["val"] == 64
    assert all(0 <= h["val_acc"] <= 1 for h in res["history"])
    assert res["val_accuracy"] == res["history"][-1]["val_acc"]
    best = max(res["history"], key=lambda h: h["val_acc"])
    assert res["best_val_epoch"] == best["epoch"] and res["test_accuracy_at_best_val"] == best["test_acc"]
    with pytest.raises(SystemExit, match="another configuration"):     # the checkpoint knows its split
        main(["fmnist-mlp", "--quick", "--out", str(tmp_path), "--data", fmnist_dir, "--val", "32"])


def test_circuit_option_trains_every_layer_on_the_named_circuit(tmp_path, fmnist_dir):
    """--circuit module:function: the circuit's parameters go into results.json and the checkpoint's
    config, resuming with another circuit is refused, a bad name is a clear error; a circuit without a
    closed form is evaluated with dstd on 4 x the training grid."""
    from paper_repro import classify as C
    spec = "circuitnet.circuits:rc_spike_quadratic"
    res = run_quick("fmnist-mlp", tmp_path, "--data", fmnist_dir, "--epochs", "1", "--circuit", spec)
    assert res["config"]["circuit"] == spec and res["config"]["circuit_parameters"]["pos_lam2"] == -0.2
    assert json.loads((tmp_path / "model.json").read_text())["circuit_parameters"]["neg_lam2"] == -0.2
    assert 0.1 < res["test_accuracy"] <= 1.0
    assert res["evaluation"] == "dstd, 40 steps" and res["config"]["init"] == "firing"   # a user's circuit
    from paper_repro.runs import load_run
    loaded, lcfg = load_run(str(tmp_path))                   # the finished run's network, as evaluated
    state = torch.load(tmp_path / "model.pt", weights_only=False)["model"]
    assert lcfg["circuit"] == spec and not loaded.training
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())
    assert all(l.method == cn.solve.DSTD(steps=40) for l in loaded.spiking_layers)
    with pytest.raises(FileNotFoundError, match="no finished run.*python -m paper_repro"):
        load_run(str(tmp_path / "nothing"))
    cfg = dict(C.CFG, circuit=spec)
    assert C.evaluation(cfg) == ("dstd", {"steps": 40}) and C.evaluation(C.CFG) == ("exact", {})
    net = C.build(cfg, (1, 28, 28))
    assert all(l.circuit.synapse.positive.values["lam2"] == -0.2 for l in net.spiking_layers)
    with pytest.raises(SystemExit, match="another configuration"):
        main(["fmnist-mlp", "--quick", "--out", str(tmp_path), "--data", fmnist_dir, "--epochs", "2",
              "--circuit", "circuitnet.circuits:rc_spike"])
    for bad in ("circuitnet.circuits", "circuitnet.circuits:nothing", "circuitnet.circuits:_lam",
                "circuitnet.circuits:PAPER", "circuitnet.circuits:parse_value"):
        with pytest.raises(ValueError, match="--circuit"):
            C.load_circuit(bad)


@pytest.mark.slow
def test_mismatch_trains_on_a_fresh_sky130_chip_per_mini_batch(tmp_path, fmnist_dir):
    """--mismatch sky130: the same seed and data, but every training pass on another chip, so the
    weights learnt differ from the nominal run's; the run's config says so and load_run rebuilds it."""
    from paper_repro.runs import load_run
    a = run_quick("fmnist-mlp", tmp_path / "nominal", "--data", fmnist_dir, "--epochs", "1")
    b = run_quick("fmnist-mlp", tmp_path / "aware", "--data", fmnist_dir, "--epochs", "1", "--mismatch", "sky130")
    assert a["config"]["mismatch"] is None and b["config"]["mismatch"] == "sky130"
    wa = load_run(str(tmp_path / "nominal"))[0].spiking_layers[0].weight
    wb = load_run(str(tmp_path / "aware"))[0].spiking_layers[0].weight
    assert not torch.equal(wa, wb)
    with pytest.raises(SystemExit):
        main(["fmnist-mlp", "--quick", "--mismatch", "tt"])
