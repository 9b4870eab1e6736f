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
    "ManifestDataset": "kdataset.training.dataset",
    "DataGenerator": "kdataset.training.compat",
    "LabelEncoder": "kdataset.labels.encoding",
    "class_weights": "kdataset.labels.encoding",
    "sample_weights": "kdataset.labels.encoding",
    "validate_manifest": "kdataset.tools.validate",
    "label_stats": "kdataset.tools.stats",
    "LabelStats": "kdataset.tools.stats",
    "split_manifest": "kdataset.tools.split",
    "build_manifest": "kdataset.tools.build",
    "build_cache": "kdataset.tools.cache",
    "CacheReport": "kdataset.tools.cache",
    "write_report": "kdataset.tools.report.writing",
    "DataReport": "kdataset.tools.report.writing",
    "DuplicateGroup": "kdataset.tools.report.writing",
    "NearDuplicate": "kdataset.tools.report.writing",
    "SampleRef": "kdataset.tools.report.writing",
    "CacheWarning": "kdataset.io.cache",
    "ResumeCheckpoint": "kdataset.training.resume",
    "fit_resumable": "kdataset.training.resume",
    "SkippedSamplesWarning": "kdataset.training.dataset",
    "KerasDrivingWarning": "kdataset.training.driving",
    "SplitWarning": "kdataset.tools.split",
    "Loader": "kdataset.loading.loaders",
    "NpyLoader": "kdataset.loading.loaders",
    "ImageLoader": "kdataset.loading.loaders",
    "MaskLoader": "kdataset.loading.loaders",
    "Files": "kdataset.labels.fields",
    "Numbers": "kdataset.labels.fields",
    "Labels": "kdataset.labels.fields",
    "FunctionLoader": "kdataset.loading.loaders",
    "Manifest": "kdataset.io.manifest",
    "epoch_order": "kdataset.core.order",
    "IdDigest": "kdataset.core.audit",
    "id_hashes": "kdataset.core.audit",
    "ManifestError": "kdataset.errors",
    "SampleError": "kdataset.errors",
    "Problem": "kdataset.errors",
}

# Modules that import neither Keras nor a backend when imported.
_KERAS_FREE = frozenset(
    {
        "kdataset.core.audit",
        "kdataset.tools.build",
        "kdataset.tools.cache",
        "kdataset.tools.report.writing",
        "kdataset.io.cache",
        "kdataset.training.driving",
        "kdataset.errors",
        "kdataset.labels.fields",
        "kdataset.labels.encoding",
        "kdataset.loading.loaders",
        "kdataset.io.manifest",
        "kdataset.core.order",
        "kdataset.tools.split",
        "kdataset.tools.stats",
        "kdataset.tools.validate",
    }
)
# The backends kdataset has an extra for: `pip install "kdataset[jax]"`.
_BACKENDS = ("jax", "tensorflow", "torch")
_KERAS_BACKENDS = (*_BACKENDS, "numpy", "openvino")

__all__ = ["BackendError", "__version__", *_EXPORTS]

if TYPE_CHECKING:
    # What type checkers see: every lazily exported name with its real type. `X as X`
    # marks each as re-exported (`__all__` is built at run time, so they cannot read it).
    from kdataset.core.audit import IdDigest as IdDigest
    from kdataset.core.audit import id_hashes as id_hashes
    from kdataset.core.order import epoch_order as epoch_order
    from kdataset.errors import ManifestError as ManifestError
    from kdataset.errors import Problem as Problem
    from kdataset.errors import SampleError as SampleError
    from kdataset.io.cache import CacheWarning as CacheWarning
    from kdataset.io.manifest import Manifest as Manifest
    from kdataset.labels.encoding import LabelEncoder as LabelEncoder
    from kdataset.labels.encoding import class_weights as class_weights
    from kdataset.labels.encoding import sample_weights as sample_weights
    from kdataset.labels.fields import Files as Files
    from kdataset.labels.fields import Labels as Labels
    from kdataset.labels.fields import Numbers as Numbers
    from kdataset.loading.loaders import FunctionLoader as FunctionLoader
    from kdataset.loading.loaders import ImageLoader as ImageLoader
    from kdataset.loading.loaders import Loader as Loader
    from kdataset.loading.loaders import MaskLoader as MaskLoader
    from kdataset.loading.loaders import NpyLoader as NpyLoader
    from kdataset.tools.build import build_manifest as build_manifest
    from kdataset.tools.cache import CacheReport as CacheReport
    from kdataset.tools.cache import build_cache as build_cache
    from kdataset.tools.report.writing import DataReport as DataReport
    from kdataset.tools.report.writing import DuplicateGroup as DuplicateGroup
    from kdataset.tools.report.writing import NearDuplicate as NearDuplicate
    from kdataset.tools.report.writing import SampleRef as SampleRef
    from kdataset.tools.report.writing import write_report as write_report
    from kdataset.tools.split import SplitWarning as SplitWarning
    from kdataset.tools.split import split_manifest as split_manifest
    from kdataset.tools.stats import LabelStats as LabelStats
    from kdataset.tools.stats import label_stats as label_stats
    from kdataset.tools.validate import validate_manifest as validate_manifest
    from kdataset.training.compat import DataGenerator as DataGenerator
    from kdataset.training.dataset import ManifestDataset as ManifestDataset
    from kdataset.training.dataset import SkippedSamplesWarning as SkippedSamplesWarning
    from kdataset.training.driving import KerasDrivingWarning as KerasDrivingWarning
    from kdataset.training.resume import ResumeCheckpoint as ResumeCheckpoint
    from kdataset.training.resume import fit_resumable as fit_resumable


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


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _keras_config_path() -> str:
    """The `keras.json` Keras reads: in `$KERAS_HOME`, else `~/.keras` (or `/tmp/.keras`)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return os.path.expanduser(os.path.join(home, "keras.json"))


def _configured_backend() -> tuple[str, str]:
    """`(backend, where it was set)`, decided as `keras/src/backend/config.py` does."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "set by the `KERAS_BACKEND` environment variable"
    path = _keras_config_path()
    try:
        with open(path) as f:
            return str(json.load(f)["backend"]), f"set in {path}"
    except (OSError, ValueError, TypeError, KeyError):
        return "tensorflow", f"Keras's default: neither `KERAS_BACKEND` nor {path} names one"


def _backend_message(backend: str, where: str) -> str:
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


def _import_keras() -> None:
    """Imports Keras; raises `BackendError` if its backend is not installed."""
    try:
        import keras
    except (ImportError, ValueError):
        backend, where = _configured_backend()
        if _installed(backend) or not _installed("keras"):
            raise
        raise BackendError(_backend_message(backend, where)) from None


if not TYPE_CHECKING:
    # Hidden from type checkers, which see the imports above: for them, as at run time,
    # a name not exported is an error, not a value of any type.

    def __getattr__(name: str) -> object:
        """Imports a public name on first use (and Keras first, if it needs Keras)."""
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'kdataset' has no attribute {name!r}")
        if module not in _KERAS_FREE:
            _import_keras()
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(__all__)
