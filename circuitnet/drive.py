"""The synaptic drive of a layer's neurons: one type for every method.

In a synapse phase the normalised dynamics (circuitnet.neuron) are

    dv/dtau = a(v, tau) + pos k_pos(v) + neg k_neg(v),
    pos = sum_j relu(w_ij) H(tau - t_j) >= 0,   neg = sum_j min(w_ij, 0) H(tau - t_j) <= 0,

with w in units of I_unit (dimensionless). Where the synapse shapes depend on the weight, affine as
k(v; |w|) = 1 - beta(|w|) v (FittedNMOS / FittedPMOS), the sum no longer factors through pos and
neg, and the drive carries two more sums, ``pos_beta`` = sum_j relu(w_ij) beta_pos(|w_ij|) H and
``neg_beta`` = sum_j min(w_ij, 0) beta_neg(|w_ij|) H, so that

    dv/dtau = a + (pos + neg) - v (pos_beta + neg_beta);

beyond the affine part, a shape separable in w and v, k(v; |w|) = 1 - beta(|w|) v + sum_p g_p(|w|) phi_p(v)
(the devices' curvature: phi = v^2, a knee exp(-v / a), any function of v alone), adds one signed sum per
term, ``curves[p]`` = sum_j w_ij g_p,s(|w_ij|) H (s the sign of w_ij), and

    dv/dtau = a + (pos + neg) - v (pos_beta + neg_beta) + sum_p phi_p(v) curves[p].

A Drive holds tensors of any common shape: a layer's drive [B, I], a sample's weight columns
[J, I], a grid of averaged drives [B, K, I]; its arithmetic is field by field.
"""
from typing import NamedTuple, Optional

import torch


class Drive(NamedTuple):
    """The synaptic drive (module docstring): pos, neg and, for weight-dependent shapes, pos_beta,
    neg_beta (None otherwise) and the tuple ``curves`` (one sum per separable term), dimensionless,
    tensors of one common shape."""
    pos: torch.Tensor
    neg: torch.Tensor
    pos_beta: Optional[torch.Tensor] = None
    neg_beta: Optional[torch.Tensor] = None
    curves: tuple = ()

    def map(self, fn, *others):
        """Drive(fn(field, other fields...)) field by field, term by term in ``curves`` (None stays None)."""
        head = (None if x is None else fn(x, *(o[k] for o in others)) for k, x in enumerate(self[:4]))
        return Drive(*head, tuple(fn(x, *(o.curves[p] for o in others)) for p, x in enumerate(self.curves)))

    def __add__(self, other):
        return self.map(torch.add, other)

    def __sub__(self, other):
        return self.map(torch.sub, other)

    def where(self, mask, other):
        """Field by field torch.where(mask, self, other)."""
        return self.map(lambda a, b: torch.where(mask, a, b), other)

    def detach(self):
        return self.map(torch.Tensor.detach)


def synapse_weights(weight, betas=None, curves=()):
    """The drive's weight matrices [I, J]: relu(w), min(w, 0) and, for weight-dependent shapes,
    their products with ``betas`` = (beta_pos(|w|), beta_neg(|w|)) [I, J] and, per separable term,
    relu(w) g_pos(|w|) + min(w, 0) g_neg(|w|) (``curves``: a (g_pos, g_neg) pair [I, J] per term)."""
    pos, neg = weight.clamp(min=0), weight.clamp(max=0)
    if betas is None:
        return Drive(pos, neg)
    return Drive(pos, neg, pos * betas[0], neg * betas[1], tuple(pos * gp + neg * gn for gp, gn in curves))
