"""Bringing a chip up: its weights programmed, its neurons trimmed, each step measured on a bench.

* :class:`WeightProgrammer` (programming.py): program-and-verify of the synapse devices through a
  gate DAC; ``program(deviation)`` on the model's chip, :func:`program_spice` on a sky130 chip.
* :class:`Trim`, :func:`calibrate` (calibration.py): per-neuron trims chosen from spike times alone,
  by one coarse-to-fine search over the trim codes, on any bench.
* The benches: :class:`ModelBench` (model_bench.py), a chip of the model (a
  circuitnet.variation.LayerDeviation) measured by a solve method; :class:`SpiceBench`
  (spice_bench.py), a drawn sky130 chip (circuitnet.spice.LayerChip) measured in ngspice, with
  :func:`device_currents` (its current measurement) and :func:`spice_deviation` (its model).

This package sits above circuitnet.solve and circuitnet.spice: it uses both, neither uses it.
"""
from .calibration import Trim, calibrate
from .model_bench import ModelBench, trimmed
from .programming import WeightProgrammer
from .spice_bench import SpiceBench, device_currents
from .spice_bench import deviation as spice_deviation
from .spice_bench import program as program_spice

__all__ = ["ModelBench", "SpiceBench", "Trim", "WeightProgrammer", "calibrate", "device_currents", "program_spice",
           "spice_deviation", "trimmed"]
