"""Data for the classification experiments: Fashion-MNIST, CIFAR-10, CIFAR-10 augmentation, Yin-Yang.

Both loaders return a :class:`Split` (x_train, y_train, x_test, y_test): images as float32
tensors [N, C, H, W] with values in [0, 1] (pixel / 255) and int64 labels [N].  Each pixel
channel later becomes one input spike at t = 1 - x (models.encode).

* Fashion-MNIST: the four idx files (``train-images-idx3-ubyte.gz`` ...), as shipped by the
  Debian package dataset-fashion-mnist in /usr/share/datasets/fashion-mnist.
* CIFAR-10: the standard python-pickle batches (``cifar-10-batches-py/data_batch_1..5``,
  ``test_batch``) in ROOT or ROOT/cifar-10-batches-py; the tarball ``cifar-10-python.tar.gz`` in
  ROOT is extracted on first use; with ``download=True`` torchvision (if installed) fetches it.
* Yin-Yang: generated from its published definition (:func:`yin_yang`), the very sets of the
  reference generator; no download.
* digits: scikit-learn's 8x8 handwritten digits (shipped with it; no download), split once into
  training / validation / test sets (:func:`load_digits`).
"""
import gzip
import math
import os
import pickle
import struct
import tarfile
from typing import NamedTuple, Optional

import numpy as np
import torch
import torch.nn.functional as F

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = dict(x_train="train-images-idx3-ubyte", y_train="train-labels-idx1-ubyte",
                           x_test="t10k-images-idx3-ubyte", y_test="t10k-labels-idx1-ubyte")
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST = "test_batch"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


class Split(NamedTuple):
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_val: Optional[torch.Tensor] = None     # held out of the training images (classify_data.hold_out)
    y_val: Optional[torch.Tensor] = None


# ---------------------------------------------------------------------------- Fashion-MNIST
def read_idx(path):
    """An idx file (optionally gzipped) as a numpy array: big-endian header, magic 0x00 0x00 type ndim,
    then ndim uint32 sizes, then the data (type 0x08 = uint8, the only type Fashion-MNIST uses)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an idx file (bad magic number)")
    dtype, ndim = data[2], data[3]
    if dtype != 0x08:
        raise ValueError(f"{path}: idx data type 0x{dtype:02x} not supported (expected 0x08, unsigned byte)")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but the file holds {body.size} values")
    return body.reshape(shape)


def _find_idx(root, name):
    for candidate in (name + ".gz", name):
        path = os.path.join(root, candidate)
        if os.path.exists(path):
            return path
    return None


def load_fashion_mnist(root=None):
    """Fashion-MNIST from ROOT (default /usr/share/datasets/fashion-mnist): a :class:`Split` with
    x [N, 1, 28, 28] float32 in [0, 1] and y [N] int64 (60000 training, 10000 test images)."""
    root = root or FASHION_MNIST_DIR
    paths = {k: _find_idx(root, name) for k, name in FASHION_MNIST_FILES.items()}
    missing = [FASHION_MNIST_FILES[k] + ".gz" for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {root!r} (missing {', '.join(missing)}). Install it with "
            f"`sudo apt-get install dataset-fashion-mnist` (files land in {FASHION_MNIST_DIR}), or download the "
            "four idx .gz files from https://github.com/zalandoresearch/fashion-mnist and pass --data DIR.")
    arrays = {k: read_idx(p) for k, p in paths.items()}
    out = {}
    for part in ("train", "test"):
        x, y = arrays["x_" + part], arrays["y_" + part]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"Fashion-MNIST {part}: images {x.shape} and labels {y.shape} do not match")
        out["x_" + part] = torch.from_numpy(x.copy()).unsqueeze(1).float().div_(255.0)
        out["y_" + part] = torch.from_numpy(y.astype(np.int64))
    return Split(**out)


# ---------------------------------------------------------------------------- CIFAR-10
def _cifar_dir(root):
    """The folder holding the pickle batches, or None."""
    for d in (os.path.join(root, CIFAR10_FOLDER), root):
        if all(os.path.exists(os.path.join(d, n)) for n in CIFAR10_TRAIN + [CIFAR10_TEST]):
            return d
    return None


def _read_cifar_batch(path):
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    data = d.get(b"data", d.get("data"))
    labels = d.get(b"labels", d.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: not a CIFAR-10 python batch (no 'data'/'labels' entries)")
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != len(labels):
        raise ValueError(f"{path}: expected data [N, 3072] and N labels, got {data.shape} and {len(labels)}")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar10(root, download=False):
    """CIFAR-10 from its python-pickle batches in ROOT or ROOT/cifar-10-batches-py: a :class:`Split`
    with x [N, 3, 32, 32] float32 in [0, 1] (rows R, G, B planes as stored) and y [N] int64.
    A ``cifar-10-python.tar.gz`` in ROOT is extracted first; ``download=True`` lets torchvision fetch it."""
    root = os.fspath(root)
    d = _cifar_dir(root)
    tarball = os.path.join(root, "cifar-10-python.tar.gz")
    if d is None and os.path.exists(tarball):
        with tarfile.open(tarball) as tar:
            try:
                tar.extractall(root, filter="data")
            except TypeError:  # Python without extraction filters (< 3.10.12)
                tar.extractall(root)
        d = _cifar_dir(root)
    if d is None and download:
        try:
            import torchvision
        except ImportError:
            torchvision = None
        if torchvision is not None:
            torchvision.datasets.CIFAR10(root, train=True, download=True)
            d = _cifar_dir(root)
    if d is None:
        raise FileNotFoundError(
            f"CIFAR-10 not found in {root!r}: expected {CIFAR10_FOLDER}/{{{','.join(CIFAR10_TRAIN)},{CIFAR10_TEST}}} "
            f"there. Download the python version ({CIFAR10_URL}) and extract it into that folder (or put the "
            "tarball there), or install torchvision and let it download; then pass --data DIR.")
    parts = [_read_cifar_batch(os.path.join(d, n)) for n in CIFAR10_TRAIN]
    xt, yt = _read_cifar_batch(os.path.join(d, CIFAR10_TEST))
    f = lambda x: torch.from_numpy(x.copy()).float().div_(255.0)
    return Split(f(np.concatenate([p[0] for p in parts])), torch.from_numpy(np.concatenate([p[1] for p in parts])),
                 f(xt), torch.from_numpy(yt))


# ---------------------------------------------------------------------------- augmentation
def augment(x, generator=None, flip=0.5, degrees=15.0, padding=4):
    """CIFAR-10 augmentation on a batch x [B, C, H, W] (any device), pure torch, one draw per image:
    random horizontal flip (probability ``flip``), rotation by an angle uniform in
    [-degrees, degrees] (bilinear, zero fill), then a random crop of the original size from the
    image zero-padded by ``padding`` pixels.  Zero fill is black, i.e. no input spike.
    ``generator``: a CPU torch.Generator for reproducible draws (default: the global RNG)."""
    if x.dim() != 4:
        raise ValueError(f"augment expects images [B, C, H, W], got {tuple(x.shape)}")
    B, C, H, W = x.shape
    draw = lambda *shape: torch.rand(*shape, generator=generator)
    do_flip, angle = draw(B) < flip, (2 * draw(B) - 1) * degrees
    oy = (draw(B) * (2 * padding + 1)).long().clamp_(max=2 * padding)
    ox = (draw(B) * (2 * padding + 1)).long().clamp_(max=2 * padding)
    dev = x.device
    x = torch.where(do_flip.to(dev).view(B, 1, 1, 1), x.flip(3), x)
    if degrees > 0:
        a = torch.deg2rad(angle).to(dev, x.dtype)
        cos, sin, zero = a.cos(), a.sin(), torch.zeros_like(a)
        # normalised coordinates; the aspect ratio keeps the rotation rigid for non-square images
        theta = torch.stack([torch.stack([cos, -sin * H / W, zero], 1), torch.stack([sin * W / H, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, (B, C, H, W), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if padding > 0:
        xp = F.pad(x, (padding,) * 4)
        rows = (oy.to(dev).view(B, 1) + torch.arange(H, device=dev)).view(B, 1, H, 1)
        cols = (ox.to(dev).view(B, 1) + torch.arange(W, device=dev)).view(B, 1, 1, W)
        x = xp[torch.arange(B, device=dev).view(B, 1, 1, 1), torch.arange(C, device=dev).view(1, C, 1, 1), rows, cols]
    return x.contiguous()


# ---------------------------------------------------------------------------- Yin-Yang
# The published data set (Kriener, Goeltz and Petrovici 2022): points of the unit square inside the
# circle of radius R_BIG about (0.5, 0.5), three classes (0, 1, 2 = the dots) in equal proportion.
YIN_YANG_SEEDS = dict(train=42, validation=41, test=40)
YIN_YANG_SIZES = dict(train=5000, validation=1000, test=1000)


def yin_yang_class(x, y, r_small=0.1, r_big=0.5):
    """The class of the point (x, y): 2 inside either dot (radius r_small about (0.75, 0.5) and
    (0.25, 0.5) for r_big = 0.5), else 1 where it lies in the right dot's ring, in the left half-disc's
    inner region outside its dot, or above the centre line outside the right half-disc, else 0."""
    d_right = math.sqrt((x - 1.5 * r_big) ** 2 + (y - r_big) ** 2)
    d_left = math.sqrt((x - 0.5 * r_big) ** 2 + (y - r_big) ** 2)
    if d_right < r_small or d_left < r_small:
        return 2
    return int(d_right <= r_small or r_small < d_left <= 0.5 * r_big or (y > r_big and d_right > 0.5 * r_big))


def yin_yang(size, seed, r_small=0.1, r_big=0.5):
    """(x [size, 4] float64 = (x, y, 1 - x, 1 - y), labels [size] int64) drawn as the published
    generator draws them, from numpy's legacy RandomState(seed): per sample first the class (an
    integer in 0..2), then points 2 r_big U(0, 1)^2 until one lies inside the circle and has that class
    (rejection sampling keeps the classes balanced). The same seed gives the same set, point for point."""
    rng = np.random.RandomState(int(seed))
    out = np.empty((int(size), 4))
    labels = np.empty(int(size), dtype=np.int64)
    for i in range(int(size)):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if math.sqrt((x - r_big) ** 2 + (y - r_big) ** 2) <= r_big and yin_yang_class(x, y, r_small, r_big) == goal:
                break
        out[i] = (x, y, 1.0 - x, 1.0 - y)
        labels[i] = goal
    return torch.from_numpy(out), torch.from_numpy(labels)


def load_yin_yang(train=None, validation=None, test=None):
    """The Yin-Yang :class:`Split`: 5,000 / 1,000 / 1,000 samples (or the sizes given) from seeds 42 / 41 /
    40, each sample (x, y, 1 - x, 1 - y) and a bias input of intensity 1 (a spike at t = 0), as
    float32 [N, 1, 1, 5]."""
    sizes = dict(YIN_YANG_SIZES, **{k: v for k, v in dict(train=train, validation=validation, test=test).items()
                                    if v is not None})
    parts = {}
    for part, seed in YIN_YANG_SEEDS.items():
        x, y = yin_yang(sizes[part], seed)
        x = torch.cat([x, torch.ones_like(x[:, :1])], 1).float().reshape(-1, 1, 1, 5)
        parts[part] = (x, y)
    return Split(*parts["train"], *parts["test"], *parts["validation"])


# ---------------------------------------------------------------------------- digits
DIGITS_SIZES = dict(validation=300, test=300)     # the rest (1197 of 1797) trains
DIGITS_SEED = 0


def load_digits():
    """scikit-learn's digits (1797 images of 8x8 pixels, values 0-16) as a :class:`Split` with x [N, 1, 8, 8]
    float32 = pixel / 16 in [0, 1] and y [N] int64, split by one fixed permutation (numpy
    RandomState(DIGITS_SEED)): 1197 training, 300 validation, 300 test images."""
    from sklearn.datasets import load_digits as sk_digits
    d = sk_digits()
    x = torch.from_numpy(d.images / 16.0).float().reshape(-1, 1, 8, 8)
    y = torch.from_numpy(d.target.astype(np.int64))
    order = torch.from_numpy(np.random.RandomState(DIGITS_SEED).permutation(len(y)))
    n_val, n_test = DIGITS_SIZES["validation"], DIGITS_SIZES["test"]
    val, test, train = order[:n_val], order[n_val:n_val + n_test], order[n_val + n_test:]
    return Split(x[train], y[train], x[test], y[test], x[val], y[val])
