"""The house's rules that no linter knows: no private name crosses from one module to another.

The layers, the absence of import cycles and "only the Keras face imports
Keras" are import-linter contracts (pyproject.toml, run by `tox -e lint`).
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "kdataset")


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for file in sorted(files):
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                name = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
                yield name.removesuffix(".__init__"), path


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_names_crossing(source, module):
    """`(line, what)` for each private name `source` (the text of `module`) takes from
    another kdataset module: `from kdataset.x import _y`, `x._y` on an imported kdataset
    module. A private C module (`_fastread`) may be imported within its own package."""
    found = []
    package = module.rsplit(".", 1)[0]
    imported = {}  # local name -> kdataset module it stands for
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("kdataset"):
                continue
            parts = node.module.split(".")
            if any(_private(p) for p in parts) and node.module.rsplit(".", 1)[0] != package:
                found.append((node.lineno, node.module))
            for alias in node.names:
                # `from kdataset.loading import _fastread` in kdataset.loading: its own.
                if _private(alias.name) and node.module != package:
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kdataset"):
                    imported[alias.asname or alias.name.split(".")[0]] = alias.name
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported
        ):
            found.append((node.lineno, f"{imported[node.value.id]}.{node.attr}"))
    return found


def test_no_private_name_crosses_modules():
    crossing = {}
    for module, path in _modules():
        with open(path) as f:
            found = private_names_crossing(f.read(), module)
        if found:
            crossing[module] = found
    assert not crossing, f"private names taken from other modules: {crossing}"


def test_the_check_finds_a_private_name_taken_from_another_module():
    # The check itself can fail: each of these crosses.
    assert private_names_crossing("from kdataset.io.manifest import _absolute\n", "kdataset.a.b")
    assert private_names_crossing(
        "from kdataset.loading import loaders\nloaders._read_header(f)\n", "kdataset.io.storage"
    )
    assert private_names_crossing(
        "from kdataset.loading._fastread import missing\n", "kdataset.io.manifest"
    )
    # Within its own package, a private C module is the package's own.
    assert not private_names_crossing(
        "from kdataset.loading._fastread import missing\n", "kdataset.loading.parallel"
    )
    assert not private_names_crossing("from kdataset.errors import check_int\n", "kdataset.x.y")
