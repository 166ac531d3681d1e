"""sky130's mismatch spreads for the paper's devices, and a circuit or network declared at them.

``sky130_spreads()`` measures them once (circuitnet.spice.mismatch, cached); ``at_level`` declares
a circuit's mismatch at a level (a relative current spread, or "sky130"); ``on_circuit`` puts every
spiking layer of a network on a circuit. Used by robustness, chip-budget and the training
experiments' ``--mismatch`` (a fresh chip per mini-batch from the first epoch).
"""
import circuitnet as cn
from circuitnet import variation

COMPARATOR_OFFSET = 5e-3    # V: sd of the comparator offset at sky130's spreads (robustness, chip-budget)


def sky130_spreads(n=400):
    """{element: measured spreads} of the paper's devices in sky130 (spice.mismatch.sky130_mismatch)."""
    from circuitnet.spice import SpiceUnavailable
    from circuitnet.spice.mismatch import sky130_mismatch
    try:
        return sky130_mismatch(cn.spice.realised_rc_spike(4), n=n)
    except SpiceUnavailable as e:
        raise SystemExit(f"the mismatch levels are scaled from sky130's measured spreads, which need "
                         f"ngspice and the device models: {e}") from None


def at_level(circuit, level, sky, threshold_offset):
    """``circuit`` with the spreads of mismatch ``level`` (module docstring) declared."""
    if level == "sky130":
        m = {name: cn.Mismatch(I=s["current_spread"]) for name, s in sky.items()}
        m["dis"] = cn.Mismatch(I=sky["dis"]["current_spread"], lam=sky["dis"]["lam_spread"])
        return variation.with_mismatch(circuit, threshold_offset=threshold_offset, **m)
    r = level / sky["pos"]["current_spread"]
    return variation.with_uniform_mismatch(circuit, current=level, lam=r * sky["dis"]["lam_spread"],
                                           threshold_offset=r * threshold_offset)


def on_circuit(net, circuit):
    for layer in net.spiking_layers:
        layer.circuit = circuit
    return net
