"""A compiled circuit's timeline: where its phases lie, where spikes are read, and the comparator rule.

Times are normalised (the circuit's time unit T). The simulated phases follow each other from
tau = 0; ``starts[p]`` is the absolute start of phase p and ``starts[-1]`` the end of the cycle.
Synapses conduct in one phase (``synapse_phase``); the comparator listens during a contiguous run of
phases, the window [starts[first], starts[last + 1]) of length ``t_max``. Every method reports a
spike time from the window's start:

* a neuron whose membrane is already at or above threshold (v >= 1) when the window opens fires at
  its start, t = 0 (the clip; zero gradient);
* otherwise it fires at the first time in the window at which v reaches 1 (a jump of v that carries
  it to 1 or above fires it at the jump's time);
* a neuron that never does reports t_max with fired = False (never NaN).
"""
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timeline:
    durations: tuple         # normalised length of each simulated phase
    synapse_phase: int       # the phase in which synapses conduct
    comparator: tuple        # indices of the phases in which the comparator listens

    def __post_init__(self):
        c = self.comparator
        if not c:
            raise ValueError("the circuit has no comparator phase: nothing would ever fire")
        if tuple(c) != tuple(range(c[0], c[-1] + 1)):
            raise ValueError(f"the comparator phases {list(c)} are not contiguous: the spike window must be one interval")

    @property
    def starts(self):
        """Absolute start of every phase, then the end of the cycle (len = phases + 1)."""
        out = [0.0]
        for d in self.durations:
            out.append(out[-1] + d)
        return tuple(out)

    @property
    def first(self):
        """Index of the first comparator phase (the window opens at its start)."""
        return self.comparator[0]

    @property
    def last(self):
        """Index of the last comparator phase (the window closes at its end)."""
        return self.comparator[-1]

    @property
    def window_start(self):
        return self.starts[self.first]

    @property
    def t_max(self):
        """Length of the comparator window: the reported time of a neuron that never fires."""
        return self.starts[self.last + 1] - self.window_start

    @property
    def synapse_duration(self):
        return self.durations[self.synapse_phase]

    def in_window(self, phase, tau):
        """Spike time (from the window's start) of local time ``tau`` in comparator phase ``phase``."""
        return self.starts[phase] - self.window_start + tau

    def open_window(self, v, t_out, done):
        """The clip rule, applied where the window opens: (t_out, done, clipped) with t_out = 0 and
        done set for every neuron not done yet whose membrane v is already >= 1."""
        clipped = (~done) & (v >= 1)
        return torch.where(clipped, torch.zeros_like(t_out), t_out), done | clipped, clipped

    def jumped(self, phase, tau, v, t_out, done):
        """The rule at a jump of v inside comparator phase ``phase`` at local time ``tau``: (t_out, done)
        with every neuron not done yet that the jump carried to v >= 1 firing there."""
        hit = (~done) & (v >= 1)
        return torch.where(hit, torch.full_like(t_out, self.in_window(phase, tau)), t_out), done | hit

    @staticmethod
    def crossed(v_end, done):
        """Neurons that reach threshold in an interval ending at v_end and had not fired before."""
        return (~done) & (v_end >= 1)

    def report(self, t_out, fired):
        """The reported spike time: t_out where fired, t_max where the neuron never fired."""
        return torch.where(fired, t_out, torch.full_like(t_out, self.t_max))
