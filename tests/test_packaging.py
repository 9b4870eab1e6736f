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


def _type_checking(node):
    """Whether `node` is `if TYPE_CHECKING:`, whose imports only type checkers run."""
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported_packages():
    """`{top-level name: lazily}` of the third-party modules kdataset's own code imports:
    `lazily` when every import of it is inside a function (not when the module loads)."""
    names = {}
    files = [
        os.path.join(folder, file)
        for folder, _, entries in os.walk(os.path.join(ROOT, "kdataset"))
        for file in entries
    ]
    for path in files:
        if path.endswith(".py"):
            with open(path) as f:
                tree = ast.parse(f.read())
            at_load = {id(node) for node in tree.body}
            at_load |= {
                id(n)
                for node in tree.body
                if isinstance(node, ast.If | ast.Try) and not _type_checking(node)
                for n in ast.walk(node)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    found = [node.module.split(".")[0]]
                else:
                    continue
                for name in found:
                    names[name] = names.get(name, True) and id(node) not in at_load
    return {
        n: lazy for n, lazy in names.items() if n not in sys.stdlib_module_names and n != "kdataset"
    }


def test_every_imported_package_is_declared():
    # What the installed kdataset requires, as pyproject.toml declares it: the core for
    # what is imported when a module loads, an extra (`kdataset[cloud]`) at most for what
    # is imported only inside a function, when that feature is used.
    requires = importlib.metadata.requires("kdataset") or []
    core, extras = set(), set()
    for requirement in requires:
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()
        (extras if "extra ==" in requirement else core).add(name)
    distributions = importlib.metadata.packages_distributions()
    imported = _imported_packages()
    # A nightly build satisfies its release's requirement (the suite runs on keras-nightly).
    nightly = {f"{name}-nightly": name for name in core}
    assert imported, "no imports found"
    for name, lazy in imported.items():
        dists = {d.lower() for d in distributions.get(name, [name])}
        dists = {nightly.get(d, d) for d in dists}
        allowed = core | extras if lazy else core
        assert dists & allowed, f"kdataset imports {name!r} ({dists}) but does not declare it"


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
