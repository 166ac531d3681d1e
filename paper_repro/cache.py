"""Results kept in OUT as they are computed, so that an interrupted run resumes point by point
(robustness, chip-budget, spice-layer, spice-chips)."""
import hashlib
import json
import os


def cached(path, key, compute):
    """compute() once: its result is kept in ``path`` (JSON) with ``key``, and reused while the key is
    the same (so an interrupted run resumes point by point)."""
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved.get("key") == key:
            return saved["value"]
    value = compute()
    with open(path + ".tmp", "w") as f:
        json.dump(dict(key=key, value=value), f)
    os.replace(path + ".tmp", path)
    return value


def digest(*arrays):
    """A short hex digest of tensors' float64 values (a cache key that changes with the inputs)."""
    h = hashlib.sha1()
    for a in arrays:
        h.update(a.detach().double().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
