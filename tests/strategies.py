"""Hypothesis strategies shared by the tests: layers full of edge cases."""
import math

import torch
from hypothesis import strategies as st

F64 = torch.float64
_times = st.sampled_from([0.0, 0.0, 0.25, 0.25, 0.5, 1.0, 1.0, math.inf, 0.1234, 0.777])
_weights = st.one_of(st.sampled_from([0.0, 0.0, -0.3, 0.3, 1e-9, -1e-9]), st.floats(-2.0, 2.0, allow_subnormal=False))


@st.composite
def edge_layers(draw):
    """(t_in, weight, e_pos, e_neg, leak, bias): ties, spikes at 0 and at the phase end, +inf (a finite
    time after the phase end is refused by spike_times, tests/test_user_circuit.py),
    all-negative and all-zero weights, |E| log-uniform in [1, 1e4], with and without leak/bias."""
    B, N, O = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    t = torch.tensor(draw(st.lists(_times, min_size=B * N, max_size=B * N)), dtype=F64).reshape(B, N)
    w = torch.tensor(draw(st.lists(_weights, min_size=O * N, max_size=O * N)), dtype=F64).reshape(O, N)
    sign = draw(st.sampled_from(["mixed", "negative", "zero"]))
    if sign == "negative":
        w = -w.abs() - 0.01
    elif sign == "zero":
        w = torch.zeros_like(w)
    e_pos, e_neg = 10 ** draw(st.floats(0.0, 4.0)), -(10 ** draw(st.floats(0.0, 4.0)))
    leak, bias = draw(st.sampled_from([(0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (1.0, -0.3)]))
    return t, w, e_pos, e_neg, leak, bias


# DSTD grid: steps M and the offset as a fraction of one step.
grids = st.tuples(st.integers(1, 12), st.sampled_from([0.0, 0.5, 0.999]))
