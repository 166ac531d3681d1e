"""README's own element (section "Your own element"), taken from README.md itself so that the tests
and the users' example cannot drift apart, and circuits built from it."""
import pathlib
import re

import circuitnet as cn

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = next(b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "class SaturatingNMOS" in b)
_DEVICES = {}
exec(compile(_BLOCK.split("spread = ")[0], "README.md", "exec"), _DEVICES)
SaturatingNMOS, SaturatingPMOS = _DEVICES["SaturatingNMOS"], _DEVICES["SaturatingPMOS"]


def saturating(leak="20n", discharger="-100n", V_s="1.0"):
    """README's circuit: the saturating devices, a leak to the reset level and an ideal discharger."""
    return cn.NeuronCircuit(
        elements=[cn.Capacitor("Cm", C="140f"), cn.Leak("leak", G=leak, V_to="1.3"),
                  cn.CurrentSource("dis", I=discharger)],
        synapse=cn.Synapse(SaturatingNMOS("pos", lam="0.41", V_s=V_s), SaturatingPMOS("neg", lam="0.75", V_s=V_s)),
        phases=[cn.Phase("accumulate", "1u", active=["leak"], synapses=True),
                cn.Phase("fire", "1u", active=["leak", "dis"], comparator=True)],
        reset_level="1.3", threshold="0.428")
