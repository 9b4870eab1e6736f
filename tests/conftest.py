"""Shared fixtures: real files in `tmp_path`, real pandas, real Keras."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest


def write_samples(folder, n, shape=(4,), dtype="float32", labels=None, ids=None, name="train.csv"):
    """Writes `n` `.npy` files whose values all equal the row number, and a manifest.

    Returns the manifest's path. Columns: `id` (zero-padded, so `0007`),
    `label` (by default `row % 3` as text: 'a', 'b', 'c') and `path` (relative).
    """
    folder = os.fspath(folder)
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    ids = [f"{i:04d}" for i in range(n)] if ids is None else list(ids)
    labels = [("a", "b", "c")[i % 3] for i in range(n)] if labels is None else list(labels)
    paths = []
    for i, sample_id in enumerate(ids):
        path = os.path.join("data", f"{sample_id}.npy")
        np.save(os.path.join(folder, path), np.full(shape, i, dtype=dtype))
        paths.append(path)
    manifest = os.path.join(folder, name)
    pd.DataFrame({"id": ids, "label": labels, "path": paths}).to_csv(manifest, index=False)
    return manifest


@pytest.fixture
def samples(tmp_path):
    """A factory: `samples(n, **kwargs)` writes files and a manifest, returns its path."""

    def make(n=10, **kwargs):
        return write_samples(tmp_path, n, **kwargs)

    return make


def row_of(x):
    """The row number each sample of a batch was written with (see `write_samples`)."""
    return np.asarray(x).reshape(len(x), -1)[:, 0].astype(int).tolist()
