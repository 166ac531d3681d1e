"""paper_repro: the seed summary (python -m paper_repro.summary): mean and spread over seeds.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import json
import math

import numpy as np
import pytest




def write_run(root, name, seed, acc, config=None, experiment="fmnist-mlp"):
    d = root / name
    d.mkdir()
    res = dict(experiment=experiment, seed=seed, config=config or dict(lr=2e-4, weight_decay=0.3),
               wall_time_s=10.0 + seed, test_accuracy=acc, epochs=50, converged=True,
               history=[dict(test_acc=acc)])
    (d / "results.json").write_text(json.dumps(res))
    return str(d)


def test_summary_is_the_mean_and_sample_spread_over_seeds(tmp_path, capsys):
    from paper_repro import summary
    accs = [0.9059, 0.9021, 0.9077]
    dirs = [write_run(tmp_path, f"s{i}", i, a) for i, a in enumerate(accs)]
    stats = summary.main(dirs)
    assert set(stats) == {"test_accuracy", "wall_time_s", "epochs"}   # numbers only, not the seed or a flag
    s = stats["test_accuracy"]
    assert s["n"] == 3 and s["min"] == min(accs) and s["max"] == max(accs)
    assert s["mean"] == pytest.approx(np.mean(accs)) and s["std"] == pytest.approx(np.std(accs, ddof=1))
    printed = capsys.readouterr().out
    assert f"{100 * np.mean(accs):.2f} +- {100 * np.std(accs, ddof=1):.2f} %" in printed
    assert "the same in every run: epochs 50" in printed and "epochs  " not in printed
    assert math.isnan(summary.main(dirs[:1])["test_accuracy"]["std"])


def test_summary_refuses_runs_that_are_not_seeds_of_one_configuration(tmp_path):
    from paper_repro import summary
    a = write_run(tmp_path, "a", 0, 0.9)
    with pytest.raises(SystemExit, match="weight_decay"):
        summary.main([a, write_run(tmp_path, "b", 1, 0.9, config=dict(lr=2e-4, weight_decay=0.1))])
    with pytest.raises(SystemExit, match="both seed 0"):
        summary.main([a, write_run(tmp_path, "c", 0, 0.9)])
    with pytest.raises(SystemExit, match="noise run"):
        summary.main([a, write_run(tmp_path, "d", 1, 0.9, experiment="noise")])
    with pytest.raises(SystemExit, match="nowhere/results.json does not exist"):
        summary.main([a, str(tmp_path / "nowhere")])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text('{"experiment": "fmnist-mlp", "se')
    with pytest.raises(SystemExit, match="broken/results.json is not valid JSON"):
        summary.main([a, str(broken)])
    (broken / "results.json").write_text('[0.9]')
    with pytest.raises(SystemExit, match="broken/results.json is not a run's results"):
        summary.main([a, str(broken)])


def test_summary_enters_objects_so_that_a_noise_sweep_averages_per_sigma(tmp_path, capsys):
    """noise reports its accuracies per sigma in objects (accuracy, cross): the summary averages each
    path over the seeds, prints cross entries as accuracies, and leaves lists (histories) out."""
    from paper_repro import summary

    def noise_run(seed, a0, a4):
        d = tmp_path / f"noise{seed}"
        d.mkdir()
        res = dict(experiment="noise", seed=seed, config=dict(sigmas=[0.0, 0.04]), test_accuracy=a0,
                   accuracy={"0": a0, "0.04": a4}, cross={"0": {"0": a0, "0.04": a4 - 0.004}},
                   history={"sigma0": [dict(test_acc=a0)]}, time_per_epoch_s={"sigma0": 70.0 + seed})
        (d / "results.json").write_text(json.dumps(res))
        return str(d)

    runs = [(0.9063, 0.8970), (0.9071, 0.8990), (0.9050, 0.8981)]
    stats = summary.main([noise_run(i, *r) for i, r in enumerate(runs)])
    assert set(stats) == {"test_accuracy", "accuracy/0", "accuracy/0.04", "cross/0/0", "cross/0/0.04",
                          "time_per_epoch_s/sigma0"}
    a4 = [r[1] for r in runs]
    assert stats["accuracy/0.04"]["mean"] == pytest.approx(np.mean(a4))
    assert stats["accuracy/0.04"]["std"] == pytest.approx(np.std(a4, ddof=1))
    assert stats["cross/0/0.04"]["min"] == pytest.approx(min(a4) - 0.004)
    printed = capsys.readouterr().out
    assert "cross/0/0.04 " in printed and f"{100 * (np.mean(a4) - 0.004):.2f} +- " in printed
    assert "time_per_epoch_s/sigma0    71 +- 1 (min 70, max 72, n = 3)" in printed


def test_summary_counts_every_seed_of_a_run_that_trained_several(tmp_path, capsys):
    """iris trains its five seeds in one run (per_seed rows): the summary is over the five, and two
    such runs at --seed 0 and --seed 5 combine into ten; overlapping seeds are refused."""
    from paper_repro import summary

    def iris_run(name, seeds, accs):
        d = tmp_path / name
        d.mkdir()
        rows = [dict(seed=s, pnn_circuit_acc=a, ann_scales=[1.0, 1.1]) for s, a in zip(seeds, accs)]
        res = dict(experiment="iris", seed=seeds[0], config=dict(epochs=600, seeds=seeds), per_seed=rows,
                   wall_time_s=200.0, test_accuracy=float(np.mean(accs)))
        (d / "results.json").write_text(json.dumps(res))
        return str(d)

    accs = [1.0, 0.9778, 0.9778, 1.0, 0.9778]
    stats = summary.main([iris_run("a", [0, 1, 2, 3, 4], accs)])
    assert stats["pnn_circuit_acc"]["n"] == 5
    assert stats["pnn_circuit_acc"]["std"] == pytest.approx(np.std(accs, ddof=1))
    assert "seeds [0, 1, 2, 3, 4]" in capsys.readouterr().out
    both = summary.main([str(tmp_path / "a"), iris_run("b", [5, 6, 7, 8, 9], accs[::-1])])
    assert both["pnn_circuit_acc"]["n"] == 10
    with pytest.raises(SystemExit, match="both seed 4"):
        summary.main([str(tmp_path / "a"), iris_run("c", [4, 5, 6, 7, 8], accs)])
