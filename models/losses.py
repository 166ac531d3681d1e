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


def silence_penalty(us, t_max, gamma):
    """gamma * sum over the given layers of the mean over (sample, neuron) of (u - t_max)+, where u are
    a layer's unclipped times (SpikeNet.forward(..., unclipped="all")). For the two-node LIF neuron by
    its closed form a silent neuron reports u = t_max + 1 - V_peak, so the term is

        gamma * sum_layers mean_{b,i} (V_th - V_peak,bi)+ / (V_th - V_rest)

    (V_peak: the membrane's highest value in the window): a neuron that stayed below threshold is
    pulled up by its distance from it, and one that fires costs nothing. ``t_max``: one number, or
    one per layer."""
    t_max = t_max if isinstance(t_max, (list, tuple)) else [t_max] * len(us)
    return gamma * sum((u - m).clamp(min=0.0).mean() for u, m in zip(us, t_max))


def label_time_penalty(t_out, target, alpha, beta=1.0):
    """fastAndDeep's regulariser (Goeltz et al. 2021): alpha * (exp(t_label / beta) - 1), averaged over the
    batch; it pulls the correct output's spike early (and, on unclipped times, a silent one up)."""
    t = t_out.gather(1, target[:, None]).squeeze(1)
    return alpha * (torch.exp(t / beta) - 1.0).mean()
