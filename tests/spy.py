"""Loaders for worker-process tests, in a module that imports neither Keras nor a backend."""

import os
import sys

import numpy as np

from kdataset.loading.loaders import NpyLoader


class BackendSpy:
    """Loads a sample and notes whether Keras or a backend was imported in this process."""

    def __call__(self, path):
        imported = any(m in sys.modules for m in ("keras", "jax", "tensorflow", "torch"))
        return np.array([np.load(path)[0], float(imported), os.getpid()])


class HeldNpyLoader(NpyLoader):
    """`kd.NpyLoader` as if it held the GIL: `use_multiprocessing=True` then loads in processes.

    (The real one works outside the GIL, so the dataset loads it in threads.)
    """

    releases_gil = False


# Two worker processes loading .npy files, for tests of the process machinery.
PROCESSES = {"workers": 2, "use_multiprocessing": True, "loader": HeldNpyLoader()}
