"""Builds kdataset's optional C reader; everything else is in pyproject.toml.

`kdataset._fastread` reads a batch of `.npy` files with the GIL released, so
loader threads use every core. It is optional: where it cannot be compiled (no
C compiler, no POSIX `preadv`), the install goes on and kdataset reads the
same files in Python, slower.
"""

import os

from setuptools import Extension, setup

ext_modules = []
if os.name == "posix":
    ext_modules.append(Extension("kdataset._fastread", ["kdataset/_fastread.c"], optional=True))

setup(ext_modules=ext_modules)
