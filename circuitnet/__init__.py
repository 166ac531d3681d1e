"""circuitnet: declare an analog neuron circuit once, simulate and train it in PyTorch."""
from . import circuits, solve, spice
from .circuit import NeuronCircuit, Phase, Synapse
from .elements import (NMOS, PMOS, CapacitiveCoupling, Capacitor, Conductance, CurrentSource, DeviceCapacitance, Element,
                       FittedNMOS, FittedPMOS, Leak, ResetNoise, Resistive1T1R, ShotNoise, ThermalNoise)
from .silicon import Mosfet
from .units import parse_value
