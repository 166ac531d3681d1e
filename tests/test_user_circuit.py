"""A user's own circuit end to end: what broke or misled when one was declared, trained and put on chips."""
import math
import os

import pytest
import sympy
import torch

import circuitnet as cn
from circuitnet import models
from circuitnet import solve
from circuitnet.compile import compile_circuit
from paper_repro import classify as C
from paper_repro import train as T
from paper_repro.data import Split
from user_circuit import SaturatingNMOS, SaturatingPMOS, saturating

D = torch.float64


class TanhToward(cn.Element):
    """A synapse device whose current vanishes at V_E (a transcendental reversal potential):
    i_in = -I tanh((V - V_E) / V_s) / tanh((V0 - V_E) / V_s)."""
    parameters, weight_parameter = ("I", "V_E", "V_s"), "I"

    def current(self, node):
        return -self.I * sympy.tanh((node.V - self.V_E) / self.V_s) / sympy.tanh((node.V0 - self.V_E) / self.V_s)


def _with_positive(device):
    return cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.CurrentSource("dis", I="-100n")],
                            cn.Synapse(device, SaturatingPMOS("neg", lam="0.75")),
                            [cn.Phase("acc", "1u", synapses=True),
                             cn.Phase("fire", "1u", active=["dis"], comparator=True)],
                            reset_level="1.3", threshold="0.428")


def test_reversal_potentials_of_transcendental_devices_are_numeric_and_bounded():
    """sympy.solve ran for minutes (or grew to 23 GB) on these currents and returned None."""
    c = saturating()
    assert c.e_pos is None and c.e_neg is None                   # not affine in v: no single E
    assert c.reversal("pos") == math.inf and c.reversal("neg") == math.inf   # lam V_s < 1: never reverses
    steep = _with_positive(SaturatingNMOS("pos", lam="4", V_s="1.0"))   # 1 + 4 tanh(x) = 0 at x = atanh(-1/4)
    assert steep.reversal("pos") == pytest.approx(math.atanh(-0.25) / -0.872, rel=1e-12)
    tanh = _with_positive(TanhToward("pos", V_E="-1.14", V_s="0.5"))
    assert tanh.reversal("pos") == pytest.approx((-1.14 - 1.3) / (0.428 - 1.3), rel=1e-12)
    assert tanh.e_pos is None
    paper = cn.circuits.rc_spike()                               # affine devices: exact, as before
    assert paper.e_pos == pytest.approx(2.797, abs=1e-3) and paper.e_neg == pytest.approx(-1.529, abs=1e-3)
    assert paper.reversal("dis") == pytest.approx(6.479, abs=1e-3)


def test_per_phase_affinity_ignores_synapse_shapes_where_synapses_are_off():
    cc = compile_circuit(saturating())
    assert [p.affine for p in cc.phases] == [False, True]        # 'fire' is affine: no synapse conducts there
    why = solve.Exact().unsupported(cc)
    assert "['accumulate']" in why and "'fire'" not in why and "'dstd' (its general path)" in why
    assert "'dstd' need" not in why and solve.DSTD().supports(cc) and solve.DSTD().path(cc) == "general"


def test_describe_says_what_the_declaration_implies():
    text = solve.describe(saturating())
    assert "unit current I_unit" in text and "122.1 nA" in text and "140 fF" in text
    assert "E_pos = none (k(v) = " in text and "not affine in v" in text
    assert "exact: no: method 'exact' needs" in text and "dstd: yes (general path)" in text and "ode: yes" in text
    paper = solve.describe(cn.circuits.rc_spike())
    assert "E_pos = 2.797" in paper and "exact: yes" in paper and "dstd: yes (closed form path)" in paper
    assert repr(saturating()).startswith("NeuronCircuit(5 elements, synapse pos/neg, phases [accumulate, fire]")


def test_input_times_after_the_input_phase_are_refused():
    c = cn.circuits.rc_spike()
    w = torch.full((2, 3), 0.4, dtype=D)
    ok = torch.tensor([[0.0, 1.0, math.inf]], dtype=D)             # the phase end and +inf never arrive
    for method in ("exact", "dstd", "ode"):
        assert torch.isfinite(solve.spike_times(c, ok, w, method=method)[0]).all()
        with pytest.raises(ValueError, match=r"after the input phase ends \(max 1.5 > t_max = 1"):
            solve.spike_times(c, torch.tensor([[0.2, 1.5, 0.3]], dtype=D), w, method=method)
    ttfs = cn.circuits.ttfs(t_max=4.0)                           # TTFS inputs live in [0, 4]
    assert solve.spike_times(ttfs, torch.tensor([[3.5, 4.0, 0.1]], dtype=D), w, method="exact")[0].shape == (1, 2)


def test_eval_leaves_the_last_training_chip():
    c = cn.variation.with_uniform_mismatch(cn.circuits.rc_spike(firing="ideal"), current=0.2)
    torch.manual_seed(0)
    net = models.mlp((6, 5, 3), circuit=c, method="exact", sigma_spike=0.0).double()
    x = torch.rand(8, 6, dtype=D)
    nominal = net.eval()(x)
    models.use_chip(net, models.draw_chip(net, seed=1))
    assert (net(x) - nominal).abs().max() > 1e-3                 # a chip moves these outputs
    models.use_chip(net, None)
    net.train().train_on_chips(1.0)
    net(x)                                                       # a training pass draws a chip
    assert net.spiking_layers[0].deviation is not None
    assert torch.equal(net.eval()(x), nominal)                   # README's snippet: "nominal" is nominal again
    chip = models.draw_chip(net, seed=3)
    models.use_chip(net, chip)                                   # a chip set on purpose stays set
    net.train(False)
    assert net.spiking_layers[0].deviation is chip.deviations[0]


def test_data_dependent_init_makes_a_silent_circuit_fire():
    torch.manual_seed(0)
    net = models.mlp((64, 40, 30, 10), circuit=saturating(), method="dstd", sigma_spike=0.0)
    x, held = torch.rand(256, 64) ** 2, torch.rand(256, 64) ** 2
    before = models.firing_fractions(net, models.encode(x))
    assert max(before[1:]) < 0.1                                 # He init: the deeper layers are nearly silent
    out = models.init_firing_(net, models.encode(x), target=0.5)
    assert out["before"] == before and len(out["offsets"]) == 3
    assert all(abs(f - 0.5) < 0.03 for f in out["after"]), out
    assert all(0.3 < f < 0.7 for f in models.firing_fractions(net, models.encode(held)))   # images it never saw
    assert net.training
    with pytest.raises(ValueError, match="target"):
        models.init_firing_(net, models.encode(x), target=1.0)
    never = models.mlp((64, 5), circuit=cn.circuits.rc_spike(firing="ideal"), method="exact", sigma_spike=0.0)
    with pytest.warns(UserWarning, match="layer 1 cannot reach 50% firing"):
        models.init_firing_(never, torch.full((4, 64), math.inf))    # no input ever arrives: nothing fires


def _split(n=64, d=(1, 8, 8)):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, *d, generator=g) ** 2, torch.randint(0, 10, (n,), generator=g)
    return Split(x, y, x[:16], y[:16])


def test_training_reports_silent_layers_and_initialises_a_users_circuit(capsys, monkeypatch):
    monkeypatch.setattr(C, "load_circuit", lambda spec: saturating())
    cfg = dict(C.CFG, hidden=(20, 20), circuit="user_circuit:saturating", init="he")
    rt = C.Runtime(torch.device("cpu"))
    net = C.build(cfg, (1, 8, 8))
    fractions = C.initialise(net, cfg, _split(), rt, 0, "mine", quiet=False)
    shown = capsys.readouterr().out
    assert min(fractions) < C.SILENT and "warning: layer" in shown and "mostly silent" in shown
    assert "try --init firing" in shown
    cfg["init"] = "firing"
    fractions = C.initialise(net, cfg, _split(), rt, 0, "mine", quiet=False)
    assert all(abs(f - 0.5) < 0.05 for f in fractions) and "warning" not in capsys.readouterr().out
    assert C.evaluation_label(cfg) == "dstd, 40 steps"
    assert C.evaluation_label(dict(C.CFG)) == "exact"


def test_training_logs_inside_an_epoch_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(T, "IN_EPOCH_LOG_S", 0.0)
    monkeypatch.setattr(T, "bars", lambda quiet=False: False)   # a redirected log, not a terminal
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    data = [(torch.rand(4, 3), torch.rand(4, 1)) for _ in range(3)]
    calls = [0]

    def loss_fn(m, x, y):
        calls[0] += 1
        if calls[0] == 5:
            raise KeyboardInterrupt
        return ((m(x) - y) ** 2).mean()

    ckpt = str(tmp_path / "m.pt")
    with pytest.raises(KeyboardInterrupt):
        T.fit(model, lambda: iter(data), loss_fn, 3, 1e-2, ckpt=ckpt, desc="toy")
    out = capsys.readouterr().out
    assert "toy: epoch 1/3: 4 samples, loss so far" in out and "toy: epoch 1/3: 12 samples" in out
    assert f"toy: interrupted; {ckpt} holds the 1 epochs finished so far: run the same command again" in out
    T.fit(model, lambda: iter(data), lambda m, x, y: ((m(x) - y) ** 2).mean(), 3, 1e-2, ckpt=ckpt, desc="toy")
    assert f"toy: resuming from {ckpt} after epoch 1 of 3" in capsys.readouterr().out
    assert T.done_epochs(ckpt) == 3 and os.path.exists(ckpt)


def test_a_weight_parameter_that_the_current_is_not_proportional_to_is_refused_at_once():
    """Checked before sympy.solve, which has no bound on such an equation."""
    class Saturated(cn.Element):
        parameters, weight_parameter = ("I",), "I"

        def current(self, node):
            return -1e-7 * sympy.tanh(self.I * 1e7) * (1 + 0.3 * sympy.tanh(node.V - node.V0))

    with pytest.raises(ValueError, match="'pos': cannot express its I through the weight.*proportional"):
        _with_positive(Saturated("pos"))
