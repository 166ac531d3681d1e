"""circuitnet: declare an analog neuron circuit once, simulate and train it in PyTorch."""
from . import chip, circuits, shapes, solve, spice, variation
from .neuron import NeuronCircuit, Phase, Synapse
from .nodes import ChargeSynapse, MultiNodeCircuit
from .elements import (NMOS, PMOS, CapacitiveCoupling, Capacitor, Conductance, CurrentSource, DeviceCapacitance, DeviceLeakage, Element,
                       EdgeConduction, FittedNMOS, FittedPMOS, GateCharge, Leak, NMOSQuadratic, NoiseOf, PMOSQuadratic, ResetNoise, Resistive1T1R, ShotNoise,
                       ThermalNoise, Transconductor)
from .silicon import Mismatch, Mosfet
from .units import parse_value

__all__ = ["NMOS", "PMOS", "CapacitiveCoupling", "Capacitor", "ChargeSynapse", "MultiNodeCircuit", "Transconductor", "Conductance", "CurrentSource", "DeviceCapacitance", "DeviceLeakage",
           "EdgeConduction", "Element", "FittedNMOS", "FittedPMOS", "GateCharge", "Leak", "Mismatch", "Mosfet", "NMOSQuadratic", "NeuronCircuit",
           "NoiseOf", "PMOSQuadratic", "Phase", "ResetNoise", "Resistive1T1R", "ShotNoise", "Synapse", "ThermalNoise",
           "chip", "circuits", "parse_value", "shapes", "solve", "spice", "variation"]


def _version():
    """The version written in setup.cfg (its one home): read from setup.cfg in a source checkout
    (editable installs included), else from the installed package's metadata."""
    import configparser
    import pathlib
    from importlib import metadata
    cfg = configparser.ConfigParser()
    cfg.read(pathlib.Path(__file__).resolve().parents[1] / "setup.cfg")
    if cfg.get("metadata", "name", fallback=None) == "circuitnet":
        return cfg.get("metadata", "version")
    try:
        return metadata.version("circuitnet")
    except metadata.PackageNotFoundError:
        return "unknown"


__version__ = _version()
