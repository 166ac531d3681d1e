"""paper_repro: the training loop (paper_repro/train.py): schedule, weight average, weight decay, progress, claims.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import math

import numpy as np
import pytest
import torch




def test_a_claim_is_exclusive_and_ends_with_its_block(tmp_path):
    from paper_repro.train import claim
    path = str(tmp_path / "setting")
    with claim(path) as first:
        with claim(path) as second:                  # flock: a second open file description conflicts
            assert first and not second
    with claim(path) as again:
        assert again


def test_cosine_schedule_sets_adams_step_per_epoch(tmp_path):
    """With loss = p (constant gradient) Adam moves p by its learning rate per step, so the step of
    each epoch reads back the schedule: lr (1 + cos(pi e / E)) / 2 for "cosine", lr for "constant"."""
    from paper_repro.train import epoch_lr, fit
    assert epoch_lr(1e-3, 0, 4, "cosine") == pytest.approx(1e-3)
    assert epoch_lr(1e-3, 2, 4, "cosine") == pytest.approx(5e-4)
    assert epoch_lr(1e-3, 3, 4, "constant") == 1e-3
    with pytest.raises(ValueError, match="schedule"):
        epoch_lr(1e-3, 0, 4, "linear")
    for schedule in ("constant", "cosine"):
        p = torch.nn.Parameter(torch.zeros(()))
        model = torch.nn.Module()
        model.p = p
        seen = []
        fit(model, lambda: iter([(torch.zeros(1),)]), lambda m, _: m.p * 1.0, 4, 1e-2, quiet=True, schedule=schedule,
            evaluate=lambda m: seen.append(m.p.item()) or {})
        steps = -np.diff([0.0] + seen)
        want = [epoch_lr(1e-2, e, 4, schedule) for e in range(4)]
        assert np.allclose(steps, want, rtol=1e-3), (schedule, steps, want)


def _scalar_fit(ema, epochs=3, ckpt=None, batches=5):
    """fit on loss = (p - 1 - x)^2 with a random x per step, so that Adam's steps vary; returns (raw
    weight before every optimiser step, the weight evaluate() saw after every epoch, the final weight)."""
    from paper_repro.train import fit
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.p = torch.nn.Parameter(torch.tensor(3.0, dtype=torch.float64))
    raw, seen = [], []

    def loss_fn(m, x):
        raw.append(m.p.item())                      # the weight before this step = after the previous one
        return ((m.p - 1.0 - x) ** 2).sum()

    def evaluate(m):
        seen.append(m.p.item())
        return {}

    fit(model, lambda: iter([(torch.randn(1, dtype=torch.float64),) for _ in range(batches)]), loss_fn, epochs,
        0.3, ckpt=ckpt, quiet=True, ema=ema, evaluate=evaluate)
    return raw, seen, model.p.item()


def test_weight_average_is_the_exponential_moving_average_of_the_raw_steps(tmp_path):
    """With ema = d the raw trajectory is the one without averaging; evaluate() and the returned model
    hold a_n = d_n a_{n-1} + (1 - d_n) w_n, a_0 = w_0, d_n = min(d, (1 + n) / (10 + n))."""
    from paper_repro.train import ema_decay
    raw0, seen0, final0 = _scalar_fit(0.0)
    with_ema = _scalar_fit(0.9)
    raw, seen, final = with_ema
    w = raw0[1:] + [final0]                         # raw weight after step n = 1..15
    assert raw == raw0 and seen0[-1] == final0
    a, want = raw0[0], []
    for n, wn in enumerate(w, start=1):
        d = ema_decay(0.9, n)
        a = d * a + (1 - d) * wn
        want.append(a)
    assert np.allclose(seen, want[4::5], rtol=0, atol=1e-12) and final == pytest.approx(want[-1], abs=1e-12)
    assert abs(final - final0) > 1e-3                # the average is not the last raw weight
    assert ema_decay(0.999, 1) == pytest.approx(2 / 11) and ema_decay(0.999, 10 ** 6) == 0.999
    # an interrupted run resumes its average: 2 epochs, then 3 from the checkpoint == 3 at once
    ckpt = str(tmp_path / "m.pt")
    _scalar_fit(0.9, epochs=2, ckpt=ckpt)
    assert _scalar_fit(0.9, epochs=3, ckpt=ckpt)[2] == final
    # a checkpoint resumes only with the averaging it was written with
    with pytest.raises(ValueError, match="written with weight averaging"):
        _scalar_fit(0.0, epochs=4, ckpt=ckpt)
    plain = str(tmp_path / "plain.pt")
    _scalar_fit(0.0, epochs=1, ckpt=plain)
    with pytest.raises(ValueError, match="written without weight averaging"):
        _scalar_fit(0.9, epochs=2, ckpt=plain)
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="ema decay must be in"):
            _scalar_fit(bad)


def test_weight_decay_shrinks_every_weight_by_one_minus_lr_times_decay_per_step():
    """Decoupled (AdamW) decay: with a loss of zero gradient Adam's own step is 0, so after the steps of
    epochs e = 0..E-1 (b steps each, cosine rates lr_e) w = w_0 prod_e (1 - lr_e wd)^b; wd = 0 leaves w_0."""
    from paper_repro.train import epoch_lr, fit
    for wd in (0.0, 0.5):
        model = torch.nn.Module()
        model.p = torch.nn.Parameter(torch.tensor(3.0, dtype=torch.float64))
        fit(model, lambda: iter([(torch.zeros(1),)] * 5), lambda m, _: 0.0 * m.p, 3, 0.3, quiet=True, schedule="cosine",
            weight_decay=wd)
        want = 3.0 * math.prod((1 - epoch_lr(0.3, e, 3, "cosine") * wd) ** 5 for e in range(3))
        assert model.p.item() == pytest.approx(want, rel=1e-12)
    assert want < 1.0
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="weight decay must be"):
            fit(model, lambda: iter([]), lambda m, _: 0.0 * m.p, 1, 0.3, quiet=True, weight_decay=bad)


def test_progress_is_lines_without_a_terminal_and_nothing_when_quiet(capsys, monkeypatch):
    from paper_repro import train
    fit = train.fit
    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    loss = lambda m, a, b: ((m(a) - b) ** 2).mean()
    fit(model, lambda: iter([(x, y)]), loss, 4, 1e-2, evaluate=lambda m: dict(test_acc=0.5), desc="toy")
    out, err = capsys.readouterr()
    lines = out.splitlines()          # fast epochs: the first and the last (at most one line every 10 s)
    assert len(lines) == 2 and lines[0].startswith("toy: epoch 1/4 loss=") and "test_acc=0.5" in lines[0]
    assert lines[1].startswith("toy: epoch 4/4")
    assert "\r" not in out + err and "it/s" not in err                  # no bar redraws in a log
    monkeypatch.setattr(train, "LOG_EVERY_S", 0.0)
    fit(model, lambda: iter([(x, y)]), loss, 4, 1e-2, desc="toy")
    assert [l.split(" loss")[0] for l in capsys.readouterr().out.splitlines()] == [f"toy: epoch {e}/4" for e in range(1, 5)]
    fit(model, lambda: iter([(x, y)]), loss, 4, 1e-2, desc="toy", quiet=True)
    assert capsys.readouterr() == ("", "")
