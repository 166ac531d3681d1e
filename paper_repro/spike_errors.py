"""Spike-time differences between two simulations of the same neurons (a model against ngspice), in
ns: spice-neurons, spice-layer and spice-chips report them."""
import numpy as np


def errors_ns(tm, ts, both, circuit):
    """Spike times ts - tm (ns) of the neurons ``both`` marks: RMSE, mean, max |.| and their number n
    (None and n = 0 where it marks none)."""
    d = ((ts - tm)[both] * circuit.time_unit * 1e9).numpy()
    if d.size == 0:
        return dict(rmse_ns=None, mean_ns=None, max_abs_ns=None, n=0)
    return dict(rmse_ns=float(np.sqrt((d ** 2).mean())), mean_ns=float(d.mean()), max_abs_ns=float(np.abs(d).max()),
                n=int(d.size))


def errors(circuit, t_a, f_a, t_b, f_b):
    """Spike-time differences a - b (ns) where both fire (errors_ns: RMSE, mean, max |.|, None where
    none do), their number and the fraction of neurons whose firing (fired or not) agrees."""
    stats = errors_ns(t_b, t_a, f_a & f_b, circuit)
    return dict(stats, compared=stats.pop("n"), firing_agreement=float((f_a == f_b).double().mean()))
