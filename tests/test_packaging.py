"""What kdataset asks of the user's environment: its declared dependencies, and nothing more."""

import ast
import ctypes
import importlib.metadata
import os
import re
import sys

import numpy as np
import pandas as pd

import kdataset as kd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imported_packages():
    """Top-level names of the third-party modules kdataset's own code imports, anywhere."""
    names = set()
    folder = os.path.join(ROOT, "kdataset")
    for file in os.listdir(folder):
        if file.endswith(".py"):
            with open(os.path.join(folder, file)) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "kdataset"}


def test_every_imported_package_is_declared():
    # What the installed kdataset requires without extras, as pyproject.toml declares it.
    requires = importlib.metadata.requires("kdataset") or []
    declared = {
        re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requires if "extra ==" not in r
    }
    distributions = importlib.metadata.packages_distributions()
    imported = _imported_packages()
    assert imported, "no imports found"
    for name in imported:
        dists = {d.lower() for d in distributions.get(name, [name])}
        assert dists & declared, f"kdataset imports {name!r} ({dists}) but does not declare it"


def test_reading_a_large_manifest_leaves_the_allocator_alone(tmp_path, monkeypatch):
    # Handing freed memory back (glibc's malloc_trim) is the application's call.
    calls = []
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: calls.append(a))
    np.save(tmp_path / "x.npy", np.zeros(1, "float32"))
    rows = 100_001
    frame = pd.DataFrame({"id": range(rows), "label": ["a", "b"] * (rows // 2) + ["a"]})
    frame["path"] = "x.npy"
    frame.to_csv(tmp_path / "m.csv", index=False)
    ds = kd.ManifestDataset(tmp_path / "m.csv", batch_size=1000, label_mode="int")
    assert ds.num_samples == rows and not calls
