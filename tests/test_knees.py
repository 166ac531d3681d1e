"""The devices' I(V) over the whole supply range (circuitnet.spice.knees): ngspice's sweep of each sky130
synapse device, its separable fit |I_D|(V) = I (1 + sum_p c_p(I) phi_p(V)) on held-out gate biases,
against the parabola of the threshold swing extrapolated there."""
import numpy as np
import pytest

from circuitnet.silicon import Mosfet
from circuitnet.spice.extract import device_table
from circuitnet.spice.knees import full_range_table, relative_changes, separable_fit
from circuitnet.spice.realised import SKY130_GEOMETRY
from circuitnet.spice.technology import Sky130

V_TH, V0 = 0.428, 1.3


@pytest.mark.parametrize("polarity", ["nfet", "pfet"])
def test_three_shared_shapes_hold_the_knees_on_held_out_biases(polarity):
    tech = Sky130()
    mos = Mosfet(getattr(tech, polarity), *SKY130_GEOMETRY["synapse"])
    I, V, r = relative_changes(full_range_table(tech, mos, V_TH, V0), device_table(tech, mos, V_TH, V0).range_for(True))
    assert len(I) > 40 and np.all(np.diff(I) > 0)
    assert np.abs(r[:, np.argmin(np.abs(V - V0))]).max() == 0.0          # through the current at reset
    near_rail = V < 0.1 if polarity == "nfet" else V > 1.7
    assert r[:, near_rail].min() < -0.2                                    # the knee: the current falls off there
    fit, held = np.arange(len(I)) % 2 == 0, np.arange(len(I)) % 2 == 1
    inside = (V >= 0.05) & (V <= 1.75)
    phi, _ = separable_fit(r[fit][:, inside], 3)
    c = np.linalg.lstsq(phi.T, r[held][:, inside].T, rcond=None)[0].T
    err = np.abs(c @ phi - r[held][:, inside])
    assert err.max() < 0.02 and np.sqrt((err ** 2).mean()) < 0.002
    x = V - V0                                   # the swing's parabola through the current at reset, extrapolated
    swing = (V >= V_TH) & (V <= V0)
    A = np.stack([x, x ** 2], 1)
    cp = np.linalg.lstsq(A[swing], r[held][:, swing].T, rcond=None)[0]
    assert np.abs((A @ cp).T - r[held])[:, inside].max() > 10 * err.max()


def test_separable_fit_recovers_a_rank_two_table_and_refuses_a_bad_rank():
    rng = np.random.default_rng(0)
    shapes, weights = rng.normal(size=(2, 30)), rng.normal(size=(12, 2))
    phi, c = separable_fit(weights @ shapes, 2)
    assert np.allclose(c @ phi, weights @ shapes, atol=1e-10)
    with pytest.raises(ValueError, match="k must be in"):
        separable_fit(weights @ shapes, 0)
