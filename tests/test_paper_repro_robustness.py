"""paper_repro: mismatched and noisy chips (experiment robustness): --quick mode, the refused starts.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import pytest

from paper_repro.__main__ import main
from paper_repro_support import nominal_run, quick_mode


@pytest.mark.slow
def test_quick_mode_writes_sane_results_and_plots(tmp_path, fmnist_dir):
    nominal = nominal_run(tmp_path, fmnist_dir)          # its nominal network: a finished fmnist-mlp run
    res = quick_mode("robustness", tmp_path, "--data", fmnist_dir, *nominal)
    assert 0.2 < res["sky130"]["pos"]["current_spread"] < 0.4 and res["sky130"]["pos"]["correlation"] < -0.9
    for part in ("iris", "fmnist"):
        assert list(res[part]) == ["0%", "20%", "sky130"]
        assert res[part]["0%"]["aware"] == res[part]["0%"]["nominal"]     # no mismatch: nothing to adapt to
        for level, row in res[part].items():
            for name in ("nominal", "aware"):
                r = row[name]
                assert len(r["accuracies"]) == res["config"]["chips"]
                assert r["min"] <= r["p5"] <= r["mean"] <= r["max"]
            if part == "fmnist" and level != "0%":
                assert len(row["aware_mismatch_free"]["accuracies"]) == 20
    assert res["iris"]["0%"]["nominal"]["std"] == 0.0                     # iris has no spike-time noise
    assert set(res["fmnist_declared_noise"]) == {"nominal_nominal_chip", "nominal_sky130_chips",
                                                 "aware_nominal_chip", "aware_sky130_chips"}


def test_robustness_refuses_a_missing_nominal_run_and_long_finetuning(tmp_path):
    with pytest.raises(SystemExit, match="--nominal DIR, a finished fmnist-mlp run.*main job does not make one"):
        main(["robustness", "--quick", "--out", str(tmp_path / "r")])       # no default run to fall back on
    with pytest.raises(SystemExit, match="no finished fmnist-mlp run"):
        main(["robustness", "--quick", "--out", str(tmp_path / "r"), "--nominal", str(tmp_path / "nothing")])
    with pytest.raises(SystemExit, match="at most 10 epochs"):
        main(["robustness", "--quick", "--out", str(tmp_path / "r"), "--epochs", "11"])
