"""Device mismatch (circuitnet.variation): declared spreads, seeded draws, and a drawn chip honoured by
every method, checked against circuits re-declared with the drawn values."""
import math

import pytest
import torch

import circuitnet as cn
from circuitnet import variation as V
from circuitnet.solve import spike_times

D = torch.float64


def _circuit(current=0.2, lam=0.01, cap=0.01, offset="5m", noise=False):
    return V.with_uniform_mismatch(cn.circuits.rc_spike(noise=noise), current=current, lam=lam, capacitance=cap,
                                   threshold_offset=offset)


def _layer(seed=0, B=24, J=12, I=6):
    g = torch.Generator().manual_seed(seed)
    t_in = torch.rand(B, J, generator=g, dtype=D)
    t_in[:, 0] = math.inf                                    # an input that never spikes
    t_in[:, 1] = t_in[:, 2]                                  # simultaneous inputs
    w = 0.35 * torch.randn(I, J, generator=g, dtype=D) + 0.05
    return t_in, w


def test_mismatch_declaration_errors_name_the_problem():
    with pytest.raises(ValueError, match="finite relative spread"):
        cn.Mismatch(I=-0.1)
    with pytest.raises(ValueError, match="mismatch of 'I'.*finite"):
        cn.Mismatch(I=float("nan"))
    with pytest.raises(ValueError, match="unknown parameter"):
        cn.NMOS("dis", I="100n", lam="0.1", mismatch=cn.Mismatch(W=0.1))
    with pytest.raises(ValueError, match="threshold_offset"):
        V.with_mismatch(cn.circuits.rc_spike(), threshold_offset=-1e-3)
    bad = V.with_mismatch(cn.circuits.rc_spike(), pos=cn.Mismatch(I=0.1, lam=0.01))
    with pytest.raises(ValueError, match="lambda follows the current"):
        V.draw(bad, 2, 3)
    with pytest.raises(ValueError, match="scale"):
        V.draw(_circuit(), 2, 3, scale=float("nan"))
    with pytest.raises(ValueError, match="no element"):
        V.with_mismatch(cn.circuits.rc_spike(), nope=cn.Mismatch(I=0.1))
    with pytest.raises(ValueError, match="unknown parameter"):
        V.with_mismatch(cn.circuits.rc_spike(), dis=cn.Mismatch(W=0.1))
    with pytest.raises(ValueError, match="must be a circuitnet.Mismatch"):
        V.with_mismatch(cn.circuits.rc_spike(), dis=0.1)


def test_pelgrom_gives_the_log_normal_current_spread():
    """sigma_Vth = A_VT / sqrt(W L) = 12.1 mV for SkyWater's nfet (A_VT 6.05 mV um, W 1 um, L 0.25 um);
    at gm/Id = 26 /V that is sigma(ln I) = 0.3146, sd/mean = sqrt(exp(0.3146^2) - 1) = 32.3 %."""
    m = cn.Mismatch.pelgrom(A_VT=6.05e-9, W="1u", L="0.25u", gm_over_id=26)
    assert m.spreads["I"] == pytest.approx(math.sqrt(math.expm1((26 * 12.1e-3) ** 2)), rel=1e-12)
    assert m.spreads["I"] == pytest.approx(0.3226, abs=1e-4)


def test_draws_have_the_requested_spread_and_are_reproducible():
    c = _circuit(current=0.3, cap=0.02, offset="4m")
    d = V.draw(c, 200, 300, torch.Generator().manual_seed(3))
    for g in (d.gain_pos, d.gain_neg):
        assert (g.std() / g.mean()).item() == pytest.approx(0.3, rel=0.03)
        assert g.median().item() == pytest.approx(1.0, abs=0.01)
    assert (d.factors["Cm_C"].std() / d.factors["Cm_C"].mean()).item() == pytest.approx(0.02, rel=0.15)
    assert d.threshold.std().item() == pytest.approx(4e-3, rel=0.15)
    assert set(d.factors) == {"Cm_C", "dis_I", "dis_lam"}
    again = V.draw(c, 200, 300, torch.Generator().manual_seed(3))
    assert torch.equal(again.gain_pos, d.gain_pos) and torch.equal(again.threshold, d.threshold)
    half = V.draw(c, 200, 300, torch.Generator().manual_seed(3), scale=0.5)
    assert (half.gain_pos.log() / d.gain_pos.log()).allclose(torch.full_like(d.gain_pos, 
        math.sqrt(math.log1p(0.15 ** 2)) / math.sqrt(math.log1p(0.3 ** 2))))
    none = V.draw(c, 4, 5, scale=0.0)
    assert torch.equal(none.gain_pos, torch.ones(4, 5, dtype=D)) and not none.threshold.any()


def _uniform(dev, **kw):
    """A deviation in which every neuron and synapse got the same draw (to compare with a re-declared circuit)."""
    I, J = dev.shape
    return V.LayerDeviation(torch.full((I, J), kw.get("gp", 1.0), dtype=D), torch.full((I, J), kw.get("gn", 1.0), dtype=D),
                            {k: torch.full((I,), kw.get(k, 1.0), dtype=D) for k in dev.factors},
                            torch.full((I,), kw.get("dv", 0.0), dtype=D))


def test_a_deviation_equals_the_circuit_redeclared_with_its_values():
    """Capacitance x1.03, threshold +6 mV, discharger current x0.9 on every neuron, device gains 1.2 / 0.8:
    the same spike times as the nominal circuit re-declared with those values, given the same physical
    currents (a weight is a current in units of I_unit = C |V_th - V0| / T, which the re-declared circuit changes)."""
    c = _circuit()
    t_in, w = _layer()
    dev = _uniform(V.draw(c, *w.shape), gp=1.2, gn=0.8, Cm_C=1.03, dis_I=0.9, dv=6e-3)
    t_chip, _ = spike_times(c, t_in, w, method="exact", deviation=dev)
    nominal = cn.circuits.rc_spike()
    dis = next(e for e in nominal.elements if e.name == "dis")
    re = cn.circuits.rc_spike_cycle(dict(C=140e-15 * 1.03, T=1e-6, V0=1.3, V_th=0.428 + 6e-3), nominal.synapse.positive,
                               nominal.synapse.negative, "discharger", False,
                               dis=cn.NMOS("dis", I=0.9 * dis.values["I"], lam=dis.values["lam"]))
    unit_ratio = (140e-15 * (1.3 - 0.428)) / (140e-15 * 1.03 * (1.3 - 0.428 - 6e-3))
    w_re = torch.where(w >= 0, 1.2 * w, 0.8 * w) * unit_ratio
    t_re, _ = spike_times(re, t_in, w_re, method="exact")
    assert (t_chip - t_re).abs().max().item() < 1e-12
    assert (t_chip - spike_times(c, t_in, w, method="exact")[0]).abs().max().item() > 1e-3


@pytest.mark.parametrize("method", ["dstd", "ode", "torchdiffeq"])
def test_a_fixed_chip_is_the_same_chip_for_every_method(method):
    """Spike times and weight gradients on one drawn chip: exact vs ode and torchdiffeq within 1e-6 (dstd
    at M = 400 within its O(M^-2) error); twice the same call gives identical outputs."""
    c = _circuit()
    t_in, w = _layer(1)
    dev = V.draw(c, *w.shape, torch.Generator().manual_seed(5))
    opts = dict(steps=400) if method == "dstd" else {}
    w1 = w.clone().requires_grad_()
    ref, _ = spike_times(c, t_in, w1, method="exact", deviation=dev)
    g_ref, = torch.autograd.grad(ref.sum(), w1)
    t, fired = spike_times(c, t_in, w1, method=method, deviation=dev, **opts)
    g, = torch.autograd.grad(t.sum(), w1)
    tol = 2e-5 if method == "dstd" else 1e-6
    assert fired.any() and (~fired).any()
    assert (t - ref).abs().max().item() < tol
    assert (g - g_ref).abs().max().item() < 20 * tol
    t2, _ = spike_times(c, t_in, w, method=method, deviation=dev, **opts)
    assert torch.equal(t.detach(), t2)


def test_sde_honours_the_chip():
    """The sde ensemble on a chip (shot and kT/C noise, 200 paths per sample) is centred on the ode on that
    chip, not on the nominal circuit: the chip moves spike times far more than the ensemble mean's error."""
    c = _circuit(noise=True)
    t_in, w = _layer(2, B=6)
    dev = V.draw(c, *w.shape, torch.Generator().manual_seed(2))
    t_ode, f_ode = spike_times(c, t_in, w, method="ode", deviation=dev)
    t_sde, _ = spike_times(c, t_in.repeat(200, 1), w, method="sde", deviation=dev, seed=0)
    t_sde = t_sde.reshape(200, *t_ode.shape)
    both = f_ode & (t_ode < 0.95) & (t_ode > 0.05)
    err = (t_sde.mean(0) - t_ode)[both].abs()
    sem = (t_sde.std(0) / math.sqrt(200))[both]
    assert both.sum() >= 10 and (err < 5 * sem + 1e-4).all()
    shift = (t_ode - spike_times(c, t_in, w, method="ode")[0])[both].abs()
    assert shift.mean() > 20 * sem.mean()


def test_a_deviation_of_the_wrong_shape_or_for_spice_is_refused():
    c = _circuit()
    t_in, w = _layer()
    with pytest.raises(ValueError, match="drawn for a layer of shape"):
        spike_times(c, t_in, w, method="exact", deviation=V.draw(c, 3, 3))
    with pytest.raises(ValueError, match="spice"):
        spike_times(c, t_in, w, method="spice", deviation=V.draw(c, *w.shape))
