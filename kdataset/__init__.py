"""kdataset: a CSV manifest as a Keras 3 `PyDataset`, on JAX, TensorFlow and PyTorch.

Public names are imported lazily, so `import kdataset` (and the `kdataset`
command, and worker processes) do not import Keras or a backend until a name
that needs them is used. If Keras is set to a backend that is not installed,
that first use raises `BackendError`, saying how to fix it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
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
    "build_manifest": "kdataset.build",
    "ResumeCheckpoint": "kdataset.resume",
    "fit_resumable": "kdataset.resume",
    "SkippedSamplesWarning": "kdataset.dataset",
    "KerasDrivingWarning": "kdataset.driving",
    "SplitWarning": "kdataset.split",
    "Loader": "kdataset.loaders",
    "NpyLoader": "kdataset.loaders",
    "ImageLoader": "kdataset.loaders",
    "MaskLoader": "kdataset.loaders",
    "Files": "kdataset.fields",
    "Numbers": "kdataset.fields",
    "Labels": "kdataset.fields",
    "FunctionLoader": "kdataset.loaders",
    "Manifest": "kdataset.manifest",
    "epoch_order": "kdataset.order",
    "IdDigest": "kdataset.audit",
    "id_hashes": "kdataset.audit",
    "ManifestError": "kdataset.errors",
    "SampleError": "kdataset.errors",
    "Problem": "kdataset.errors",
}

# Modules that import neither Keras nor a backend when imported.
_KERAS_FREE = frozenset(
    {
        "kdataset.audit",
        "kdataset.build",
        "kdataset.driving",
        "kdataset.errors",
        "kdataset.fields",
        "kdataset.labels",
        "kdataset.loaders",
        "kdataset.manifest",
        "kdataset.order",
        "kdataset.split",
        "kdataset.stats",
        "kdataset.validate",
    }
)
# The backends kdataset has an extra for: `pip install "kdataset[jax]"`.
_BACKENDS = ("jax", "tensorflow", "torch")
_KERAS_BACKENDS = (*_BACKENDS, "numpy", "openvino")

__all__ = ["BackendError", "__version__", *_EXPORTS]

if TYPE_CHECKING:
    from kdataset.audit import IdDigest, id_hashes
    from kdataset.build import build_manifest
    from kdataset.compat import DataGenerator
    from kdataset.dataset import ManifestDataset, SkippedSamplesWarning
    from kdataset.driving import KerasDrivingWarning
    from kdataset.errors import ManifestError, Problem, SampleError
    from kdataset.fields import Files, Labels, Numbers
    from kdataset.labels import LabelEncoder, class_weights, sample_weights
    from kdataset.loaders import FunctionLoader, ImageLoader, Loader, MaskLoader, NpyLoader
    from kdataset.manifest import Manifest
    from kdataset.order import epoch_order
    from kdataset.resume import ResumeCheckpoint, fit_resumable
    from kdataset.split import SplitWarning, split_manifest
    from kdataset.stats import LabelStats, label_stats
    from kdataset.validate import validate_manifest


class BackendError(ImportError):
    """Keras is set to a backend that is not installed.

    Raised on the first use of a name that needs Keras (`ManifestDataset`, say),
    in place of the error Keras raises deep in its own import. The message says
    which backend was asked for and where (the `KERAS_BACKEND` environment
    variable or the `keras.json` file), the `pip install "kdataset[...]"` that
    installs it, and which backends are installed.

    Example:

    >>> import kdataset
    >>> try:
    ...     dataset_class = kdataset.ManifestDataset
    ... except kdataset.BackendError as e:  # KERAS_BACKEND names a missing backend
    ...     print(e)
    """


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _keras_config_path():
    """The `keras.json` Keras reads: in `$KERAS_HOME`, else `~/.keras` (or `/tmp/.keras`)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return os.path.expanduser(os.path.join(home, "keras.json"))


def _configured_backend():
    """`(backend, where it was set)`, decided as `keras/src/backend/config.py` does."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "set by the `KERAS_BACKEND` environment variable"
    path = _keras_config_path()
    try:
        with open(path) as f:
            return json.load(f)["backend"], f"set in {path}"
    except (OSError, ValueError, TypeError, KeyError):
        return "tensorflow", f"Keras's default: neither `KERAS_BACKEND` nor {path} names one"


def _backend_message(backend, where):
    installed = " or ".join(f"KERAS_BACKEND={b}" for b in _BACKENDS if _installed(b))
    if backend in _KERAS_BACKENDS:
        package = f'"kdataset[{backend}]"' if backend in _BACKENDS else backend
        cpu = " (it installs tensorflow-cpu)" if backend == "tensorflow" else ""
        fix = f"it is not installed. Install it with `pip install {package}`{cpu}"
        use = f", or use an installed one: {installed}" if installed else ""
    else:
        fix = f"Keras has no backend of that name (it has {', '.join(map(repr, _BACKENDS))})"
        use = f". Use an installed one: {installed}" if installed else ""
    return f"Keras cannot load the backend {backend!r} ({where}): {fix}{use}."


def _import_keras():
    """Imports Keras; raises `BackendError` if its backend is not installed."""
    try:
        import keras
    except (ImportError, ValueError):
        backend, where = _configured_backend()
        if _installed(backend) or not _installed("keras"):
            raise
        raise BackendError(_backend_message(backend, where)) from None


def __getattr__(name):
    """Imports a public name on first use (and Keras first, if it needs Keras)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kdataset' has no attribute {name!r}")
    if module not in _KERAS_FREE:
        _import_keras()
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
