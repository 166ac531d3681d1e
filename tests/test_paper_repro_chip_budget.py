"""paper_repro: chips as used (experiment chip-budget): --quick mode, the networks trained for the chip.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

import circuitnet as cn

from paper_repro.__main__ import main
from paper_repro_support import quick_mode, run_quick


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    quick_mode("chip-budget", tmp_path, "--data", fmnist_dir)


@pytest.mark.slow
def test_chip_budget_adds_the_networks_trained_for_the_chip(tmp_path, fmnist_dir):
    """chip-budget --aware: the network trained on chips as drawn gets its point beside the nominal's,
    on the same chips and images; adding it leaves every nominal point's cached result as it was; --aware
    without --nominal scores it alone, the same; a run trained without --mismatch is refused. Iris
    always has both trained networks; their training chips are never test chips."""
    from paper_repro import chip_budget as CB
    nominal, aware, out = tmp_path / "nominal", tmp_path / "aware", tmp_path / "budget"
    run_quick("fmnist-mlp", nominal, "--data", fmnist_dir, "--epochs", "1")
    run_quick("fmnist-mlp", aware, "--data", fmnist_dir, "--epochs", "1", "--mismatch", "sky130")
    first = run_quick("chip-budget", out, "--data", fmnist_dir, "--nominal", str(nominal))
    (iris, fm), (rows, fm_rows) = first["results"], first["results"].values()
    assert {"as drawn, trained on chips", "trims only, trained on trimmed chips"} <= set(rows)
    assert "as drawn, trained on chips" not in fm_rows and "trims only, trained on trimmed chips" in fm_rows
    assert (out / "fmnist_on_trimmed_chips_seed0.pt").exists()          # the MLP fine-tuned on trimmed chips
    cache = {p: p.stat().st_mtime_ns for p in out.glob("chip_budget_fmnist_*.json")}
    again = run_quick("chip-budget", out, "--data", fmnist_dir, "--nominal", str(nominal), "--aware", str(aware))
    fm_rows = again["results"][fm]
    assert set(fm_rows) == set(first["results"][fm]) | {"as drawn, trained on chips"}
    assert all(p.stat().st_mtime_ns == t for p, t in cache.items())          # nominal points reused
    assert len(fm_rows["as drawn, trained on chips"]["accuracies"]) == again["config"]["chips"]
    with pytest.raises(SystemExit, match="--mismatch sky130"):
        main(["chip-budget", "--quick", "--out", str(out), "--nominal", str(nominal), "--aware", str(nominal)])
    alone = run_quick("chip-budget", tmp_path / "alone", "--data", fmnist_dir, "--aware", str(aware))
    assert set(alone["results"][fm]) == {"as drawn, trained on chips"}          # no nominal network, no point of it
    assert alone["results"][fm]["as drawn, trained on chips"] == fm_rows["as drawn, trained on chips"]  # same chips
    assert alone["test_accuracy"] == alone["results"][fm]["as drawn, trained on chips"]["mean"]   # its headline
    cfg = dict(CB.CFG, chips=100, pool=3)
    seen = []
    real = CB.models.draw_chip
    CB.models.draw_chip = lambda net, seed=None, **kw: seen.append(seed) or real(net, seed=seed, **kw)
    circuit = cn.variation.with_uniform_mismatch(cn.circuits.rc_spike(firing="discharger"), current=0.1,
                                                 threshold_offset=0.005)
    try:
        pool = CB.trimmed_pool(CB.models.IrisNet(circuit=circuit, method="exact"), cfg, 2)
    finally:
        CB.models.draw_chip = real
    assert len(pool) == len(seen) == 3 and all(s - 1000003 * 2 >= 100 for s in seen)   # none of the 100 test chips
    with pytest.raises(ValueError, match="no training or validation chip is a test chip"):
        CB.trimmed_pool(CB.models.IrisNet(circuit=circuit, method="exact"), dict(cfg, chips=10 ** 6), 2)


@pytest.mark.slow
def test_chip_budget_chooses_among_aware_runs_on_validation_chips(tmp_path, fmnist_dir):
    """chip-budget --aware A B: each candidate is scored on validation chips (never test chips) and
    validation images; the best mean is the network tested, and every candidate's score is recorded.
    Candidates that do not hold out the nominal run's validation images are refused."""
    from paper_repro import chip_budget as CB
    nominal, a, b, out = (tmp_path / n for n in ("nominal", "a", "b", "budget"))
    run_quick("fmnist-mlp", nominal, "--data", fmnist_dir, "--epochs", "1", "--val", "100")
    for d, g in ((a, "0.5"), (b, "0.02")):
        run_quick("fmnist-mlp", d, "--data", fmnist_dir, "--epochs", "1", "--val", "100", "--mismatch", "sky130",
                  "--gamma1", g)
    seen = []
    real = CB.models.chips.draw_chip                 # what models.monte_carlo draws with
    CB.models.chips.draw_chip = lambda net, seed=None, **kw: seen.append(seed) or real(net, seed=seed, **kw)
    try:
        res = run_quick("chip-budget", out, "--data", fmnist_dir, "--nominal", str(nominal), "--aware", str(a), str(b))
    finally:
        CB.models.chips.draw_chip = real
    info, cfg = res["fmnist_info"], res["config"]
    val = info["aware_validation"]
    assert set(val) == {str(a), str(b)} and all(len(v["accuracies"]) == cfg["val_chips"] for v in val.values())
    assert info["aware_chosen"] == max(val, key=lambda d: val[d]["mean"])
    validation = {s for s in seen if s is not None and CB.VAL_OFFSET <= s < CB.POOL_OFFSET}    # seed 0
    assert validation == set(range(CB.VAL_OFFSET, CB.VAL_OFFSET + cfg["val_chips"]))
    rows = list(res["results"].values())[-1]
    assert len(rows["as drawn, trained on chips"]["accuracies"]) == cfg["chips"]
    run_quick("fmnist-mlp", tmp_path / "noval", "--data", fmnist_dir, "--epochs", "1", "--mismatch", "sky130")
    with pytest.raises(SystemExit, match="validation images"):
        main(["chip-budget", "--quick", "--out", str(out), "--data", fmnist_dir, "--nominal", str(nominal),
              "--aware", str(a), str(tmp_path / "noval")])
