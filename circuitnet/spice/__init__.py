"""SPICE as ground truth: netlists from the declaration, ngspice runs, parameter extraction.

* :class:`Sky130`: the SkyWater 130 nm device models (technology.py).
* :func:`realised_rc_spike`: the paper's neuron in a technology's transistors (realised.py).
* :func:`spice_spike_times`: a layer's spike times from ngspice (simulate.py); also available as
  ``circuitnet.solve.spike_times(circuit, t_in, w, method="spice")``.
* :func:`device_table`: I(Vg), lam(Vg) and drain capacitance of a device, extracted and cached (extract.py).
* :class:`LayerNetlist`: the netlist writer (netlist.py); :func:`run`: the ngspice runner (runner.py).
* :class:`LayerChip`: a drawn chip's devices, kept from one netlist to the next (chip.py); measuring,
  programming and trimming it is circuitnet.chip's (SpiceBench), above this backend.
"""
from .chip import LayerChip
from .extract import DeviceTable, device_table
from .netlist import LayerNetlist
from .realised import realised_rc_spike
from .runner import SpiceError, SpiceUnavailable, run, run_many
from .simulate import spice_spike_times
from .technology import Sky130

__all__ = ["DeviceTable", "LayerChip", "LayerNetlist", "Sky130", "SpiceError", "SpiceUnavailable", "device_table",
           "realised_rc_spike", "run", "run_many", "spice_spike_times"]
