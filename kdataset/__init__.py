"""kdataset: a CSV manifest as a Keras 3 `PyDataset`, on JAX, TensorFlow and PyTorch.

Public names are imported lazily, so `import kdataset` (and the `kdataset`
command, and worker processes) do not import Keras or a backend until a name
that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "ManifestDataset": "kdataset.dataset",
    "DataGenerator": "kdataset.compat",
    "LabelEncoder": "kdataset.labels",
    "class_weights": "kdataset.labels",
    "sample_weights": "kdataset.labels",
    "validate_manifest": "kdataset.validate",
    "label_stats": "kdataset.stats",
    "LabelStats": "kdataset.stats",
    "split_manifest": "kdataset.split",
    "ResumeCheckpoint": "kdataset.resume",
    "fit_resumable": "kdataset.resume",
    "SkippedSamplesWarning": "kdataset.dataset",
    "SplitWarning": "kdataset.split",
    "Loader": "kdataset.loaders",
    "NpyLoader": "kdataset.loaders",
    "ImageLoader": "kdataset.loaders",
    "FunctionLoader": "kdataset.loaders",
    "Manifest": "kdataset.manifest",
    "epoch_order": "kdataset.order",
    "ManifestError": "kdataset.errors",
    "SampleError": "kdataset.errors",
    "Problem": "kdataset.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from kdataset.compat import DataGenerator
    from kdataset.dataset import ManifestDataset, SkippedSamplesWarning
    from kdataset.errors import ManifestError, Problem, SampleError
    from kdataset.labels import LabelEncoder, class_weights, sample_weights
    from kdataset.loaders import FunctionLoader, ImageLoader, Loader, NpyLoader
    from kdataset.manifest import Manifest
    from kdataset.order import epoch_order
    from kdataset.resume import ResumeCheckpoint, fit_resumable
    from kdataset.split import SplitWarning, split_manifest
    from kdataset.stats import LabelStats, label_stats
    from kdataset.validate import validate_manifest


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kdataset' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
