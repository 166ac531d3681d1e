"""A drawn sky130 chip in ngspice (circuitnet.spice.LayerChip, circuitnet.chip's SpiceBench): its devices keep
their draws across netlists, programming and calibration act on them, and the model of the chip
predicts what ngspice does on it."""
import math

import numpy as np
import pytest
import torch

import circuitnet as cn
from circuitnet.chip import SpiceBench, Trim, WeightProgrammer, calibrate, device_currents, program_spice, spice_deviation
from circuitnet.solve import Spice, spike_times
from circuitnet.spice import LayerChip
from paper_repro.spice_neurons import errors_ns, random_neurons


def nominal_chip(out, n_in, offset=None):
    chip = LayerChip.nominal(out, n_in, ("dis",))
    return chip if offset is None else chip.replace(offset=offset)


def test_a_chip_is_checked_reproducible_and_sliced():
    c = cn.spice.realised_rc_spike(3)
    a, b = LayerChip.draw(c, 4, 3, seed=(5, 1), threshold_offset="5m"), LayerChip.draw(c, 4, 3, seed=(5, 1), threshold_offset="5m")
    assert np.array_equal(a.z_pos, b.z_pos) and np.array_equal(a.offset, b.offset) and list(a.z_neuron) == ["dis"]
    assert not np.array_equal(a.z_pos, LayerChip.draw(c, 4, 3, seed=(5, 2)).z_pos)
    assert 1e-3 < a.offset.std() < 2e-2                           # V, sd 5 mV
    r = a.rows([2, 0])
    assert np.array_equal(r.z_neg, a.z_neg[[2, 0]]) and r.shape == (2, 3)
    with pytest.raises(ValueError, match="same shape"):
        LayerChip(np.zeros((2, 3)), np.zeros((2, 2)), {}, np.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        a.replace(gate_pos=np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="offset must have shape"):
        LayerChip(np.zeros((2, 3)), np.zeros((2, 3)), {}, np.zeros(3))
    with pytest.raises(ValueError, match="> 0"):
        a.replace(factor={"dis": np.zeros(4)})
    with pytest.raises(ValueError, match="LayerChip or None"):
        Spice(chip="chip 3")
    with pytest.raises(ValueError, match="drawn for a layer of shape"):
        spike_times(c, torch.zeros(1, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64) * 0.3,
                    method=Spice(chip=a))
    with pytest.raises(ValueError, match="without random mismatch"):
        spike_times(c, torch.zeros(1, 3, dtype=torch.float64), torch.ones(4, 3, dtype=torch.float64) * 0.3,
                    method=Spice(chip=a, technology=cn.spice.Sky130(mismatch=True, seed=1)))


def test_the_draw_z_is_skywaters_mismatch_and_a_nominal_chip_is_the_nominal_circuit():
    """z = +-1 moves a synapse device's current by about one sd of the spread SkyWater's own
    Monte-Carlo gives it (measured from 400 ngspice instances); z = 0 everywhere simulates exactly the
    nominal netlist."""
    from circuitnet.spice.mismatch import sky130_mismatch
    c = cn.spice.realised_rc_spike(4)
    w = torch.tensor([[0.3, -0.3, 0.3, -0.3]], dtype=torch.float64)
    spread = sky130_mismatch(c)
    for z in (1.0, -1.0):
        chip = nominal_chip(1, 4).replace(z_pos=np.full((1, 4), z), z_neg=np.full((1, 4), z))
        I, target = device_currents(c, chip, w)[:2]
        I0 = device_currents(c, nominal_chip(1, 4), w)[0]
        for k, name in ((0, "pos"), (1, "neg")):
            sigma = math.sqrt(math.log1p(spread[name]["current_spread"] ** 2))
            assert abs(abs(math.log(I[0, k] / I0[0, k])) - sigma) < 0.2 * sigma
        assert (I[0, 0] < I0[0, 0]) == (z > 0)                    # a higher nfet threshold: less current
    t, w = random_neurons(4, 2, 2, seed=3)
    a = spike_times(c, t, w, method=Spice(chip=nominal_chip(2, 4)))[0]
    b = spike_times(c, t, w, method="spice")[0]
    assert torch.allclose(a, b, atol=1e-6)


def test_programming_a_chip_leaves_the_dacs_residual_and_the_model_of_the_chip_predicts_spice():
    """Program-and-verify on ngspice currents: every device within the DAC's reach ends within half a
    step (plus the measurement noise) of its target; no iteration leaves the chip as drawn. The
    chip's model (its measured deviation, method exact) against ngspice on the same chip."""
    c = cn.spice.realised_rc_spike(5)
    t, w = random_neurons(5, 3, 3, seed=8)
    chip = LayerChip.draw(c, 3, 5, seed=4, threshold_offset="5m")
    prog = WeightProgrammer(bits=8, dac_range=0.12, gm_over_id=(23.5, 15.7), measurement_noise=0.01, iterations=3)
    done = program_spice(c, chip, w, prog, torch.Generator().manual_seed(0))
    drawn = spice_deviation(c, chip, w)
    ready = spice_deviation(c, done, w)
    g0 = torch.where(w > 0, drawn.gain_pos, drawn.gain_neg).log().abs()
    g = torch.where(w > 0, ready.gain_pos, ready.gain_neg).log().abs()
    assert g0.max() > 0.15                                           # drawn: tens of percent
    assert g.max() < prog.step(1) / 2 + 0.04                         # programmed: a half step plus noise
    assert np.abs(done.gate_pos[w.numpy() <= 0]).max() == 0          # only selected devices are programmed
    assert np.abs(done.gate_pos).max() > 0 and np.abs(done.gate_neg).max() > 0
    same = program_spice(c, chip, w, WeightProgrammer(iterations=0))
    assert np.array_equal(same.gate_pos, chip.gate_pos)
    ts, fs = spike_times(c, t, w, method=Spice(chip=done))
    tm, fm = spike_times(c, t, w, method="exact", deviation=ready)
    err = errors_ns(tm, ts, fs & fm, c)
    assert err["rmse_ns"] < 1.5 and (fs == fm).all()
    with pytest.raises(ValueError, match="WeightProgrammer"):
        program_spice(c, chip, w, "8 bits")


def test_calibration_on_a_spice_chip_recovers_a_known_offset_and_discharger_gain():
    """A chip whose only deviations are a comparator offset and its discharger's threshold draw: the
    trims found from ngspice spike times undo the offset to within a step and move the discharger
    against its draw."""
    c = cn.spice.realised_rc_spike(2)
    offset = np.array([0.012, -0.008, 0.0])
    z_dis = np.array([0.0, 1.5, -1.5])
    chip = nominal_chip(3, 2, offset).replace(z_neuron={"dis": z_dis})
    trims = [Trim("V_th", bits=6, span="60m"), Trim("dis_I", bits=6, span=0.8)]
    done, codes = calibrate(SpiceBench(c, chip), trims)
    step = 0.06 / 64
    assert abs(done.trim[0] + offset[0]) <= 1.5 * step
    assert codes[1, 1] > 0 > codes[2, 1]          # a weaker discharger (higher threshold) trimmed up
    assert codes[0, 1] == pytest.approx(0, abs=2)
    with pytest.raises(ValueError, match="not the current of a realised neuron device"):
        calibrate(SpiceBench(c, chip), [Trim("C", bits=4, span=0.2)])
    with pytest.raises(ValueError, match="two trims on the same target"):
        calibrate(SpiceBench(c, chip), [Trim("V_th"), Trim("V_th")])
    with pytest.raises(ValueError, match="at most one comparator trim"):
        calibrate(SpiceBench(c, chip), [Trim("V_th"), Trim("dis_I", span=0.8), Trim("dis_lam", span=0.1)])
    with pytest.raises(ValueError, match="references must be weights > 0"):
        calibrate(SpiceBench(c, chip), trims, references=(0.5, float("nan")))
    with pytest.raises(ValueError, match="LayerChip"):
        calibrate(SpiceBench(c, offset), trims)
