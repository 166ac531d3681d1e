"""Hypothesis-generated edge cases for method "ode" on circuits with |E| from 1 to 1e4: simultaneous
spikes, spikes at the window edges, absent inputs, all-negative and zero weights, silent neurons."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import circuitnet as cn
from circuitnet.solve import spike_times
from closed_form import rc_spike_reference, ttfs_reference
from strategies import edge_layers


@settings(max_examples=25, deadline=None)
@given(edge_layers(), st.sampled_from(["rc_spike", "ttfs"]))
def test_ode_matches_closed_form_with_finite_gradients(layer, kind):
    t, w, e_pos, e_neg, _, _ = layer                   # the paper's circuits have no leak or bias
    if kind == "rc_spike":
        circ = cn.circuits.rc_spike(firing="ideal", e_pos=e_pos, e_neg=e_neg)
        ref = rc_spike_reference(t.numpy(), w.numpy(), circ.e_pos, circ.e_neg)
    else:
        circ = cn.circuits.ttfs(t_max=1.0, e_pos=max(e_pos, 1.05), e_neg=e_neg)   # E_pos <= 1: threshold unreachable
        ref, _ = ttfs_reference(t.numpy(), w.numpy(), circ.e_pos, circ.e_neg, t_max=1.0)
    t.requires_grad_(), w.requires_grad_()
    out, fired = spike_times(circ, t, w, method="ode", dt=1 / 64)
    assert np.abs(out.detach().numpy() - ref).max() < 1e-6
    gt, gw = torch.autograd.grad(out.sum(), (t, w))
    assert torch.isfinite(gt).all() and torch.isfinite(gw).all()
    assert (out[~fired] == 1.0).all()            # silent neurons report t_max = 1 explicitly
