"""Hypothesis-generated edge cases for method "ode" on circuits with |E| from 1 to 1e4: simultaneous
spikes, spikes at the window edges, absent inputs, all-negative and zero weights, silent neurons."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import circuitnet as cn
from circuitnet.solve import spike_times
from closed_form import rc_spike_reference, ttfs_reference

D = torch.float64
times = st.sampled_from([0.0, 0.0, 0.25, 0.5, 0.5, 1.0, float("inf")]) | st.floats(0.0, 1.0)
weights = st.sampled_from([0.0, -0.3, 0.8]) | st.floats(-1.0, 1.5)


@st.composite
def layers(draw):
    B, J, I = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    t = torch.tensor(draw(st.lists(times, min_size=B * J, max_size=B * J)), dtype=D).reshape(B, J)
    w = torch.tensor(draw(st.lists(weights, min_size=I * J, max_size=I * J)), dtype=D).reshape(I, J)
    if draw(st.booleans()):
        w = -w.abs()                                   # all-negative: the neuron never fires early
    e = 10 ** draw(st.floats(0.0, 4.0))                # |E| from 1 to 1e4
    return t, w, e


@settings(max_examples=25, deadline=None)
@given(layers(), st.sampled_from(["rc_spike", "ttfs"]))
def test_ode_matches_closed_form_with_finite_gradients(layer, kind):
    t, w, e = layer
    if kind == "rc_spike":
        circ = cn.circuits.rc_spike(firing="ideal", e_pos=e, e_neg=-e)
        ref = rc_spike_reference(t.numpy(), w.numpy(), circ.e_pos, circ.e_neg)
    else:
        circ = cn.circuits.ttfs(t_max=1.0, e_pos=max(e, 1.05), e_neg=-e)    # E_pos <= 1: never reaches threshold
        ref, _ = ttfs_reference(t.numpy(), w.numpy(), circ.e_pos, circ.e_neg, t_max=1.0)
    t.requires_grad_(), w.requires_grad_()
    out, fired = spike_times(circ, t, w, method="ode", dt=1 / 64)
    assert np.abs(out.detach().numpy() - ref).max() < 1e-6
    gt, gw = torch.autograd.grad(out.sum(), (t, w))
    assert torch.isfinite(gt).all() and torch.isfinite(gw).all()
    assert (out[~fired] == 1.0).all()            # silent neurons report t_max = 1 explicitly
