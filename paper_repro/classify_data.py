"""The images an image-classification experiment trains and tests on: Fashion-MNIST or CIFAR-10
(paper_repro.data's loaders), a fixed random subset of them (cfg train_limit, test_limit) and the
held-out validation images (--val)."""
import torch

from .data import Split, load_cifar10, load_digits, load_fashion_mnist, load_yin_yang

CIFAR10_DIR = "data/cifar10"


def subset(split, n_train=None, n_test=None, seed=0):
    """A fixed random subset (the same for every run with this seed) of the training / test sets."""
    g = torch.Generator().manual_seed(seed)
    pick = lambda x, y, n: (x, y) if n is None or n >= len(y) else (lambda i: (x[i], y[i]))(
        torch.randperm(len(y), generator=g)[:n])
    return Split(*pick(split.x_train, split.y_train, n_train), *pick(split.x_test, split.y_test, n_test))


def hold_out(split, n_val, seed=0):
    """Move ``n_val`` training images (a random choice fixed by ``seed``) into a validation set: what
    recipes and hyper-parameters are chosen on, never the test set."""
    if n_val <= 0:
        return split
    n = len(split.y_train)
    if n_val >= n:
        raise SystemExit(f"error: --val {n_val} leaves no training images (the training set has {n})")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(10007 * seed + 1))
    keep, val = order[n_val:].sort().values, order[:n_val].sort().values
    return Split(split.x_train[keep], split.y_train[keep], split.x_test, split.y_test,
                 split.x_train[val], split.y_train[val])


def load_data(dataset, args, cfg):
    """The Split an experiment trains on: Fashion-MNIST or CIFAR-10 (cfg's limits and --val applied),
    Yin-Yang (generated; its own validation set; train_limit / test_limit take the first samples of
    the published sets) or digits (scikit-learn's; its own validation set)."""
    if dataset == "yin-yang":
        return load_yin_yang(train=cfg["train_limit"], test=cfg["test_limit"])
    if dataset == "digits":           # its own validation set; the limits take a fixed random subset
        d = load_digits()
        small = subset(d, cfg["train_limit"], cfg["test_limit"], seed=getattr(args, "seed", 0))
        return small._replace(x_val=d.x_val, y_val=d.y_val)
    root = getattr(args, "data", None)
    if dataset not in ("fashion-mnist", "cifar10"):
        raise ValueError(f"unknown dataset {dataset!r}")
    try:
        split = load_fashion_mnist(root) if dataset == "fashion-mnist" else load_cifar10(root or CIFAR10_DIR)
    except FileNotFoundError as e:
        raise SystemExit(f"error: {e}") from None
    seed = getattr(args, "seed", 0)
    return hold_out(subset(split, cfg["train_limit"], cfg["test_limit"], seed=seed), cfg["val"], seed)
