"""circuitnet: declare an analog neuron circuit once, simulate and train it in PyTorch."""
from . import circuits
from .circuit import NeuronCircuit, Phase, Synapse
from .elements import (NMOS, PMOS, CapacitiveCoupling, Capacitor, Conductance, CurrentSource, Element,
                       Leak, NMOSQuadratic, PMOSQuadratic, ResetNoise, Resistive1T1R, ShotNoise, ThermalNoise)
from .units import parse_value
