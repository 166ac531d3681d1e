"""The paper's training objectives on spike times (docs/paper.md section 6). Times [B, N], normalised."""
import torch
import torch.nn.functional as F


def spike_cross_entropy(t_out, target, tau_soft=0.07):
    """Cross-entropy of softmax(-t / tau_soft): the earliest output spike is the predicted class."""
    if t_out.dim() != 2:
        raise ValueError(f"t_out must be [batch, classes], got {tuple(t_out.shape)}")
    return F.cross_entropy(-t_out / tau_soft, target)


def temporal_penalty(t, t_ref, gamma):
    """gamma * sum_i (t_i - t_ref)^2, averaged over the batch (keeps spikes near t_ref)."""
    return gamma * ((t - t_ref) ** 2).sum(1).mean()


def early_spike_penalty(times, gamma):
    """gamma_V * sum over layers and neurons of (t - 1)^2, averaged over the batch (Iris circuit:
    early spikes need large currents and are hard for the circuit)."""
    return gamma * sum(((t - 1.0) ** 2).flatten(1).sum(1).mean() for t in times)


def weight_penalty(model, gamma):
    """gamma_W * sum ||W||^2 over every spiking layer's weight (keeps currents small)."""
    return gamma * sum((l.weight ** 2).sum() for l in model.spiking_layers)
