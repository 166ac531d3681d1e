"""paper_repro: a trained MLP entirely in ngspice, layer by layer on SPICE's own spike times
(experiment spice-network): --quick mode, resuming from the kept SPICE runs, the options.

Fixtures in tests/conftest.py, helpers in tests/paper_repro_support.py.
"""
import json
import math

import pytest

from paper_repro.__main__ import main
from paper_repro_support import nominal_run, quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_resumes_from_the_kept_spice_runs(tmp_path, fmnist_dir, capsys):
    nominal = nominal_run(tmp_path, fmnist_dir)          # a width-0.25 MLP 784-100-100-10 (one epoch)
    out = tmp_path / "out"
    args = ("--data", fmnist_dir, *nominal, "--workers", "1")
    res = quick_mode("spice-network", out, *args)
    assert res["images"] == 1 and len(res["per_image"]) == 1
    layers = res["layers"]
    assert [(l["layer"], l["fan_in"], l["neurons"]) for l in layers] == [(1, 784, 100), (2, 100, 100), (3, 100, 10)]
    for l in layers:       # every layer: neurons fire in both, spike times within a few ns, the same neurons fire
        assert l["compared"] > 0 and math.isfinite(l["rmse_ns"]) and l["rmse_ns"] < 3.0, l
        assert abs(l["mean_ns"]) <= l["rmse_ns"] <= l["max_abs_ns"] < 10.0, l
        assert l["firing_agreement"] >= 0.95 and l["spikes_per_image_spice"] > 0, l
    assert layers[0]["against_model_chain"] == {k: layers[0][k] for k in layers[0]["against_model_chain"]}
    image = res["per_image"][0]
    assert image["spikes_spice"] == [round(l["spikes_per_image_spice"]) for l in layers]
    # the realised model's output margin (about 30 ns) is far above the layers' errors (about 1 ns)
    assert image["margin_ns_realised_model"] > 5.0
    assert res["class_agreement"] == 1.0 == res["test_accuracy"]
    assert image["class_spice"] == image["class_realised_model"]
    assert res["accuracy_spice"] == float(image["class_spice"] == image["label"])
    assert not (out / "results_partial.json").exists()

    kept = sorted(p.name for p in (out / "spice").iterdir())
    n = image["test_index"]
    assert kept == [f"image{n}_layer1_chunk0.json", f"image{n}_layer1_chunk1.json", f"image{n}_layer2_chunk0.json",
                    f"image{n}_layer2_chunk1.json", f"image{n}_layer3_chunk0.json"]
    first = json.loads((out / "spice" / kept[0]).read_text())
    assert first["key"]["layer"] == 1 and first["key"]["neurons"] == [0, 50]
    # a neuron SPICE finds silent is passed on as t = 1 (no spike, no input to the next layer)
    assert any(not f for f in first["value"]["fired"])
    assert all(t == 1.0 for t, f in zip(first["value"]["t"], first["value"]["fired"]) if not f)

    capsys.readouterr()
    assert main(["spice-network", "--quick", "--out", str(out), *args]) == 0     # the same command: all kept
    lines = [l for l in capsys.readouterr().out.splitlines() if "chunk" in l]
    assert len(lines) == 5 and all("kept from an earlier run" in l for l in lines)
    again = json.loads((out / "results.json").read_text())
    assert again["layers"] == layers and again["per_image"][0]["class_spice"] == image["class_spice"]

    # a changed layer-2 result changes the inputs of layer 3: its run is redone, nothing before it
    path = out / "spice" / f"image{n}_layer2_chunk0.json"
    saved = json.loads(path.read_text())
    k = min(range(50), key=saved["value"]["t"].__getitem__)            # its earliest spike, 10 ns later
    saved["value"]["t"][k] += 0.01
    path.write_text(json.dumps(saved))
    assert main(["spice-network", "--quick", "--out", str(out), *args]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if "chunk" in l]
    assert ["kept from an earlier run" in l for l in lines] == [True] * 4 + [False]


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "argument --workers: expected an integer >= 1, got '0'"),
    (["--images", "-2"], "argument --images: expected an integer >= 1"),
    (["--epochs", "3"], "spice-network does not take --epochs 3"),
])
def test_invalid_options_are_refused(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["spice-network", *argv, "--out", str(tmp_path / "out")])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_without_a_nominal_run_it_says_what_to_name(tmp_path):
    with pytest.raises(SystemExit, match="name a finished fmnist-mlp run with --nominal DIR"):
        main(["spice-network", "--quick", "--out", str(tmp_path / "out")])
