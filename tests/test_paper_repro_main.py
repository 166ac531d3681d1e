"""paper_repro: the command line (paper_repro/__main__.py): the experiments it registers, each one's help and
options, the sweeps it names; every experiment has its test file.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import os
import subprocess
import sys

import pytest

from paper_repro.__main__ import EXPERIMENTS, main
from paper_repro_support import EXPECTED, ROOT


def test_the_help_names_as_sweeps_exactly_the_experiments_that_train_many():
    from paper_repro.__main__ import SWEEPS
    many = {n for n in EXPERIMENTS if "train_many(" in open(os.path.join(ROOT, "paper_repro",
                                                                         n.replace("-", "_") + ".py")).read()}
    assert set(SWEEPS) == many


def test_every_experiment_is_tested():
    """EXPECTED names every experiment, and each has its file tests/test_paper_repro_<experiment>.py with
    a test of its --quick mode."""
    assert set(EXPECTED) == set(EXPERIMENTS)
    for name in EXPERIMENTS:
        path = os.path.join(ROOT, "tests", f"test_paper_repro_{name.replace('-', '_')}.py")
        assert os.path.exists(path), path
        with open(path) as f:
            assert f'quick_mode("{name}"' in f.read(), path


def test_each_experiment_has_its_own_help_with_defaults_and_what_quick_shrinks(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")                # argparse wraps help to the terminal's width
    for argv, expected in ((["iris", "--help"], ["--epochs N", "default 600; --quick 100", "epochs=100, seeds=1",
                                                 "SEED+4", "--quiet"]),
                           (["fmnist-mlp", "--help"], ["default 50; --quick 2", "--weight-decay WD", "default 0.0001",
                                                       "width=0.25, epochs=2, train_limit=512"]),
                           (["sweep-m", "--help"], ["--epochs N", "--e-pos"])):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert all(x in out for x in expected), (argv, out)
    main_help = subprocess.run([sys.executable, "-m", "paper_repro", "sweep-m", "--help"], cwd=ROOT,
                               capture_output=True, text=True).stdout
    assert "--steps" not in main_help                  # sweep-m sweeps the steps itself


@pytest.mark.parametrize("argv, message", [
    (["fmnist-mlp", "--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'"),
    (["fmnist-mlp", "--epochs", "-1"], "argument --epochs: expected an integer >= 1"),
    (["fmnist-mlp", "--lr", "nan"], "argument --lr: expected a number > 0"),
    (["fmnist-mlp", "--e-neg", "1.5"], "argument --e-neg: expected a number < 0"),
    (["fmnist-mlp", "--dropout", "1"], r"argument --dropout: expected a probability in \[0, 1\)"),
    (["iris", "--width", "2"], "iris does not take --width 2; its options: .*--epochs"),
    (["demo", "--epochs", "3"], "demo does not take --epochs 3"),
    (["sweep-e", "--e-pos", "3"], "sweep-e does not take --e-pos 3"),
])
def test_invalid_or_unused_options_are_refused_argparse_style(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--quick", "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    import re
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
