"""Builds kdataset's optional C extensions; everything else is in pyproject.toml.

`kdataset.loading._fastread` reads a batch of `.npy` files with the GIL released, so
loader threads use every core. It is optional: where it cannot be compiled (no
C compiler, no POSIX `preadv`), the install goes on and kdataset reads the
same files in Python, slower. `kdataset.loading._imaging` resizes decoded images into
batches with the GIL released; without it, NumPy does the same arithmetic.
"""

import os

from setuptools import Extension, setup

ext_modules = [
    # Resizes decoded images into batches as tf.image.resize does, outside the GIL.
    Extension("kdataset.loading._imaging", ["kdataset/loading/_imaging.c"], optional=True),
]
if os.name == "posix":
    ext_modules.append(
        Extension("kdataset.loading._fastread", ["kdataset/loading/_fastread.c"], optional=True)
    )

setup(ext_modules=ext_modules)
