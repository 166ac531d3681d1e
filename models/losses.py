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


def firing_penalty(t_in, weight, t_out, fired, gamma):
    """gamma_2 * Q (TTFS): for neurons that did not fire, Q sums the weights of the inputs that
    arrived inside the window; minimising -Q raises them until the neuron fires.
    Returned as -gamma * Q / batch so that it is added to the loss."""
    arrived = (t_in.unsqueeze(1) < t_out.unsqueeze(2)).to(weight.dtype)          # [B, out, in]
    q = (arrived * weight.unsqueeze(0)).sum(2)                                    # [B, out]
    return -gamma * (q * (~fired).to(q.dtype)).sum() / t_in.shape[0]


def ttfs_init_(weight, t_ref=3.2, e=1.53, w_star=2.0, depth=1):
    """The paper's TTFS initialisation: w ~ U[0, w_max / N_in],
    w_max = -4 w* L^2 ln(1 - beta) / (beta t_ref^2), beta = 1/|E| (L: layer depth factor)."""
    beta = 1.0 / abs(e)
    if not 0 < beta < 1:
        raise ValueError(f"ttfs_init_: needs |E| > 1, got {e}")
    w_max = -4 * w_star * depth ** 2 * torch.log1p(torch.tensor(-beta)).item() / (beta * t_ref ** 2)
    with torch.no_grad():
        return weight.uniform_(0.0, w_max / weight.shape[1])
