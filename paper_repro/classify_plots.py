"""The plots of the image-classification experiments: training curves, an output spike raster, and
accuracy against a swept quantity."""
from .classify_eval import evaluation_label, output_times
from .common import pyplot, save_figure


def plot_curves(path, runs, evaluated="exact"):
    """Training loss and accuracy per epoch (test, evaluated by the method ``evaluated`` names
    (evaluation_label); dashed: training; dotted: validation, when the run held out a validation set);
    runs = {label: history}."""
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for label, hist in runs.items():
        ep = [h["epoch"] for h in hist]
        ax[0].plot(ep, [h["loss"] for h in hist], marker=".", label=label)
        (line,) = ax[1].plot(ep, [100 * h["test_acc"] for h in hist], marker=".", label=label)
        if hist and "train_acc" in hist[0]:
            ax[1].plot(ep, [100 * h["train_acc"] for h in hist], ls="--", color=line.get_color(), lw=0.8)
        if hist and "val_acc" in hist[0]:
            ax[1].plot(ep, [100 * h["val_acc"] for h in hist], ls=":", color=line.get_color(), lw=1.2)
    ax[0].set(xlabel="epoch", ylabel="training loss (DSTD)")
    val = any(h and "val_acc" in h[0] for h in runs.values())
    ax[1].set(xlabel="epoch", ylabel="accuracy (%)")
    ax[1].set_title(f"solid: test ({evaluated}), dashed: training" + (", dotted: validation" if val else ""),
                    fontsize=9)
    if len(runs) > 1:
        ax[1].legend(fontsize=7)
    save_figure(fig, path)


def plot_raster(path, net, cfg, x, y, rt, samples=8):
    """Output-layer spike times (the evaluation method) of the first few test samples: one row per output
    neuron, true class in red, the earliest spike (the prediction) circled."""
    t = output_times(net, cfg, x[:samples], rt).numpy()
    plt = pyplot()
    n = len(t)
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n + 1, 3.2), sharey=True, squeeze=False)
    for s, ax in enumerate(axes[0]):
        K = t.shape[1]
        colors = ["C3" if k == int(y[s]) else "0.4" for k in range(K)]
        ax.scatter(t[s], range(K), c=colors, marker="|", s=120)
        k = int(t[s].argmin())
        ax.scatter([t[s, k]], [k], facecolors="none", edgecolors="C0", s=80)
        ax.set(xlim=(-0.05, 1.05), title=f"label {int(y[s])}", xlabel="t")
        ax.set_yticks(range(K))
    axes[0][0].set_ylabel("output neuron")
    fig.suptitle(f"output spikes (firing phase, {evaluation_label(cfg)}); red: true class, circle: earliest",
                 fontsize=9)
    save_figure(fig, path)


def plot_sweep(path, xs, series, xlabel, logx=False, title=None):
    """Test accuracy (%) against a swept quantity; series = {label: [accuracy per x]}."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for label, ys in series.items():
        ax.plot(xs, [100 * y for y in ys], marker="o", label=label)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel="test accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
