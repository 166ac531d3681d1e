"""paper_repro: the data loaders and augmentation (paper_repro/data.py): Fashion-MNIST idx, CIFAR-10 pickle batches.

Split from the former tests/test_paper_repro.py; fixtures in tests/conftest.py, helpers in
tests/paper_repro_support.py.
"""
import gzip
import os
import tarfile

import pytest
import torch

from paper_repro import data as D
from paper_repro.__main__ import main
from paper_repro_support import write_cifar10, write_fashion_mnist


def test_fashion_mnist_loader_reads_the_idx_format(tmp_path):
    arrays = write_fashion_mnist(str(tmp_path), n_train=30, n_test=12)
    split = D.load_fashion_mnist(str(tmp_path))
    assert split.x_train.shape == (30, 1, 28, 28) and split.x_test.shape == (12, 1, 28, 28)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    assert torch.equal(split.x_train[:, 0], torch.from_numpy(arrays["train"][0]).float() / 255)
    assert torch.equal(split.y_test, torch.from_numpy(arrays["t10k"][1]).long())


def test_fashion_mnist_missing_or_broken_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist.*--data DIR"):
        D.load_fashion_mnist(str(tmp_path / "nowhere"))
    write_fashion_mnist(str(tmp_path), n_train=5, n_test=5)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        D.load_fashion_mnist(str(tmp_path))
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x12\x34\x08\x01garbage")
    with pytest.raises(ValueError, match="not an idx file"):
        D.load_fashion_mnist(str(tmp_path))


def test_cifar10_loader_reads_the_pickle_batches(tmp_path):
    batches = write_cifar10(str(tmp_path), n_per_batch=7, n_test=5)
    for root in (tmp_path, tmp_path / "cifar-10-batches-py"):
        split = D.load_cifar10(str(root))
        assert split.x_train.shape == (35, 3, 32, 32) and split.x_test.shape == (5, 3, 32, 32)
        assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
        data, labels = batches["data_batch_2"]
        i, c, r, col = 3, 2, 5, 17                              # image 3 of batch 2: blue plane, row 5
        assert split.x_train[7 + i, c, r, col].item() == pytest.approx(data[i, c * 1024 + r * 32 + col] / 255)
        assert split.y_train[7:14].tolist() == labels
        assert split.y_test.tolist() == batches["test_batch"][1]


def test_cifar10_tarball_is_extracted_and_missing_data_is_a_clear_error(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_cifar10(str(src), n_per_batch=2, n_test=3)
    dst.mkdir()
    with tarfile.open(dst / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    assert D.load_cifar10(str(dst)).x_train.shape == (10, 3, 32, 32)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py.*cifar-10-python.tar.gz"):
        D.load_cifar10(str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match="CIFAR-10 not found"):    # the CLI says the same, without a traceback
        main(["cifar10", "--quick", "--out", str(tmp_path / "out"), "--data", str(tmp_path / "nowhere")])


def test_augmentation_is_seedable_and_does_flip_rotate_crop():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 32, 32)
    gen = lambda: torch.Generator().manual_seed(1)
    a, b = D.augment(x, gen()), D.augment(x, gen())
    assert torch.equal(a, b) and a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a, D.augment(x, torch.Generator().manual_seed(2)))
    assert torch.equal(D.augment(x, gen(), flip=1.0, degrees=0, padding=0), x.flip(3))
    assert torch.allclose(D.augment(x, gen(), flip=0.0, degrees=0, padding=0), x, atol=1e-6)
    # crop with padding 4: every image is a 32x32 window of the zero-padded original
    crop = D.augment(x, gen(), flip=0.0, degrees=0, padding=4)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    shifts = set()
    for k in range(len(x)):
        hits = [(dy, dx) for dy in range(9) for dx in range(9)
                if torch.allclose(crop[k], padded[k, :, dy:dy + 32, dx:dx + 32], atol=1e-6)]
        assert hits, f"image {k} is not a crop of the padded image"
        shifts.add(hits[0])
    assert len(shifts) > 1
    # rotation about the centre: a smooth image moves little there and more towards the edges
    i = torch.arange(32.0)
    smooth = (0.5 + 0.25 * torch.sin(i / 4).view(32, 1) + 0.25 * torch.cos(i / 5).view(1, 32)).expand(6, 3, 32, 32)
    rot = D.augment(smooth, gen(), flip=0.0, degrees=15, padding=0)
    assert not torch.allclose(rot, smooth, atol=1e-3)
    diff = (rot - smooth).abs()
    assert diff[:, :, 14:18, 14:18].mean() < diff[:, :, 4:28, 4:28].mean()
