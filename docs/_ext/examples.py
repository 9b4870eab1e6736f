"""A griffe extension: the docstrings' `Example:` blocks, as Google-style `Examples` sections.

kdataset's docstrings end with an example that runs as a doctest: a line `Example:`, a blank
line, then the `>>>` lines at the docstring's margin, not indented under the heading (doctest
and a reader of the source do not need it to be). Griffe's Google parser takes such a block
for plain Markdown, where `>>>` is a nested quote. This extension indents a final `Example:`
block under its heading, in the copy of the docstring the reference renders, so griffe splits
it into prose and `pycon` code. The source is not changed. Loaded by mkdocs.yml
(`extensions:`); like the rest of the build, it only reads what griffe parsed statically.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADING = re.compile(r"^Examples?:\s*$")
# A Google-style section heading at the docstring's left margin ("Args:", "Raises:", ...).
_SECTION = re.compile(r"^[A-Z][A-Za-z]*( [A-Za-z]+)?:\s*$")


def indent_final_example(text: str) -> str:
    """Indents an unindented last `Example:` block under its heading, as `Examples:`.

    Args:
        text: A docstring, dedented.

    Returns:
        The docstring, with the example as a section's body; unchanged when it has no
        such block or when another section follows the example.

    Example:

    >>> indent_final_example("Sums.\\n\\nExample:\\n\\n>>> 1 + 1\\n2")
    'Sums.\\n\\nExamples:\\n    >>> 1 + 1\\n    2'
    """
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not _HEADING.match(line):
            continue
        body = lines[i + 1 :]
        while body and not body[0].strip():
            body = body[1:]
        if not body or body[0].startswith((" ", "\t")) or any(map(_SECTION.match, body)):
            return text
        indented = [f"    {b}" if b.strip() else "" for b in body]
        return "\n".join([*lines[:i], "Examples:", *indented])
    return text


class ExamplesAsSections(griffe.Extension):
    """Rewrites each object's docstring with `indent_final_example`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = indent_final_example(obj.docstring.value)
