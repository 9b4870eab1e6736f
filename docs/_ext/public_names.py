"""An mkdocs hook: every public name of kdataset has a reference entry, through the package.

The public names are `kdataset.__all__`, read from `kdataset/__init__.py` with `ast` (nothing is
imported). The build fails when one has no `::: kdataset.Name` line in the pages, or when a page
documents a name by a module path inside kdataset (`::: kdataset.some_module.Name`): modules
move, the public names stay. Loaded by mkdocs.yml (`hooks:`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

_ENTRY = re.compile(r"^:::\s*(kdataset(?:\.[\w.]+)?)\s*$", re.MULTILINE)


def public_names(init: Path) -> list[str]:
    """The names in `__all__` of a package's `__init__.py`, without dunders.

    Args:
        init: Path to the `__init__.py`.

    Returns:
        The names, in `__all__`'s order. A starred element (`*_EXPORTS`) is expanded from the
        module-level literal it names (the keys, for a dict).

    Raises:
        PluginError: `__all__` is not a literal list of names and starred literals.
    """
    tree = ast.parse(init.read_text(encoding="utf-8"))
    literals = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                literals[target.id] = node.value
    if "__all__" not in literals or not isinstance(literals["__all__"], ast.List | ast.Tuple):
        raise PluginError(f"{init}: no literal `__all__` to list the public names from")
    names = []
    for element in literals["__all__"].elts:
        if isinstance(element, ast.Starred) and isinstance(element.value, ast.Name):
            names.extend(ast.literal_eval(literals[element.value.id]))
        else:
            names.append(ast.literal_eval(element))
    return [n for n in names if not (n.startswith("__") and n.endswith("__"))]


def on_pre_build(config: Any, **kwargs: Any) -> None:
    """Fails the build when a public name has no entry, or an entry names a module path."""
    docs = Path(config["docs_dir"])
    package = Path(config["config_file_path"]).parent / "kdataset"
    public = public_names(package / "__init__.py")
    entries = {}
    for page in sorted(docs.rglob("*.md")):
        for match in _ENTRY.finditer(page.read_text(encoding="utf-8")):
            entries.setdefault(match.group(1), page.relative_to(docs).as_posix())
    missing = [n for n in public if f"kdataset.{n}" not in entries]
    inside = {
        e: page
        for e, page in entries.items()
        if e != "kdataset" and e.removeprefix("kdataset.") not in public
    }
    problems = [f"`kdataset.{n}` is public but has no `::: kdataset.{n}` entry" for n in missing]
    problems += [
        f"{page}: `::: {e}` is not a public name: document `kdataset.<Name>` from `__all__`"
        for e, page in inside.items()
    ]
    if problems:
        raise PluginError("API reference:\n  - " + "\n  - ".join(problems))
